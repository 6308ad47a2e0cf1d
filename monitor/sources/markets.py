"""ccxt plumbing that is not about data: pointing an exchange at a base URL, restricting which market
types it loads, and an on-disk cache of the few markets a poll needs (a full Binance spot list is
thousands of markets; we keep the handful we watch, for ``markets_cache_ttl``; an empty or unreadable
answer is a failure and never cached), and the funding terms seen at the last poll."""

from __future__ import annotations

import hashlib
import json
import logging
import os
import tempfile
import threading
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from monitor.errors import TransientSourceError

log = logging.getLogger(__name__)

CACHE_VERSION = 1


def rewrite_urls(node: Any, base_url: str) -> Any:
    """Every URL in ccxt's ``urls['api']`` (nested dicts too) with its scheme+host replaced by base_url.

    The path part is kept, so ``https://fapi.binance.com/futures/data`` becomes
    ``<base_url>/futures/data``. Placeholders such as ``{hostname}`` disappear with the host.
    """
    if isinstance(node, dict):
        return {k: rewrite_urls(v, base_url) for k, v in node.items()}
    if isinstance(node, str) and "://" in node:
        parts = urlsplit(node)
        rest = node.split("://", 1)[1][len(parts.netloc):]
        return base_url.rstrip("/") + rest
    return node


def iter_urls(node: Any) -> Iterator[str]:
    if isinstance(node, dict):
        for value in node.values():
            yield from iter_urls(value)
    elif isinstance(node, str) and "://" in node:
        yield node


def restrict_market_types(exchange: Any, types: list[str], extra: dict[str, Any] | None = None) -> None:
    """Load only these market types (ccxt >= 4.3 uses {'types': [...]}, 4.2 a plain list)."""
    current = exchange.options.get("fetchMarkets")
    if isinstance(current, dict):
        current["types"] = list(types)
    else:
        exchange.options["fetchMarkets"] = list(types)
    for key, value in (extra or {}).items():
        exchange.options[key] = value


class MarketsCache:
    """JSON file per venue holding the needed markets and when they were fetched."""

    def __init__(self, cache_dir: Path | str, venue: str, key_parts: list[str], ttl: timedelta):
        digest = hashlib.sha256("|".join(key_parts).encode()).hexdigest()[:12]
        self.path = Path(cache_dir) / f"markets-{venue}-{digest}.json"
        self.ttl = ttl

    def load(self, now: datetime) -> list[dict[str, Any]] | None:
        try:
            data = json.loads(self.path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return None
        if not isinstance(data, dict) or data.get("version") != CACHE_VERSION:
            return None
        try:
            fetched = datetime.fromisoformat(data["fetched_at"])
        except (KeyError, TypeError, ValueError):
            return None
        if now - fetched > self.ttl or not isinstance(data.get("markets"), list):
            return None
        markets: list[dict[str, Any]] = data["markets"]
        return markets

    def save(self, markets: list[dict[str, Any]], now: datetime) -> None:
        _write_json(self.path, {"version": CACHE_VERSION, "fetched_at": now.isoformat(), "markets": markets})


def check_markets(loaded: list[dict[str, Any]], venue: str) -> list[dict[str, Any]]:
    """A venue answering 200 with no markets at all is an outage or a changed shape, not a venue without
    markets: a transient failure, asked again next poll."""
    if not loaded:
        raise TransientSourceError("markets answer lists no markets at all; not cached, asked again next poll",
                                   source=venue, kind="empty")
    return loaded


class TermsMemory:
    """The funding terms last published per market, on disk, so a change between two polls (two
    processes) becomes an event. Lost with the cache: then one change goes unnoticed, none is invented."""

    def __init__(self, cache_dir: Path | str, venue: str):
        self.path = Path(cache_dir) / f"funding-terms-{venue}.json"
        self._lock = threading.Lock()

    def swap(self, key: str, value: dict[str, Any]) -> dict[str, Any] | None:
        """Store ``value`` under ``key``; return what was there before."""
        with self._lock:
            try:
                data = json.loads(self.path.read_text(encoding="utf-8"))
            except (OSError, ValueError):
                data = {}
            if not isinstance(data, dict):  # not ours: start again
                data = {}
            before = data.get(key)
            data[key] = value
            _write_json(self.path, data)
            return before


def _write_json(path: Path, payload: Any) -> None:
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.stem}-", suffix=".tmp")
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            json.dump(payload, fh, default=str)
        os.replace(tmp, path)  # readers never see half a file
    except OSError as exc:  # a cache that cannot be written only costs a reload next time
        log.warning("cache %s not written: %s", path, exc.strerror)
