"""Source health: freshness of each source against its poll interval, failures and throttling.

A source is *stale* when its newest observation is older than ``2 × max(poll interval, bar spacing)
+ signals.stale_after`` (a daily bar is only complete a day after its ts, and then waits for the
next poll), and *dark* when it is stale or its latest poll failed (error, timeout, 429/418 ...).
"""

from __future__ import annotations

import math
from datetime import timedelta

import numpy as np
import pandas as pd

from monitor.model import SourceHealth
from monitor.signals.inputs import FAILED_STATUSES, THROTTLE_STATUSES, View
from monitor.timeutil import parse_duration

DEFAULT_INTERVAL = timedelta(hours=1)
THROTTLE_HTTP = (429, 418)


def stale_threshold(interval: timedelta, spacing: timedelta, stale_after: timedelta) -> timedelta:
    return 2 * max(interval, spacing) + stale_after


def source_health(view: View, stale_after: str, runs_window: timedelta = timedelta(days=1)) -> tuple[SourceHealth, ...]:
    """One SourceHealth row per source that is expected, has data, or was polled recently."""
    now = view.now
    intervals = dict(view.inputs.poll_intervals)
    after = parse_duration(stale_after)
    runs = _recent_runs(view, now - runs_window)
    by_source: dict[str, list[tuple[pd.Timestamp, timedelta]]] = {}
    for metric in view.metrics():
        for src in view.sources(metric):
            s = view.series(metric, src)
            if len(s):
                by_source.setdefault(src, []).append((s.index[-1], spacing(s.index)))
    names = sorted(set(intervals) | set(by_source) | (set(runs["source"]) if len(runs) else set()))
    rows = []
    for src in names:
        interval = intervals.get(src, DEFAULT_INTERVAL)
        series = by_source.get(src, [])
        last_ts = max((t for t, _ in series), default=None)
        # the fastest series sets the expectation: hourly OI may not hide behind 8-hourly funding
        step = min((sp for _, sp in series), default=timedelta(0))
        threshold = stale_threshold(interval, step, after)
        age = (now - last_ts) if last_ts is not None else None
        stale = age is None or age > threshold
        mine = runs[runs["source"] == src] if len(runs) else runs
        ok_at = _last(mine, ~mine["status"].isin(FAILED_STATUSES)) if len(mine) else None
        fail_mask = mine["status"].isin(FAILED_STATUSES) if len(mine) else None
        throttle_mask = (mine["status"].isin(THROTTLE_STATUSES) | mine["http_status"].isin(THROTTLE_HTTP)) if len(mine) else None
        failures = int(fail_mask.sum()) if fail_mask is not None else 0
        throttled = int(throttle_mask.sum()) if throttle_mask is not None else 0
        fail_at = _last(mine, fail_mask) if fail_mask is not None else None
        failing = fail_at is not None and (ok_at is None or fail_at > ok_at)
        dark = stale or failing
        status = "missing" if last_ts is None else ("throttled" if failing and throttled else
                                                    "failing" if failing else "stale" if stale else "ok")
        detail = _detail(status, age, threshold, failures, throttled, mine if failing else None)
        rows.append(SourceHealth(
            source=src, last_ok=ok_at.to_pydatetime() if ok_at is not None else None,
            last_ts=last_ts.to_pydatetime() if last_ts is not None else None, failures=failures,
            throttled=throttled, stale=stale, dark=dark, detail=detail, status=status,
            age_s=age.total_seconds() if age is not None else None,
            poll_interval_s=interval.total_seconds(), expected=src in intervals,
        ))
    return tuple(rows)


def _recent_runs(view: View, since: pd.Timestamp) -> pd.DataFrame:
    runs = view.inputs.poll_runs
    if runs is None or runs.empty or "source" not in runs:
        return pd.DataFrame(columns=["source", "status", "http_status", "started_at", "message"])
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
    gaps = np.diff(index[-50:].values).astype("timedelta64[ms]").astype("float64") / 1000.0
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
