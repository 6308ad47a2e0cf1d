"""Incremental polling. Each (source, token) resumes at the oldest of its series' latest stored ts minus
the source's overlap; with no series stored, 30 days back (or a recording's window). One fetch's
observations, events and request health are written in one transaction, so the cursor never runs ahead
of the data; reorged-out events are deleted just before, in their own. Sources run in parallel, the
tokens of one source up to its ``concurrency`` at a time."""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from monitor.errors import MonitorError, SourceError, StoreError
from monitor.model import PollRun
from monitor.timeutil import parse_duration, to_utc

if TYPE_CHECKING:  # type-only: the App calls the jobs, not the other way round
    from monitor.app import App
    from monitor.config import TokenConfig

log = logging.getLogger(__name__)

DEFAULT_LOOKBACK = timedelta(days=30)
NOT_STORED = "not_stored"  # fetched (or failed) but the store refused the write


@dataclass(frozen=True)
class PollOutcome:
    source: str
    token: str
    status: str  # ok | partial | <error kind>
    rows: int = 0
    events: int = 0
    message: str = ""
    requests: int = 0  # requests made; 0 with status ok means nothing was configured to ask for


def poll(
    app: App,
    *,
    sources: list[str] | None = None,
    tokens: list[str] | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
    progress: Callable[[PollOutcome], None] | None = None,
) -> list[PollOutcome]:
    """Poll the given (default: all enabled) sources for the given (default: all) tokens."""
    token_cfgs = [app.config.token(t) for t in tokens] if tokens else list(app.config.tokens)
    chosen = app.sources(sources)
    if sources:
        for name in set(sources) - set(chosen):
            log.warning("source %s not polled: %s", name, app.disabled.get(name, "not enabled"))
    until = to_utc(until) if until else app.now()

    def run_source(item: tuple[str, Any]) -> list[PollOutcome]:
        name, source = item
        workers = max(1, int(getattr(source, "concurrency", 1)))
        with ThreadPoolExecutor(workers, thread_name_prefix=f"poll-{name}") as pool:
            return list(pool.map(lambda t: _poll_one(app, name, source, t, since, until, progress), token_cfgs))

    if not chosen or not token_cfgs:
        return []
    app.store  # noqa: B018 - opened (and migrated) here, once, before any worker thread needs it
    with ThreadPoolExecutor(len(chosen), thread_name_prefix="poll") as pool:
        outcomes = [o for outs in pool.map(run_source, chosen.items()) for o in outs]
    lost = [o for o in outcomes if o.status == NOT_STORED]
    if lost:
        raise StoreError(f"stored {_names(o for o in outcomes if o.status != NOT_STORED)}; not stored: "
                         f"{_names(lost)}: {lost[0].message}")
    app.store.prune_poll_runs(app.now() - parse_duration(app.config.storage.health_retention))
    return outcomes


def _names(outcomes: Iterable[PollOutcome], limit: int = 40) -> str:
    names = [f"{o.source}/{o.token}" for o in outcomes]
    more = f" and {len(names) - limit} more" if len(names) > limit else ""
    return ", ".join(names[:limit]) + more if names else "nothing"


def _poll_one(app: App, name: str, source: Any, token_cfg: TokenConfig, since: datetime | None, until: datetime,
              progress: Callable[[PollOutcome], None] | None) -> PollOutcome:
    symbol = token_cfg.symbol
    cfg = getattr(app.config.sources, name)
    start = since
    started = app.now()
    try:
        if start is None:
            cursor = app.store.latest_ts(symbol, name)
            # a recording knows the window it covers (ReplayApp.default_since); otherwise the last 30 days
            first = getattr(app, "default_since", None) or until - DEFAULT_LOOKBACK
            start = cursor - parse_duration(cfg.overlap) if cursor else first
        outcome = _fetch_and_store(app, name, source, token_cfg, symbol, start, until, started)
    except StoreError as exc:  # the others go on; poll() then says what was stored and what was not
        outcome = PollOutcome(name, symbol, NOT_STORED, message=str(exc))
    if progress is not None:
        progress(outcome)
    return outcome


def _fetch_and_store(app: App, name: str, source: Any, token_cfg: TokenConfig, symbol: str, start: datetime,
                     until: datetime, started: datetime) -> PollOutcome:
    try:
        result = source.fetch(token_cfg, start, until)
        runs = app.health.drain(name, symbol)
        status = "partial" if result.partial else "ok"
        summary = PollRun(name, symbol, started, app.now(), status, rows=len(result.observations),
                          message="; ".join(result.notes)[:500] or None, endpoint="fetch")
        for chain in sorted({c for c, _ in result.removed_tx}):
            app.store.delete_events(chain, [tx for c, tx in result.removed_tx if c == chain])
        rows = app.store.write_batch(result.observations, result.events, [*runs, summary])
        outcome = PollOutcome(name, symbol, status, rows, len(result.events), "; ".join(result.notes), len(runs))
    except SourceError as exc:
        outcome = _failed(app, name, symbol, started, exc.kind, type(exc).__name__, app.redactor(exc))
    except StoreError:
        raise
    except MonitorError as exc:
        outcome = _failed(app, name, symbol, started, "error", type(exc).__name__, app.redactor(exc))
    except Exception as exc:  # a broken source must not stop the others; its traceback is logged
        log.exception("%s/%s: unexpected failure", name, symbol)
        outcome = _failed(app, name, symbol, started, "error", type(exc).__name__, app.redactor(exc))
    return outcome


def _failed(app: App, name: str, symbol: str, started: datetime, kind: str, error_class: str,
            message: str) -> PollOutcome:
    log.warning("%s/%s: %s", name, symbol, message)
    runs = app.health.drain(name, symbol)
    summary = PollRun(name, symbol, started, app.now(), kind, error_class=error_class, message=message[:500],
                      endpoint="fetch")
    app.store.record_poll_runs([*runs, summary])
    return PollOutcome(name, symbol, kind, message=message)
