"""Report job: read the store, compute chart series, render. (Digests and alerts: jobs/digest.py.)"""

from __future__ import annotations

import logging
import os
from dataclasses import replace
from datetime import datetime, timedelta
from itertools import chain
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from monitor import model as m
from monitor.errors import ConfigError
from monitor.report.build import (
    HealthRow,
    ReportData,
    TokenSeries,
    build_report,
    summarize_health,
)
from monitor.timeutil import epoch_s, parse_duration, to_utc

log = logging.getLogger(__name__)
CHART_METRICS = (m.OI_USD, m.TVL_USD, m.ACTIVE_ADDRESSES, m.DEV_COMMITS, m.FUNDING_RATE_8H, m.FUNDING_CAP,
                 m.LONG_SHORT_ACCOUNT_RATIO, m.PRICE_CLOSE_1H, m.PRICE_CLOSE, m.LIQ_LONG_USD, m.LIQ_SHORT_USD)
AGGREGATORS = ("coinglass",)  # already a cross-venue total: never added to per-venue sums


# ---------------------------------------------------------------- series


def _split(parts: list[tuple[str, str, list[Any]]]) -> dict[str, dict[str, pd.Series]]:
    """metric -> source -> series (UTC index) from the store's (metric, source, [(ts, value), ...]) rows,
    oldest first: arrays straight into the index, no long frame to group again."""
    out: dict[str, dict[str, pd.Series]] = {}
    for metric, source, rows in parts:
        if not rows:
            continue
        flat = np.fromiter(chain.from_iterable(rows), dtype="float64", count=2 * len(rows))
        ns = flat[0::2].astype("int64") * 1_000_000_000  # epoch seconds are exact in float64
        index = pd.DatetimeIndex(ns.astype("datetime64[ns]")).tz_localize("UTC")
        out.setdefault(metric, {})[source] = pd.Series(flat[1::2], index=index, name=source)
    return out


def _venue_sum(per_source: dict[str, pd.Series]) -> pd.Series | None:
    """Sum across venues on an hourly grid (each venue carried forward up to 6 h); an aggregator's own
    total is used only when no venue series exists."""
    venues = {k: v for k, v in per_source.items() if k not in AGGREGATORS} or per_source
    if not venues:
        return None
    wide = pd.DataFrame({k: v[~v.index.duplicated(keep="last")] for k, v in venues.items()})
    wide = wide.resample("1h").last().ffill(limit=6)
    return wide.sum(axis=1, min_count=1).dropna()


def _common_span_sum(per_source: dict[str, pd.Series]) -> pd.Series | None:
    """Venue OI summed only where every venue has data: a venue whose history starts later (Binance
    keeps 30 days) would otherwise add a step the market never made."""
    venues = {k: v for k, v in per_source.items() if k not in AGGREGATORS} or per_source
    if not venues:
        return None
    start = max(v.dropna().index.min() for v in venues.values() if len(v.dropna()))
    total = _venue_sum(venues)
    return None if total is None else total[total.index >= start]


def _longest(per_source: dict[str, pd.Series]) -> pd.Series | None:
    return max(per_source.values(), key=len) if per_source else None


def _rsi_many(closes: dict[str, pd.Series | None], period: int) -> dict[str, pd.Series | None]:
    """Wilder RSI of each token's closes, as wilder_rsi gives it, in one pass over time for all tokens
    whose closes share their timestamps (one window's hourly closes usually do): the indicator loops over
    time only, so one loop serves them all."""
    out: dict[str, pd.Series | None] = dict.fromkeys(closes)
    try:
        from monitor.signals import indicators
    except ImportError:  # the indicators module is another package's; the report still renders
        log.warning("RSI not drawn: monitor.signals.indicators is unavailable")
        return out
    groups: dict[bytes, list[tuple[str, pd.Series]]] = {}
    for token, close in closes.items():
        if close is not None and len(close) > period:
            s = indicators.clean(close)
            groups.setdefault(pd.DatetimeIndex(s.index).asi8.tobytes(), []).append((token, s))
    for members in groups.values():
        index = members[0][1].index
        rsi = indicators.wilder_rsi_matrix(np.column_stack([s.to_numpy() for _, s in members]), period)
        for j, (token, _) in enumerate(members):
            out[token] = pd.Series(rsi[:, j], index=index, dtype="float64")
    return out


