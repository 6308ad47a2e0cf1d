"""Source health: freshness of each source against its poll interval, failures and throttling.

A source is *stale* when its newest observation is older than ``2 × max(poll interval, bar spacing)
+ signals.stale_after`` (a daily bar is only complete a day after its ts, and then waits for the
next poll), and *dark* when it is stale or its latest poll failed (error, timeout, 429/418 ...) or
its latest fetch returned no rows although the source has data ("empty"). A venue whose market settled
(``perp_settled``) with no data after is "settled": finished, neither expected nor dark.
"""

from __future__ import annotations

import math
from datetime import timedelta
from typing import Any, NamedTuple

import numpy as np
import pandas as pd

from monitor.model import SourceHealth
from monitor.signals.indicators import ns
from monitor.signals.inputs import FAILED_STATUSES, THROTTLE_STATUSES, View
from monitor.timeutil import parse_duration

DEFAULT_INTERVAL = timedelta(hours=1)
THROTTLE_HTTP = (429, 418)
FETCH = "fetch"  # the poll's summary run of one source-token fetch (rows = observations it returned)
SETTLE_GRACE = timedelta(days=1)  # data this long after a settlement means the market lives on


def stale_threshold(interval: timedelta, spacing: timedelta, stale_after: timedelta) -> timedelta:
    return 2 * max(interval, spacing) + stale_after


def source_health(view: View, stale_after: str, runs_window: timedelta = timedelta(days=1)) -> tuple[SourceHealth, ...]:
    """One SourceHealth row per source expected to report observations or holding data, per configured
    event-only source that was polled recently, and (token not configured) per other failing source.

    A venue that answered "not configured" for the token is not expected, so it is neither missing nor
    dark; an event-only source (chain, etherscan) stores events, not observations, so its latest poll
    run, not the age of a series, says whether it is healthy."""
    now = view.now
    intervals = dict(view.inputs.poll_intervals)
    event_sources = {s: i for s, i in view.inputs.event_sources.items() if s not in intervals}
    after = parse_duration(stale_after)
    runs_by = _recent_runs(view, now - runs_window)
    by_source: dict[str, list[tuple[int, timedelta]]] = {}  # source -> [(newest ns, spacing)]
    for metric in view.metrics():
        for src in view.sources(metric):
            t = view.times(metric, src)
            if len(t):
                by_source.setdefault(src, []).append((int(t[-1]), spacing_ns(t)))
    names = set(intervals) | set(by_source)
    names |= {s for s in event_sources if s not in by_source and s in runs_by}
    if not view.inputs.configured:  # expectations unknown: a source failing for this token still counts
        names |= {s for s, g in runs_by.items() if _latest_failed(g)}
    settled = settled_markets(view)
    rows = []
    for src in sorted(names):
        mine = runs_by.get(src, [])
        if src in event_sources and src not in by_source:
            rows.append(_event_source_health(src, mine, event_sources[src]))
            continue
        interval = intervals.get(src, DEFAULT_INTERVAL)
        series = by_source.get(src, [])
        last_ts = _ts(max(t for t, _ in series)) if series else None
        # the fastest series sets the expectation: hourly OI may not hide behind 8-hourly funding
        step = min((sp for _, sp in series), default=timedelta(0))
        threshold = stale_threshold(interval, step, after)
        age = (now - last_ts) if last_ts is not None else None
        stale = age is None or age > threshold
        settled_at = settled.get(src)
        if settled_at is not None and (last_ts is None or last_ts <= settled_at + SETTLE_GRACE):
            rows.append(_settled_health(src, settled_at, last_ts, age, interval))
            continue
        ok_at, fail_at, failures, throttled = _run_stats(mine)
        failing = _failing_last(ok_at, fail_at)
        empty = not failing and last_ts is not None and _latest_fetch_empty(mine)
        failing = failing or empty
        dark = stale or failing
        status = (("throttled" if throttled else "empty" if empty else "failing") if failing else
                  "missing" if last_ts is None else "stale" if stale else "ok")
        detail = _detail(status, age, threshold, failures, throttled, mine if failing and not empty else None)
        if empty:
            detail += "; last poll returned no rows"
        rows.append(SourceHealth(
            source=src, last_ok=_ts(ok_at).to_pydatetime() if ok_at is not None else None,
            last_ts=last_ts.to_pydatetime() if last_ts is not None else None, failures=failures,
            throttled=throttled, stale=stale, dark=dark, detail=detail, status=status,
            age_s=age.total_seconds() if age is not None else None,
            poll_interval_s=interval.total_seconds(), expected=src in intervals,
        ))
    return tuple(rows)


