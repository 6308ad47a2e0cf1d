"""Composition root: builds the HTTP sessions, the store and the sources from a Config, lazily.

The CLI, the scheduler, the dashboard and the demo build an App; tests inject a store, a session factory
or source factories. Judging worker processes open their own Store (jobs/evaluate.py).
"""

from __future__ import annotations

import importlib
import logging
import threading
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from monitor.config import Config, Secrets, disabled_sources, load_config
from monitor.errors import ConfigError
from monitor.sources.health import HealthLog
from monitor.sources.netstate import NetState
from monitor.sources.ratelimit import Limiters
from monitor.sources.redact import Redactor
from monitor.timeutil import parse_duration, utcnow

if TYPE_CHECKING:  # pandas, SQLAlchemy and requests load only when used
    import requests

    from monitor.model import Verdict
    from monitor.sources.base import SourceContext
    from monitor.store import Store

log = logging.getLogger(__name__)
_WARNED: set[tuple[str, str]] = set()  # missing-key warnings already given in this process
_WARNED_LOCK = threading.Lock()

# source name -> module whose build(name, cfg, ctx) returns a Source
SOURCE_MODULES = {
    "binance": "monitor.sources.exchanges",
    "bybit": "monitor.sources.exchanges",
    "okx": "monitor.sources.exchanges",
    "gate": "monitor.sources.exchanges",
    "bitget": "monitor.sources.exchanges",
    "hyperliquid": "monitor.sources.exchanges",
    "coinglass": "monitor.sources.coinglass",
    "coingecko": "monitor.sources.coingecko",
    "defillama": "monitor.sources.defillama",
    "dune": "monitor.sources.dune",
    "github": "monitor.sources.github",
    "etherscan": "monitor.sources.etherscan",
    "chain": "monitor.sources.chain",
}


class RedactingFilter(logging.Filter):
    def __init__(self, redactor: Redactor):
        super().__init__()
        self.redactor = redactor

    def filter(self, record: logging.LogRecord) -> bool:
        record.msg = self.redactor(record.getMessage())
        record.args = None
        if record.exc_info and record.exc_info[1] is not None:
            record.exc_text = self.redactor(logging.Formatter().formatException(record.exc_info))
        return True


def install_log_redaction(redactor: Redactor) -> None:
    """Scrub this App's secrets from every record the root handlers emit (idempotent)."""
    for handler in logging.getLogger().handlers:
        if not any(isinstance(f, RedactingFilter) and f.redactor is redactor for f in handler.filters):
            handler.addFilter(RedactingFilter(redactor))


class App:
    def __init__(
        self,
        config: Config,
        *,
        secrets: Secrets | None = None,
        session_factory: Callable[[], Any] | None = None,
        factories: dict[str, Any] | None = None,
        now: Callable[[], datetime] = utcnow,
        cache_dir: Path | None = None,
        store: Store | None = None,
    ) -> None:
        self.config = config
        self.secrets = secrets or Secrets()
        self.redactor = Redactor(self.secrets.values(config))
        self.now = now
        self.health = HealthLog(now=now)
        self.factories = dict(factories or {})
        self.cache_dir = cache_dir or Path(config.storage.cache_dir)
        # bans and Retry-After blocks outlive the process (a restart must not hit a banned venue)
        self.limiters = Limiters(NetState(self.cache_dir / "network-state.json"))
        self._session_factory = session_factory
        self._store = store
        self._sources: dict[str, Any] | None = None
        # poll threads ask for the store and the sources at once: each is built exactly once, under this lock
        self._build_lock = threading.RLock()
        self.disabled = disabled_sources(config, self.secrets)

    @property
    def store(self) -> Store:
        if self._store is None:
            with self._build_lock:
                if self._store is None:
                    from monitor.store import Store

                    storage = self.config.storage
                    self._store = Store(storage.url, busy_timeout_s=storage.busy_timeout_s,
                                        integrity_every_s=parse_duration(storage.integrity_check_every).total_seconds())
        return self._store

    def session(self) -> requests.Session:
        if self._session_factory is not None:
            session: requests.Session = self._session_factory()
            return session
        import requests

        session = requests.Session()
        session.headers["User-Agent"] = "divergence-monitor/0.1"
        session.trust_env = False  # proxies only through explicit base URLs
        from monitor.sources.transport import harden

        # every client (ours, ccxt, web3, dune-client, webhooks) gets the guarded transport
        hardened: requests.Session = harden(session, network=self.config.network)
        return hardened

    def context(self) -> SourceContext:
        from monitor.sources.base import SourceContext

        return SourceContext(
            session_factory=self.session, limiters=self.limiters, redactor=self.redactor, health=self.health,
            secrets=self.secrets, cache_dir=self.cache_dir, now=self.now, factories=self.factories,
            config=self.config,
        )

    def sources(self, names: list[str] | None = None) -> dict[str, Any]:
        """Enabled sources by name, built once. Unknown names are a ConfigError."""
        if names:
            unknown = sorted(set(names) - set(SOURCE_MODULES))
            if unknown:
                raise ConfigError(f"unknown source(s) {unknown}; known: {sorted(SOURCE_MODULES)}")
        if self._sources is None:
            with self._build_lock:
                if self._sources is None:
                    self._sources = self._build_sources()
        self.warn_disabled(names)
        if names:
            return {n: s for n, s in self._sources.items() if n in names}
        return dict(self._sources)

    def warn_disabled(self, names: list[str] | None = None) -> None:
        """Name the unset key of each of these sources (default: all) that would otherwise run; once per
        process, however many Apps and polls it makes."""
        for name, why in self.disabled.items():
            if "environment variable" in why and (not names or name in names):
                with _WARNED_LOCK:
                    if (name, why) in _WARNED:
                        continue
                    _WARNED.add((name, why))
                log.warning("source %s %s", name, why)

    def _build_sources(self) -> dict[str, Any]:
        built = {}  # published whole: another thread never sees a half-built set
        ctx = self.context()
        for name, cfg in self.config.sources.items():
            if name in self.disabled:
                continue
            module = importlib.import_module(SOURCE_MODULES[name])
            built[name] = module.build(name, cfg, ctx)
        return built

    def close(self) -> None:
        if self._store is not None:
            self._store.close()


def check(token: str, *, config: str | Config | None = None, poll: bool = True, at: datetime | None = None,
          app: App | None = None) -> Verdict:
    """Python entry point behind `divmon check`: poll (optionally), evaluate, return the Verdict."""
    from monitor.jobs.evaluate import evaluate_token
    from monitor.jobs.poll import poll as run_poll

    if app is None:
        cfg = config if isinstance(config, Config) else load_config(config)
        app = App(cfg)
    symbol = app.config.token(token).symbol
    if poll and at is None:
        run_poll(app, tokens=[symbol])
    return evaluate_token(app, symbol, at=at)
