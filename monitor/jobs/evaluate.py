"""Evaluate tokens: read only the lookback a judgement needs, judge it, record flag history.

Reads go through the series catalogue, then one indexed range read over exactly the (metric, source)
series that exist for the token, so memory stays bounded by one token's lookback (bench/).
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta
from typing import Any

from monitor import model as m
from monitor.errors import ConfigError
from monitor.model import Verdict
from monitor.timeutil import epoch_s, parse_duration, to_utc

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


def expected_sources(config: Any, symbol: str, disabled: dict[str, str]) -> dict[str, timedelta]:
    """Sources configured to report for this token, with their poll intervals."""
    try:
        token = config.token(symbol)
    except ConfigError:
        return {}
    names = list(token.venues)
    if token.coingecko_id:
        names.append("coingecko")
    if token.defillama_slug:
        names.append("defillama")
    if token.github_repos:
        names.append("github")
    names += ["coinglass", "dune"]
    out = {}
    for name in names:
        src = getattr(config.sources, name, None)
        if src is not None and src.enabled and name not in disabled:
            out[name] = parse_duration(src.poll_interval)
    return out


def gather_inputs(app: Any, symbol: str, now: datetime):  # noqa: ANN201 - TokenInputs, imported lazily
    from monitor.signals import TokenInputs

    store, config = app.store, app.config
    main, dev = lookback(config)
    now_s = epoch_s(now)
    cat = _raw(store, "SELECT metric, source, first_ts, last_ts FROM series WHERE token = {ph}", (symbol,))
    wanted: list[tuple[str, str, datetime]] = []
    for metric, source, first_ts, last_ts in cat:
        span = dev if metric in DEV_METRICS else main if metric in MARKET_METRICS else None
        if span is not None and first_ts <= now_s and last_ts >= epoch_s(now - span):
            wanted.append((metric, source, now - span))
    obs = read_lookback(store, symbol, sorted(wanted), now)
    reach = max(parse_duration(config.signals.event_window), parse_duration(config.signals.window)
                + timedelta(days=config.signals.redeploy_days + 1))
    events = tuple(store.read_events(symbol, now - reach, now))
    runs = read_runs(store, symbol, now - HEALTH_WINDOW, now)
    intervals = expected_sources(config, symbol, getattr(app, "disabled", {}))
    for name in {row[1] for row in cat}:
        src = getattr(config.sources, name, None)
        if name not in intervals and src is not None:
            intervals[name] = parse_duration(src.poll_interval)
    return TokenInputs(token=symbol, observations=obs, events=events, poll_runs=runs, poll_intervals=intervals)


def _raw(store: Any, sql: str, params: tuple) -> list[tuple]:
    """A small read on the driver's cursor (plain tuples, no per-row objects)."""
    sql = sql.format(ph="%s" if store.dialect == "postgresql" else "?")

    def run(conn: Any) -> list[tuple]:
        cur = conn.connection.driver_connection.cursor()
        try:
            cur.execute(sql, params)
            return [tuple(r) for r in cur.fetchall()]
        finally:
            cur.close()

    return store.read(run, "evaluation read")


def read_runs(store: Any, symbol: str, start: datetime, end: datetime):  # noqa: ANN201 - DataFrame
    """Poll outcomes of this token (and the source-wide "*" rows) within [start, end]."""
    import pandas as pd

    rows = _raw(store, "SELECT source, status, http_status, started_at FROM poll_runs WHERE token IN ({ph}, '*') "
                "AND started_at >= {ph} AND started_at <= {ph}", (symbol, epoch_s(start), epoch_s(end)))
    frame = pd.DataFrame(rows, columns=["source", "status", "http_status", "started_at"])
    if not rows:
        return frame
    frame["started_at"] = pd.to_datetime(frame["started_at"].astype("int64"), unit="s", utc=True)
    frame["http_status"] = pd.to_numeric(frame["http_status"], errors="coerce")
    return frame


def read_lookback(store: Any, symbol: str, wanted: list[tuple[str, str, datetime]], end: datetime):  # noqa: ANN201
    """One indexed range read per (metric, source) series on the driver's cursor (plain tuples: building
    a frame from SQLAlchemy Row objects costs ~20x more), assembled into the long frame."""
    import numpy as np
    import pandas as pd

    ph = "%s" if store.dialect == "postgresql" else "?"
    sql = (f"SELECT ts, value FROM observations WHERE token = {ph} AND metric = {ph} AND source = {ph} "
           f"AND ts >= {ph} AND ts <= {ph} ORDER BY ts")
    end_s = epoch_s(end)

    def run(conn: Any) -> list[tuple[str, str, list]]:
        cur = conn.connection.driver_connection.cursor()
        try:
            out = []
            for metric, source, start in wanted:
                cur.execute(sql, (symbol, metric, source, epoch_s(start), end_s))
                out.append((metric, source, cur.fetchall()))
            return out
        finally:
            cur.close()

    parts = store.read(run, "lookback read") if wanted else []
    ts_parts, val_parts, metric_codes, source_codes = [], [], [], []
    metric_names = sorted({w[0] for w in wanted})
    source_names = sorted({w[1] for w in wanted})
    for metric, source, rows in parts:
        if not rows:
            continue
        pairs = np.asarray(rows, dtype="float64")  # (ts, value); epoch seconds are exact in float64
        ts_parts.append(pairs[:, 0].astype("int64"))
        val_parts.append(pairs[:, 1])
        metric_codes.append(np.full(len(rows), metric_names.index(metric), dtype="int16"))
        source_codes.append(np.full(len(rows), source_names.index(source), dtype="int16"))
    if not ts_parts:
        return pd.DataFrame({c: pd.Series(dtype="float64" if c == "value" else object) for c in m.OBS_COLUMNS})
    return pd.DataFrame({
        "ts": pd.to_datetime(np.concatenate(ts_parts), unit="s", utc=True),
        "source": pd.Categorical.from_codes(np.concatenate(source_codes), source_names),
        "token": symbol,
        "metric": pd.Categorical.from_codes(np.concatenate(metric_codes), metric_names),
        "value": np.concatenate(val_parts),
    })


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
    """Every token (configured ones, else all in the store), one at a time, ranked by score."""
    if tokens is None:
        tokens = [t.symbol for t in app.config.tokens] or app.store.tokens()
    now = to_utc(at) if at is not None else None
    verdicts = []
    for symbol in tokens:
        verdicts.append(evaluate_token(app, symbol, at=now))
    return rank(verdicts)


def rank(verdicts: list[Verdict]) -> list[Verdict]:
    """Judged tokens by score (highest first), then those without enough data."""
    return sorted(verdicts, key=lambda v: (v.label == "insufficient data", -v.score, -v.confidence, v.token))


def _symbol(app: Any, symbol: str) -> str:
    try:
        return app.config.token(symbol).symbol
    except ConfigError:
        if app.config.tokens:
            raise
        return symbol.upper()
