"""Relative file paths in a config file are relative to that file's folder, so cron (which starts in $HOME)
and a person in the project folder use the same database, reports and cache."""

from __future__ import annotations

import re
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # paths.py is imported by monitor.config itself
    from monitor.config import Config

# sqlite:///relative.db (three slashes then no fourth); sqlite:////abs.db and sqlite:// (memory) stay
_SQLITE_RELATIVE = re.compile(r"^(sqlite(?:\+\w+)?:///)(?!/)(?!:memory:)([^?]+)(\?.*)?$")


def sqlite_url_against(url: str, base: Path) -> str:
    match = _SQLITE_RELATIVE.match(url)
    if not match:
        return url
    prefix, path, query = match.groups()
    return f"{prefix}{base / path}{query or ''}"


def _against(value: str | None, base: Path) -> str | None:
    if value is None:
        return None
    path = Path(value).expanduser()
    return str(path if path.is_absolute() else base / path)


def resolve_paths(config: Config, base: Path) -> Config:
    """The config with storage.url (SQLite), storage.cache_dir, report.out_dir, email.ca_file and the Dune
    queries_dir / ids_file made absolute against ``base``."""
    storage = config.storage.model_copy(update={"url": sqlite_url_against(config.storage.url, base),
                                                "cache_dir": _against(config.storage.cache_dir, base)})
    report = config.report.model_copy(update={"out_dir": _against(config.report.out_dir, base)})
    email = config.email.model_copy(update={"ca_file": _against(config.email.ca_file, base)})
    dune = config.sources.dune.model_copy(update={"queries_dir": _against(config.sources.dune.queries_dir, base),
                                                  "ids_file": _against(config.sources.dune.ids_file, base)})
    sources = config.sources.model_copy(update={"dune": dune})
    return config.model_copy(update={"storage": storage, "report": report, "email": email, "sources": sources})
