"""What the network layer must remember across restarts (bans, Retry-After blocks, Dune's failed
executions), in one small JSON file under the cache directory, written atomically."""

from __future__ import annotations

import json
import logging
import os
import tempfile
import threading
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)


class NetState:
    """A JSON object of sections (``blocked_until``, ``dune_failed`` ...); each write replaces the file."""

    def __init__(self, path: Path | None):
        self.path = Path(path) if path is not None else None
        self._lock = threading.Lock()

    def read(self, section: str) -> dict[str, Any]:
        with self._lock:
            return dict(self._load().get(section) or {})

    def update(self, section: str, key: str, value: Any) -> None:
        """Set one entry (None removes it) and write the file atomically."""
        if self.path is None:
            return
        with self._lock:
            data = self._load()
            entries = data.setdefault(section, {})
            if value is None:
                entries.pop(key, None)
            else:
                entries[key] = value
            try:
                self.path.parent.mkdir(parents=True, exist_ok=True)
                fd, tmp = tempfile.mkstemp(dir=self.path.parent, prefix=".netstate-")
                with os.fdopen(fd, "w") as fh:
                    json.dump(data, fh, sort_keys=True)
                os.replace(tmp, self.path)
            except OSError as exc:  # memory still holds it; the next restart may ask once too early
                log.warning("could not save network state to %s: %s", self.path, exc)

    def _load(self) -> dict[str, Any]:
        if self.path is None:
            return {}
        try:
            data = json.loads(self.path.read_text())
        except FileNotFoundError:
            return {}
        except (OSError, ValueError) as exc:
            log.warning("ignoring unreadable network state %s: %s", self.path, exc)
            return {}
        return data if isinstance(data, dict) else {}