def token_series(app: Any, token: str, start: datetime, end: datetime) -> tuple[TokenSeries, dict[str, str]]:
    """Chart series for one token and the latest ts of each series read (``source:metric`` -> ISO)."""
    series, as_of, close = _read_series(app, token, start, end)
    return replace(series, rsi=_rsi_many({token: close}, app.config.signals.rsi_period)[token]), as_of


def _read_series(app: Any, token: str, start: datetime,
                 end: datetime) -> tuple[TokenSeries, dict[str, str], pd.Series | None]:
    """token_series without the RSI, and the closes it is drawn from."""
    first, last = epoch_s(start), epoch_s(end)
    # one connection checkout for every chart series (the judging read's path); no poll runs wanted
    rows = app.store.token_rows(token, lambda metric: first if metric in CHART_METRICS else None, last, last + 1,
                                first)
    by = _split(rows.series)
    as_of = {f"{src}:{met}": s.index.max().strftime("%Y-%m-%dT%H:%M:%SZ")
             for met, per in by.items() for src, s in per.items()}
    price = by.get(m.PRICE_CLOSE_1H) or by.get(m.PRICE_CLOSE) or {}
    from monitor.signals.liquidations import liquidations  # the liquidation_spike rule's own reading

    liq, _ = liquidations({k: by.get(k, {}) for k in (m.LIQ_LONG_USD, m.LIQ_SHORT_USD)}, end,
                          parse_duration(app.config.signals.stale_after))
    oi = by.get(m.OI_USD, {})
    series = TokenSeries(
        oi=_common_span_sum(oi),
        oi_by_venue={k: v for k, v in oi.items() if k not in AGGREGATORS},
        funding_cap={k: v for k, v in by.get(m.FUNDING_CAP, {}).items() if k not in AGGREGATORS},
        tvl=_longest(by.get(m.TVL_USD, {})),
        active_addresses=_longest(by.get(m.ACTIVE_ADDRESSES, {})),
        dev_activity=_longest(by.get(m.DEV_COMMITS, {})),
        funding={k: v for k, v in by.get(m.FUNDING_RATE_8H, {}).items() if k not in AGGREGATORS},
        long_short=by.get(m.LONG_SHORT_ACCOUNT_RATIO, {}),
        liq_long=liq.get(m.LIQ_LONG_USD),
        liq_short=liq.get(m.LIQ_SHORT_USD),
        events=tuple(app.store.read_events(token, start, end)) if rows.any_event else (),
    )
    return series, as_of, _longest(price)


def health_rows(app: Any, now: datetime, lookback: timedelta = timedelta(days=1)) -> list[HealthRow]:
    runs = app.store.read_poll_runs(now - lookback)
    cat = app.store.catalogue()
    latest = {src: g["last_ts"].max().to_pydatetime() for src, g in cat.groupby("source")} if not cat.empty else {}
    floor_s = parse_duration(app.config.signals.stale_after).total_seconds()
    stale_after = {name: max(2 * parse_duration(cfg.poll_interval).total_seconds(), floor_s)
                   for name, cfg in app.config.sources.items()}
    return summarize_health(runs, latest, now, stale_after)


# ---------------------------------------------------------------- report


def _evaluate(app: Any, tokens: list[str] | None, at: datetime | None) -> list[m.Verdict]:
    from monitor.jobs.evaluate import evaluate_all

    return evaluate_all(app, tokens=tokens, at=at)