def settled_markets(view: View) -> dict[str, pd.Timestamp]:
    """Venue -> latest settlement (``perp_settled``) at or before now: a finished market, not a dark one."""
    out: dict[str, pd.Timestamp] = {}
    for e in view.inputs.events:
        venue = e.detail.get("venue") or e.source
        ts = pd.Timestamp(e.ts)
        if e.kind == "perp_settled" and venue and ts <= view.now:
            out[venue] = max(out.get(venue, ts), ts)
    return out


def _settled_health(src: str, settled_at: pd.Timestamp, last_ts: pd.Timestamp | None, age: timedelta | None,
                    interval: timedelta) -> SourceHealth:
    return SourceHealth(
        source=src, last_ok=None, last_ts=last_ts.to_pydatetime() if last_ts is not None else None, failures=0,
        throttled=0, stale=False, dark=False, detail=f"market settled {settled_at.isoformat()}; no data expected",
        status="settled", age_s=age.total_seconds() if age is not None else None,
        poll_interval_s=interval.total_seconds(), expected=False,
    )


class Run(NamedTuple):
    """One recent poll run of a source, in the order the store returned them."""

    started: int  # epoch ns
    status: Any
    http_status: Any
    rows: Any
    endpoint: Any  # None when the runs carry no endpoint or rows column: never a fetch


def _run_stats(runs: list[Run]) -> tuple[int | None, int | None, int, int]:
    """(last ok run, last failed run (epoch ns), failures, throttled) of one source's recent poll runs."""
    ok_at = fail_at = None
    failures = throttled = 0
    for r in runs:
        if r.status in FAILED_STATUSES:
            failures += 1
            fail_at = r.started if fail_at is None else max(fail_at, r.started)
        else:
            ok_at = r.started if ok_at is None else max(ok_at, r.started)
        if r.status in THROTTLE_STATUSES or r.http_status in THROTTLE_HTTP:
            throttled += 1
    return ok_at, fail_at, failures, throttled


def _latest_fetch_empty(runs: list[Run]) -> bool:
    """The source's latest whole fetch (ok or partial) returned no rows although the source has data: a
    blind spot, not "ok" (its per-request rows inside that poll say only that the venue answered)."""
    last: Run | None = None
    for r in runs:
        if r.endpoint == FETCH and (last is None or r.started >= last.started):
            last = r  # of fetches at the latest time, the last one stands
    return last is not None and not _isnan(last.rows) and int(last.rows) == 0  # a failed fetch is caught before


def _failing_last(ok_at: int | None, fail_at: int | None) -> bool:
    # a tie (same second) reads as failing: a poll's per-request rows and its failed summary share a stamp
    return fail_at is not None and (ok_at is None or fail_at >= ok_at)


def _latest_failed(runs: list[Run]) -> bool:
    ok_at, fail_at, _, _ = _run_stats(runs)
    return _failing_last(ok_at, fail_at)


def _event_source_health(src: str, runs: list[Run], interval: timedelta) -> SourceHealth:
    ok_at, fail_at, failures, throttled = _run_stats(runs)
    failing = _failing_last(ok_at, fail_at)
    status = ("throttled" if failing and throttled else "failing") if failing else "ok"
    detail = "events only; " + ("; ".join(p for p in (
        f"{failures} failed request(s)" if failures else "", f"{throttled} throttled (429/418)" if throttled else "",
        f"last poll {[r.status for r in runs if r.started == fail_at][-1]}" if failing else "last poll ok")
        if p))
    return SourceHealth(
        source=src, last_ok=_ts(ok_at).to_pydatetime() if ok_at is not None else None, last_ts=None,
        failures=failures, throttled=throttled, stale=False, dark=failing, detail=detail, status=status, age_s=None,
        poll_interval_s=interval.total_seconds(), expected=True,
    )


