"""Evaluate tokens: read only the lookback a judgement needs, judge it, record flag history.

Reads go through the series catalogue, then one indexed range read over exactly the (metric, source)
series that exist for the token, so memory stays bounded by one token's lookback (bench/).
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta
from itertools import chain
from typing import TYPE_CHECKING, Any

from monitor import model as m
from monitor.errors import ConfigError
from monitor.model import Verdict
from monitor.timeutil import epoch_s, parse_duration, to_utc

if TYPE_CHECKING:  # loaded lazily at run time (numpy, pandas); the App calls the jobs, not the reverse
    from concurrent.futures import Future

    import numpy as np

    from monitor.app import App
    from monitor.signals import TokenInputs

log = logging.getLogger(__name__)

MARKET_METRICS = (
    m.OI_USD, m.FUNDING_RATE, m.FUNDING_INTERVAL_H, m.FUNDING_RATE_8H, m.FUNDING_CAP, m.LONG_SHORT_ACCOUNT_RATIO,
    m.LIQ_LONG_USD, m.LIQ_SHORT_USD, m.PERP_VOLUME_USD, m.SPOT_VOLUME_USD, m.PRICE_CLOSE, m.PRICE_CLOSE_1H,
    m.MARKET_CAP_USD, m.TVL_USD, m.TVL_TOKEN, m.ACTIVE_ADDRESSES, m.TRANSFER_COUNT, m.HOLDERS, m.DEX_VOLUME_USD,
)
DEV_METRICS = (m.DEV_COMMITS, m.DEV_CONTRIBUTORS)
HEALTH_WINDOW = timedelta(days=1)


def lookback(cfg: Any) -> tuple[timedelta, timedelta]:
    """(main lookback, dev-activity lookback) a judgement needs."""
    s = cfg.signals
    main = max(parse_duration(s.lookback), parse_duration(s.trend_window) + parse_duration(s.window),
               parse_duration(s.liq_baseline) + timedelta(days=1), parse_duration(s.window) * 2)
    dev = max(main, 2 * parse_duration(s.dev_window) + timedelta(days=2))
    return main, dev


EVENT_ONLY_SOURCES = ("chain", "etherscan")  # they store events, never observations


def _configured(config: Any, symbol: str, disabled: dict[str, str]
                ) -> tuple[dict[str, timedelta], dict[str, timedelta], bool]:
    """(observation sources, event-only sources, token configured) for this token: a source counts only
    when the token is configured for it and the source is enabled (a venue that does not list the
    token answers "not configured" and is expected for nothing)."""
    try:
        token = config.token(symbol)
    except ConfigError:
        return {}, {}, False
    names = list(token.venues)
    if token.coingecko_id:
        names.append("coingecko")
    if token.defillama_slug:
        names.append("defillama")
    if token.github_repos:
        names.append("github")
    names.append("coinglass")  # coinglass_symbol defaults to the symbol
    if any(w.token_address for w in token.chains):
        names.append("dune")
    events = list(EVENT_ONLY_SOURCES) if token.chains else []

    def live(name: str) -> timedelta | None:
        src = getattr(config.sources, name, None)
        if src is not None and src.enabled and name not in disabled:
            return parse_duration(src.poll_interval)
        return None

    obs = {n: i for n in names if (i := live(n)) is not None}
    ev = {n: i for n in events if (i := live(n)) is not None}
    return obs, ev, True


def gather_inputs(app: Any, symbol: str, now: datetime) -> TokenInputs:
    """Everything one judgement reads, in one connection checkout: the catalogue, one indexed range read
    per wanted (metric, source) series, the recent poll runs and (only when there are any) the events."""
    from monitor.signals import TokenInputs

    store, config = app.store, app.config
    main, dev = lookback(config)
    now_s = epoch_s(now)
    reach = max(parse_duration(config.signals.event_window), parse_duration(config.signals.window)
                + timedelta(days=config.signals.redeploy_days + 1))
    spans = {"dev": epoch_s(now - dev), "main": epoch_s(now - main)}

    def since(metric: str) -> int | None:
        return spans["dev"] if metric in DEV_METRICS else spans["main"] if metric in MARKET_METRICS else None

    rows = store.token_rows(symbol, since, now_s, epoch_s(now - HEALTH_WINDOW), epoch_s(now - reach))
    cat, parts, run_rows, any_event = rows.catalogue, rows.series, rows.poll_runs, rows.any_event
    events = tuple(store.read_events(symbol, now - reach, now)) if any_event else ()
    intervals, event_sources, configured = _configured(config, symbol, getattr(app, "disabled", {}))
    for name in {row[1] for row in cat}:
        src = getattr(config.sources, name, None)
        if name not in intervals and src is not None:
            intervals[name] = parse_duration(src.poll_interval)
    return TokenInputs(token=symbol, series=_arrays(parts), events=events, poll_runs=[tuple(r) for r in run_rows],
                       poll_intervals=intervals, event_sources=event_sources, configured=configured)


def _arrays(parts: list[tuple[str, str, list[Any]]]) -> dict[tuple[str, str], tuple[np.ndarray, np.ndarray]]:
    """{(metric, source): (epoch seconds int64, values float64)}: plain tuples straight into numpy (a
    long frame built here would only be split again by the view)."""
    import numpy as np

    out: dict[tuple[str, str], tuple[np.ndarray, np.ndarray]] = {}
    for metric, source, rows in parts:
        if rows:  # epoch seconds are exact in float64; fromiter skips building an object array first
            flat = np.fromiter(chain.from_iterable(rows), dtype="float64", count=2 * len(rows))
            out[(metric, source)] = (flat[0::2].astype("int64"), flat[1::2].copy())
    return out


def evaluate_token(app: Any, symbol: str, at: datetime | str | None = None) -> Verdict:
    """Judge one token as of ``at`` (default now). Without ``at`` the flag history is updated too."""
    from monitor.signals import evaluate

    symbol = _symbol(app, symbol)
    now = to_utc(at) if at is not None else app.now()
    inputs = gather_inputs(app, symbol, now)
    verdict = evaluate(inputs, app.config.signals, app.config.verdict, now)
    if at is None:
        app.store.sync_flags(symbol, list(verdict.flags), now)
    log.info("%s: %s score=%.0f confidence=%.2f flags=%d", symbol, verdict.label, verdict.score,
             verdict.confidence, len(verdict.flags))
    return verdict


def evaluate_all(app: Any, tokens: list[str] | None = None, at: datetime | str | None = None) -> list[Verdict]:
    """Every token (configured ones, else all in the store), ranked by score. Each judgement reads and
    holds one token's lookback only; with many tokens they are shared with worker processes
    (signals.workers), results identical to one process."""
    if tokens is None:
        tokens = [t.symbol for t in app.config.tokens] or app.store.tokens()
    now = to_utc(at) if at is not None else None
    workers = _workers(app, len(tokens))
    if workers > 1:
        return rank(_evaluate_parallel(app, tokens, now, workers))
    verdicts = []
    for symbol in tokens:
        verdicts.append(evaluate_token(app, symbol, at=now))
    return rank(verdicts)


def _workers(app: App, n_tokens: int) -> int:
    """Processes to use: signals.workers (capped by the CPUs) once there are enough tokens to pay for
    starting them (~0.5 s each), and only on a store another process can open."""
    import os

    s = app.config.signals
    url = str(getattr(app.store, "url", ""))
    shared = url.startswith("postgresql") or (url.startswith("sqlite:///") and ":memory:" not in url
                                             and "mode=memory" not in url)
    if s.workers <= 1 or n_tokens < s.parallel_min_tokens or not shared:
        return 1
    return max(1, min(s.workers, os.cpu_count() or 1))


CHUNK = 16  # tokens per task: small enough to balance the tail, large enough to amortize pickling


def _evaluate_parallel(app: Any, tokens: list[str], at: datetime | None, workers: int) -> list[Verdict]:
    """This process judges chunks too while ``workers - 1`` spawned processes (spawn: safe next to the
    daemon's threads) are kept fed with the next chunks; flag history is written here, in one process."""
    import multiprocessing
    from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
    from concurrent.futures.process import BrokenProcessPool

    now = at if at is not None else app.now()
    symbols = [_symbol(app, t) for t in tokens]
    chunks = [symbols[i:i + CHUNK] for i in range(0, len(symbols), CHUNK)]
    chunks.reverse()  # pop() from the end takes them in order
    done: list[Verdict] = []
    pending: set[Future[list[Verdict]]] = set()
    init = (app.config, app.store.url, dict(getattr(app, "disabled", {}) or {}))
    pool = ProcessPoolExecutor(workers - 1, mp_context=multiprocessing.get_context("spawn"),
                               initializer=_init_worker, initargs=init)
    sent: dict[Future[list[Verdict]], list[str]] = {}
    ready = pool.submit(_ping)  # workers get chunks only once started: until then this process works alone
    try:
        while chunks or pending:
            if ready.done():
                ready.result()
                while chunks and len(pending) < 2 * (workers - 1):
                    fut = pool.submit(_work, chunks[-1], now)
                    sent[fut] = chunks.pop()
                    pending.add(fut)
            if chunks:
                done += _judge(app, chunks.pop(), now)
            finished, pending = wait(pending, timeout=0 if chunks else None, return_when=FIRST_COMPLETED)
            for fut in finished:
                done += fut.result()
                del sent[fut]
    except BrokenProcessPool as exc:  # e.g. a script without the `if __name__ == "__main__":` guard
        log.warning("evaluation workers failed (%s); judging the rest in this process", exc)
        for chunk in sent.values():
            done += _judge(app, chunk, now)
        while chunks:
            done += _judge(app, chunks.pop(), now)
    finally:
        pool.shutdown(wait=ready.done(), cancel_futures=True)  # a worker still starting exits on its own
    for v in done:
        if at is None:
            app.store.sync_flags(v.token, list(v.flags), now)
        log.info("%s: %s score=%.0f confidence=%.2f flags=%d", v.token, v.label, v.score, v.confidence,
                 len(v.flags))
    return done


def _judge(app: Any, symbols: list[str], now: datetime) -> list[Verdict]:
    from monitor.signals import evaluate

    return [evaluate(gather_inputs(app, s, now), app.config.signals, app.config.verdict, now) for s in symbols]


_WORKER: dict[str, Any] = {}


def _init_worker(config: Any, url: str, disabled: dict[str, str]) -> None:
    from types import SimpleNamespace

    from monitor.store import Store

    _WORKER["app"] = SimpleNamespace(config=config, store=Store(url, create=False), disabled=disabled)


def _ping() -> bool:
    return True


def _work(symbols: list[str], now: datetime) -> list[Verdict]:
    return _judge(_WORKER["app"], symbols, now)


def rank(verdicts: list[Verdict]) -> list[Verdict]:
    """Judged tokens by score (highest first), then those without enough data."""
    return sorted(verdicts, key=lambda v: (v.label == "insufficient data", -v.score, -v.confidence, v.token))


def _symbol(app: App, symbol: str) -> str:
    try:
        return app.config.token(symbol).symbol
    except ConfigError:
        if app.config.tokens:
            raise
        return symbol.upper()
