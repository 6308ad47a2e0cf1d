"""Replay a recording: every source served from loopback, the clock frozen at the recording's time.

``replay_app(config, dir)`` returns an App whose sources talk, through their real clients (ccxt,
requests, web3 HTTPProvider, dune-client), to one ReplayServer per recorded source. Sources the
recording lacks are disabled (a replay never reaches the internet). The servers stop with
``app.close()`` or at interpreter exit.
"""

from __future__ import annotations

import atexit
import logging
import os
import shutil
import tempfile
from collections.abc import Callable, Mapping
from datetime import datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from monitor.app import App
from monitor.config import Config, Secrets, parse_config
from monitor.demo.recording import SourceRecording, read_manifest
from monitor.demo.server import ReplayServer, start_all, stop_all
from monitor.timeutil import to_utc

log = logging.getLogger(__name__)

PLACEHOLDER_KEY = "replay-placeholder-key"  # not a secret: lets key-gated sources run under replay
RPC_PREFIX = "/rpc/"  # chain RPC URLs are served at /rpc/<chain> on the chain source's server

# Under replay the far end is a local file: no reason to wait for a venue's rate limit or a Dune
# status poll. Recorded throttling (429/418 and their Retry-After) is still replayed as recorded.
FAST = {"rate_limit_per_s": 1000.0, "burst": 1000}
FAST_EXTRA = {"dune": {"poll_every_s": 0.01}, "github": {"stats_wait_s": 0.0}}


class ReplayApp(App):
    """An App plus the replay servers it owns; ``close()`` stops them."""

    def __init__(self, config: Config, *, servers: Mapping[str, ReplayServer], manifest: dict[str, Any],
                 temp_dirs: list[Path] | None = None, **kwargs: Any):
        super().__init__(config, **kwargs)
        self.servers = dict(servers)
        self.manifest = manifest
        self.replay_time = to_utc(manifest["time"])
        # where the recorded poll started; a poll into an empty store should start there too
        self.default_since = to_utc(manifest["since"]) if manifest.get("since") else None
        self._temp_dirs = list(temp_dirs or [])
        self._closed = False
        atexit.register(self.close)

    def unmatched(self) -> dict[str, list[str]]:
        """Requests no recorded response answered, per source (empty when the replay was complete)."""
        return {n: list(s.unmatched) for n, s in self.servers.items() if s.unmatched}

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        try:
            super().close()
        finally:
            stop_all(self.servers)
            for d in self._temp_dirs:
                shutil.rmtree(d, ignore_errors=True)
            atexit.unregister(self.close)


def frozen_clock(at: datetime) -> Callable[[], datetime]:
    at = to_utc(at)
    return lambda: at


def local_base(name: str, upstream: str, origin: str) -> str:
    """The base URL a source uses when served by the loopback server at ``origin``."""
    if name == "chain":
        return origin + RPC_PREFIX + "_default"
    path = urlsplit(upstream).path.rstrip("/")
    return origin + path


def dump_config(config: Config) -> dict[str, Any]:
    """config as plain data that parse_config accepts again."""
    return config.model_dump(mode="json", warnings=False)


def rewrite_config(config: Config, origins: Mapping[str, str], *, fast: bool,
                   paths: Mapping[str, str] | None = None, disable: Mapping[str, str] | None = None) -> Config:
    """A copy of config with each source in origins pointed at its loopback server (chain RPC URLs
    too), loopback allowed, and the sources in disable switched off. ``paths`` gives the base path
    recorded per source (a replay uses the recording's, whatever the current config says)."""
    data = dump_config(config)
    data["network"] = {**data.get("network", {}), "allow_loopback": True}
    for name, src in data["sources"].items():
        if name in (disable or {}):
            src["enabled"] = False
            continue
        if name not in origins:
            continue
        origin = origins[name]
        if paths and name in paths:
            src["base_url"] = origin + paths[name]
        else:
            src["base_url"] = local_base(name, src["base_url"], origin)
        if name == "chain":
            chains = set(src.get("rpc_urls") or {}) | {w["chain"] for t in data["tokens"] for w in t.get("chains", [])}
            src["rpc_urls"] = {c: origin + RPC_PREFIX + c for c in sorted(chains)}
        if fast:
            src.update(FAST)
            src.update(FAST_EXTRA.get(name, {}))
    return parse_config(data, origin="config (rewritten for replay)")


def placeholder_secrets(config: Config, key_sources: list[str] | None = None,
                        environ: Mapping[str, str] | None = None) -> Secrets:
    """Placeholder keys for sources that had a key when recorded (and for key-gated ones), so they
    run as they did; notification secrets still come from the environment."""
    env = dict(os.environ if environ is None else environ)
    values: dict[str, str] = {}
    for name, src in config.sources.items():
        if src.api_key_env and (src.key_required or (key_sources is not None and name in key_sources)):
            values[src.api_key_env] = PLACEHOLDER_KEY
    for var in (config.email.username_env, config.email.password_env, config.webhook.url_env):
        if var and env.get(var):
            values[var] = env[var]
    return Secrets(values)


def replay_app(config: Config, replay_dir: str | os.PathLike[str], **kwargs: Any) -> ReplayApp:
    """The App for ``divmon --replay DIR``. kwargs pass to App (store=, now=, cache_dir=, ...)."""
    folder = Path(replay_dir)
    manifest = read_manifest(folder)
    recorded: dict[str, dict[str, Any]] = manifest.get("sources", {})
    servers: dict[str, ReplayServer] = {}
    disable: dict[str, str] = {}
    secrets = kwargs.pop("secrets", None) or placeholder_secrets(config, manifest.get("keys_present"))
    for name, src in config.sources.items():
        if not src.enabled:
            continue
        if name not in recorded or not (folder / name).is_dir():
            disable[name] = "not in the recording"
            log.info("replay: source %s is not in the recording; disabled", name)
            continue
        servers[name] = ReplayServer(SourceRecording.load(folder / name), [*secrets.values(config), PLACEHOLDER_KEY])
    start_all(servers)
    try:
        origins = {n: s.origin for n, s in servers.items()}
        paths = {n: recorded[n]["base_path"] for n in servers if "base_path" in recorded[n]}
        cfg = rewrite_config(config, origins, fast=True, paths=paths, disable=disable)
        temp_dirs = []
        if kwargs.get("cache_dir") is None:
            cache = Path(tempfile.mkdtemp(prefix="divmon-replay-cache-"))
            temp_dirs.append(cache)
            kwargs["cache_dir"] = cache
        kwargs.setdefault("now", frozen_clock(to_utc(manifest["time"])))
        return ReplayApp(cfg, servers=servers, manifest=manifest, temp_dirs=temp_dirs, secrets=secrets, **kwargs)
    except BaseException:
        stop_all(servers)
        raise