def _recent_runs(view: View, since: pd.Timestamp) -> dict[str, list[Run]]:
    """{source: its runs started in [since, now]}: plain tuples, a token has a few hundred a day and pandas
    per-source lookups cost more than the loop."""
    runs = view.inputs.poll_runs
    if isinstance(runs, (list, tuple)):
        return _recent_rows(runs, since.value, view.now.value)
    if runs is None or runs.empty or "source" not in runs:
        return {}
    started = pd.DatetimeIndex(pd.to_datetime(runs["started_at"], utc=True)).as_unit("ns").asi8
    keep = np.flatnonzero((started >= since.value) & (started <= view.now.value))
    if not len(keep):
        return {}
    sources = runs["source"].to_numpy()[keep].tolist()
    status = runs["status"].to_numpy()[keep].tolist()
    if "http_status" in runs:  # missing codes (NaN, None, NA) all read as None: no code to show
        col = runs["http_status"]
        http = col.astype(object).where(col.notna(), None).to_numpy()[keep].tolist()
    else:
        http = [None] * len(keep)
    has_fetch = "rows" in runs and "endpoint" in runs
    rows = runs["rows"].to_numpy()[keep].tolist() if has_fetch else [None] * len(keep)
    endpoint = runs["endpoint"].to_numpy()[keep].tolist() if has_fetch else [None] * len(keep)
    out: dict[str, list[Run]] = {}
    for i, src in enumerate(sources):
        if src is None or (isinstance(src, float) and math.isnan(src)):
            continue  # grouping by source leaves runs without one out
        out.setdefault(str(src), []).append(Run(int(started[keep[i]]), status[i], http[i], rows[i], endpoint[i]))
    return out


def _recent_rows(rows: list[tuple[Any, ...]] | tuple[tuple[Any, ...], ...], since_ns: int, now_ns: int
                 ) -> dict[str, list[Run]]:
    """_recent_runs of the store's rows (source, status, http_status, started_at epoch s, rows, endpoint)."""
    out: dict[str, list[Run]] = {}
    for source, status, http_status, started_s, n_rows, endpoint in rows:
        started = int(started_s) * 1_000_000_000
        if since_ns <= started <= now_ns and source is not None:
            out.setdefault(str(source), []).append(Run(started, status, http_status, n_rows, endpoint))
    return out


def _ts(ns_: int) -> pd.Timestamp:
    return pd.Timestamp(ns_, unit="ns", tz="UTC")


def spacing(index: pd.Index) -> timedelta:
    return spacing_ns(ns(index))


def spacing_ns(t: np.ndarray) -> timedelta:
    """Median gap of the last 50 points (whole ms) of sorted epoch-ns times; 0 for fewer than two."""
    if len(t) < 2:
        return timedelta(0)
    gaps = np.sort(np.diff(t[-50:]) // 1_000_000 / 1000.0)  # whole ms, as seconds
    k = len(gaps) // 2  # the median as numpy computes it, without its per-call overhead
    return timedelta(seconds=float(gaps[k] if len(gaps) % 2 else (gaps[k - 1] + gaps[k]) / 2))


def _detail(status: str, age: timedelta | None, threshold: timedelta, failures: int, throttled: int,
            failing: list[Run] | None) -> str:
    parts = []
    if age is None:
        parts.append("no data")
    else:
        parts.append(f"newest point {_hours(age)} old (stale after {_hours(threshold)})")
    if failures:
        parts.append(f"{failures} failed request(s)")
    if throttled:
        parts.append(f"{throttled} throttled (429/418)")
    if failing:
        last = failing[-1]
        code = last.http_status
        code_txt = f" HTTP {int(code)}" if code is not None and not _isnan(code) else ""
        parts.append(f"last poll {last.status}{code_txt}")
    return "; ".join(parts) if status != "ok" or failures else parts[0]


def _isnan(x: object) -> bool:
    try:
        return math.isnan(float(x))  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return True


def _hours(td: timedelta) -> str:
    h = td.total_seconds() / 3600
    return f"{h:.0f}h" if h < 72 else f"{h / 24:.1f}d"