def make_report(app: Any, *, tokens: list[str] | None = None, at: datetime | None = None,
                verdicts: list[m.Verdict] | None = None, charts: bool = True) -> ReportData:
    now = app.now()
    end = to_utc(at) if at else now
    if verdicts is None:
        verdicts = _evaluate(app, tokens, at)
    if tokens:
        wanted = {t.upper() for t in tokens}
        verdicts = [v for v in verdicts if v.token.upper() in wanted]
    start = end - timedelta(days=app.config.report.chart_days)
    series, stated, events, closes = {}, [], {}, {}
    for v in verdicts:
        if charts:
            series[v.token], as_of, closes[v.token] = _read_series(app, v.token, start, end)
            v = replace(v, data_as_of={**as_of, **(v.data_as_of or {})})  # the verdict's own word wins
            events[v.token] = series[v.token].events
        else:  # every format lists the token's contract and market events
            events[v.token] = tuple(app.store.read_events(v.token, start, end))
        stated.append(v)
    for token, rsi in _rsi_many(closes, app.config.signals.rsi_period).items():
        series[token] = replace(series[token], rsi=rsi)
    return build_report(stated, series, health_rows(app, end), generated_at=now, at=at, events=events)


CHART_PARALLEL_MIN = 64  # a spawned process takes ~3 s to import matplotlib and pandas: ~30 charts at ~0.1 s


def chart_workers(app: Any, n_tokens: int) -> int:
    """Processes for drawing charts: signals.workers (capped by the CPUs) once there are enough charts."""
    workers = int(getattr(app.config.signals, "workers", 1) or 1)
    if workers <= 1 or n_tokens < CHART_PARALLEL_MIN:
        return 1
    return max(1, min(workers, os.cpu_count() or 1))


def chart_pngs(data: ReportData, workers: int = 1) -> dict[int, bytes]:
    """rank -> PNG. With workers > 1 this process draws one share while spawned processes draw the
    rest (round-robin shares: ranks differ in how much they draw); a failed pool falls back to here."""
    from monitor.report.charts import render_pngs

    tokens = [t for t in data.tokens if t.series is not None and not t.series.is_empty()]
    if workers <= 1 or len(tokens) < 2:
        return render_pngs(tokens)
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor
    from concurrent.futures.process import BrokenProcessPool

    shares = [tokens[i::workers] for i in range(workers)]
    out: dict[int, bytes] = {}
    with ProcessPoolExecutor(workers - 1, mp_context=multiprocessing.get_context("spawn")) as pool:
        futures = [(share, pool.submit(render_pngs, share)) for share in shares[1:]]
        out.update(render_pngs(shares[0]))
        for share, future in futures:
            try:
                out.update(future.result())
            except BrokenProcessPool as exc:  # e.g. a script without the `if __name__ == "__main__":` guard
                log.warning("chart workers failed (%s); drawing the rest in this process", exc)
                out.update(render_pngs(share))
    return out


def render_report(data: ReportData, fmt: str, workers: int = 1) -> str:
    from monitor.report import render

    if fmt == "html":
        from monitor.report.charts import data_uri

        return render.render_html(data, {rank: data_uri(png) for rank, png in chart_pngs(data, workers).items()})
    if fmt == "md":
        return render.render_markdown(data)
    if fmt == "json":
        return render.render_json(data)
    if fmt == "text":
        return render.render_text(data)
    raise ConfigError(f"unknown report format {fmt!r} (html, md, json, text)")


def write_atomic(path: Path, content: str | bytes) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_bytes(content.encode("utf-8") if isinstance(content, str) else content)
    os.replace(tmp, path)
    return path


def report_job(app: Any, *, formats: list[str] | None = None, out: str | None = None,
               tokens: list[str] | None = None, at: datetime | None = None,
               verdicts: list[m.Verdict] | None = None) -> list[Path]:
    """Write the report in each format (default: report.formats into report.out_dir)."""
    formats = formats or list(app.config.report.formats)
    data = make_report(app, tokens=tokens, at=at, verdicts=verdicts, charts="html" in formats)
    written = []
    for fmt in formats:
        path = Path(out) if out and len(formats) == 1 else Path(app.config.report.out_dir) / f"divmon-report.{fmt}"
        workers = chart_workers(app, len(data.tokens)) if fmt == "html" else 1
        written.append(write_atomic(path, render_report(data, fmt, workers)))
        log.info("report written: %s", path)
    return written


# ---------------------------------------------------------------- digest

# The digest and alert jobs live in jobs/digest.py; these names stay importable from here.
from monitor.jobs.digest import (  # noqa: E402,F401
    DeliveryOutcome,
    alert_job,
    channels,
    digest_job,
    lock_owner,
    owner_gone,
    period_key,
)
