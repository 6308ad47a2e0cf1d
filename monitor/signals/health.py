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
from functools import cache

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
    runs = _recent_runs(view, now - runs_window)
    by_source: dict[str, list[tuple[pd.Timestamp, timedelta]]] = {}
    for metric in view.metrics():
        for src in view.sources(metric):
            s = view.series(metric, src)
            if len(s):
                by_source.setdefault(src, []).append((s.index[-1], spacing(s.index)))
    runs_by = {str(src): g for src, g in runs.groupby("source", sort=False)} if len(runs) else {}
    names = set(intervals) | set(by_source)
    names |= {s for s in event_sources if s not in by_source and s in runs_by}
    if not view.inputs.configured:  # expectations unknown: a source failing for this token still counts
        names |= {s for s, g in runs_by.items() if _latest_failed(g)}
    settled = settled_markets(view)
    rows = []
    for src in sorted(names):
        mine = runs_by.get(src, runs.iloc[:0])
        if src in event_sources and src not in by_source:
            rows.append(_event_source_health(src, mine, event_sources[src]))
            continue
        interval = intervals.get(src, DEFAULT_INTERVAL)
        series = by_source.get(src, [])
        last_ts = max((t for t, _ in series), default=None)
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
            source=src, last_ok=ok_at.to_pydatetime() if ok_at is not None else None,
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


def _run_stats(runs: pd.DataFrame) -> tuple[pd.Timestamp | None, pd.Timestamp | None, int, int]:
    """(last ok run, last failed run, failures, throttled) of one source's recent poll runs."""
    if not len(runs):
        return None, None, 0, 0
    fail_mask = runs["status"].isin(FAILED_STATUSES)
    throttle_mask = runs["status"].isin(THROTTLE_STATUSES) | runs["http_status"].isin(THROTTLE_HTTP)
    return _last(runs, ~fail_mask), _last(runs, fail_mask), int(fail_mask.sum()), int(throttle_mask.sum())


def _latest_fetch_empty(runs: pd.DataFrame) -> bool:
    """The source's latest whole fetch (ok or partial) returned no rows although the source has data: a
    blind spot, not "ok" (its per-request rows inside that poll say only that the venue answered)."""
    if not len(runs) or "rows" not in runs or "endpoint" not in runs:
        return False
    fetches = runs[runs["endpoint"] == FETCH]
    if not len(fetches):
        return False
    last = fetches.loc[fetches["started_at"] == fetches["started_at"].max()].iloc[-1]
    return pd.notna(last["rows"]) and int(last["rows"]) == 0  # a failed fetch is caught before this


def _failing_last(ok_at: pd.Timestamp | None, fail_at: pd.Timestamp | None) -> bool:
    # a tie (same second) reads as failing: a poll's per-request rows and its failed summary share a stamp
    return fail_at is not None and (ok_at is None or fail_at >= ok_at)


def _latest_failed(runs: pd.DataFrame) -> bool:
    ok_at, fail_at, _, _ = _run_stats(runs)
    return _failing_last(ok_at, fail_at)


def _event_source_health(src: str, runs: pd.DataFrame, interval: timedelta) -> SourceHealth:
    ok_at, fail_at, failures, throttled = _run_stats(runs)
    failing = _failing_last(ok_at, fail_at)
    status = ("throttled" if failing and throttled else "failing") if failing else "ok"
    detail = "events only; " + ("; ".join(p for p in (
        f"{failures} failed request(s)" if failures else "", f"{throttled} throttled (429/418)" if throttled else "",
        f"last poll {runs.loc[runs['started_at'] == fail_at, 'status'].iloc[-1]}" if failing else "last poll ok")
        if p))
    return SourceHealth(
        source=src, last_ok=ok_at.to_pydatetime() if ok_at is not None else None, last_ts=None, failures=failures,
        throttled=throttled, stale=False, dark=failing, detail=detail, status=status, age_s=None,
        poll_interval_s=interval.total_seconds(), expected=True,
    )


@cache
def _no_runs() -> pd.DataFrame:  # read-only; built once, when first needed
    return pd.DataFrame(columns=["source", "status", "http_status", "started_at", "message"])


def _recent_runs(view: View, since: pd.Timestamp) -> pd.DataFrame:
    runs = view.inputs.poll_runs
    if runs is None or runs.empty or "source" not in runs:
        return _no_runs()
    started = pd.to_datetime(runs["started_at"], utc=True)
    keep = (started >= since) & (started <= view.now)
    out = runs.loc[keep].copy()
    out["started_at"] = started[keep]
    if "http_status" not in out:
        out["http_status"] = np.nan
    return out


def _last(runs: pd.DataFrame, mask: pd.Series) -> pd.Timestamp | None:
    hit = runs.loc[mask, "started_at"]
    return hit.max() if len(hit) else None


def spacing(index: pd.DatetimeIndex) -> timedelta:
    if len(index) < 2:
        return timedelta(0)
    gaps = np.diff(ns(index[-50:])) // 1_000_000 / 1000.0  # whole ms, as seconds
    return timedelta(seconds=float(np.median(gaps))) if len(gaps) else timedelta(0)


def _detail(status: str, age: timedelta | None, threshold: timedelta, failures: int, throttled: int,
            failing: pd.DataFrame | None) -> str:
    parts = []
    if age is None:
        parts.append("no data")
    else:
        parts.append(f"newest point {_hours(age)} old (stale after {_hours(threshold)})")
    if failures:
        parts.append(f"{failures} failed request(s)")
    if throttled:
        parts.append(f"{throttled} throttled (429/418)")
    if failing is not None and len(failing):
        last = failing.iloc[-1]
        code = last.get("http_status")
        code_txt = f" HTTP {int(code)}" if code is not None and not _isnan(code) else ""
        parts.append(f"last poll {last['status']}{code_txt}")
    return "; ".join(parts) if status != "ok" or failures else parts[0]


def _isnan(x: object) -> bool:
    try:
        return math.isnan(float(x))  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return True


def _hours(td: timedelta) -> str:
    h = td.total_seconds() / 3600
    return f"{h:.0f}h" if h < 72 else f"{h / 24:.1f}d"
