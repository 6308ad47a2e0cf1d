"""`divmon record`: one poll with every source behind a recording reverse proxy on 127.0.0.1.

The poll runs exactly as a live one (same clients, same parsing) into a throw-away SQLite file, at a
clock frozen at its start so a replay at that time asks the same questions. What is kept has its
secrets stripped (see monitor.demo.recording).
"""

from __future__ import annotations

import hashlib
import json
import logging
import shutil
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import yaml

from monitor.config import SOURCE_DEFAULTS, Config, Secrets, disabled_sources
from monitor.demo.recording import SourceWriter, write_manifest
from monitor.demo.replay import RPC_PREFIX, dump_config, frozen_clock, local_base, rewrite_config
from monitor.demo.server import RecordingProxy, start_all, stop_all
from monitor.errors import ConfigError
from monitor.timeutil import to_utc, utcnow

log = logging.getLogger(__name__)

# one ccxt client spans several hosts; under a proxy every URL lands on one origin, so the recorder
# sends each path prefix back to its real host (only when the base URL is the venue's default)
VENUE_HOSTS = {
    "binance": ("fapi.binance.com", [("/api/", "https://api.binance.com"), ("/sapi/", "https://api.binance.com"),
                                     ("/dapi/", "https://dapi.binance.com"), ("/eapi/", "https://eapi.binance.com")]),
}


@dataclass
class RecordResult:
    out: Path
    outcomes: list[Any]
    entries: dict[str, int]


def _origin(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}"


def make_route(name: str, cfg: Any) -> Callable[[str], tuple[str, str]]:
    """path -> (upstream URL, upstream origin) for one source."""
    base = cfg.base_url
    if name == "chain":
        rpc_urls = dict(cfg.rpc_urls)

        def route_chain(path: str) -> tuple[str, str]:
            rest = path[len(RPC_PREFIX):] if path.startswith(RPC_PREFIX) else "_default"
            chain, _, tail = rest.partition("/")
            url = rpc_urls.get(chain, base)
            return url.rstrip("/") + ("/" + tail if tail else ""), _origin(url)

        return route_chain
    origin = _origin(base)
    host, prefixes = VENUE_HOSTS.get(name, ("", []))
    special = prefixes if urlsplit(base).hostname == host else []

    def route(path: str) -> tuple[str, str]:
        for prefix, other in special:
            if path.startswith(prefix):
                return other + path, other
        return origin + path, origin

    return route


def config_snapshot(config: Config) -> dict[str, Any]:
    """The config as recorded: base URLs and RPC URLs back to defaults (they may embed keys and mean
    nothing under replay), storage reset."""
    data = dump_config(config)
    for name, src in data["sources"].items():
        src["base_url"] = SOURCE_DEFAULTS[name]["base_url"]
        if "rpc_urls" in src:
            src["rpc_urls"] = {}
    data["storage"] = {"url": "sqlite:///divmon.db"}
    data["network"] = {"allow_loopback": False, "allow_plain_http": False}
    return data


def config_hash(data: dict[str, Any]) -> str:
    return hashlib.sha256(json.dumps(data, sort_keys=True).encode()).hexdigest()


def record(config: Config, out: str | Path, *, secrets: Secrets | None = None, sources: list[str] | None = None,
           tokens: list[str] | None = None, now: datetime | None = None, since: datetime | None = None,
           compress: bool = False, factories: dict[str, Any] | None = None, fast: bool = False) -> RecordResult:
    """Poll through recording proxies and write the recording to ``out`` (which must be empty).

    ``fast`` lifts the client-side rate limits (only for a loopback upstream, as when building the demo)."""
    from monitor.app import App
    from monitor.jobs.poll import poll
    from monitor.store import Store

    out = Path(out)
    if out.exists() and any(out.iterdir()):
        raise ConfigError(f"{out} is not empty; give `divmon record --out` a new directory")
    secrets = secrets or Secrets()
    at = to_utc(now) if now else utcnow().replace(microsecond=0)
    secret_values = secrets.values(config)
    cannot = disabled_sources(config, secrets)  # disabled in the config, or a required key is missing
    for name, why in cannot.items():
        if "environment variable" in why and (not sources or name in sources):
            log.warning("record: source %s %s", name, why)
    wanted = [n for n, _ in config.sources.items() if n not in cannot]
    if sources:
        unknown = sorted(set(sources) - {n for n, _ in config.sources.items()})
        if unknown:
            raise ConfigError(f"unknown source(s) {unknown}")
        wanted = [n for n in wanted if n in sources]
    if tokens:
        tokens = [config.token(t).symbol for t in tokens]
    out.mkdir(parents=True, exist_ok=True)
    writers = {n: SourceWriter(out / n, compress=compress) for n in wanted}
    proxies = {n: RecordingProxy(n, make_route(n, getattr(config.sources, n)), writers[n], secret_values)
               for n in wanted}
    work = Path(tempfile.mkdtemp(prefix="divmon-record-"))
    start_all(proxies)
    app = None
    try:
        origins = {n: p.origin for n, p in proxies.items()}
        disable = {n: "not recorded" for n, _ in config.sources.items() if n not in wanted}
        cfg = rewrite_config(config, origins, fast=fast, disable=disable)
        app = App(cfg, secrets=secrets, now=frozen_clock(at), cache_dir=work / "cache",
                  store=Store(f"sqlite:///{work / 'record.db'}"), factories=factories)
        outcomes = poll(app, sources=wanted or None, tokens=tokens, since=since, until=at)
    finally:
        if app is not None:
            app.close()
        stop_all(proxies)
        shutil.rmtree(work, ignore_errors=True)
    for w in writers.values():
        w.close()
    snapshot = config_snapshot(config)
    (out / "config.yaml").write_text(
        "# config the recording was made with (base URLs reset; secrets are never stored)\n"
        + yaml.safe_dump(snapshot, sort_keys=False), encoding="utf-8")
    manifest = {
        "time": at.isoformat().replace("+00:00", "Z"),
        "since": since.isoformat().replace("+00:00", "Z") if since else None,
        "config_sha256": config_hash(snapshot),
        "tokens": tokens or [t.symbol for t in config.tokens],
        "keys_present": sorted(n for n in wanted if getattr(config.sources, n).api_key_env
                               and secrets.get(getattr(config.sources, n).api_key_env)),
        "sources": {n: {"base_path": urlsplit(local_base(n, getattr(config.sources, n).base_url, "http://x")).path,
                        "entries": len(writers[n])} for n in wanted},
        "outcomes": [{"source": o.source, "token": o.token, "status": o.status, "rows": o.rows} for o in
                     sorted(outcomes, key=lambda o: (o.source, o.token))],
    }
    write_manifest(out, manifest)
    return RecordResult(out, outcomes, {n: len(w) for n, w in writers.items()})
