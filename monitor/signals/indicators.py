"""Indicators: pure functions over pandas series (tz-aware UTC index) and long frames.

Every function tolerates empty, NaN, inf and single-point input: it returns NaN (or an empty series)
instead of raising, so a rule can say "not enough data" rather than crash.
"""

from __future__ import annotations

import math
from datetime import datetime, timedelta
from typing import overload

import numpy as np
import pandas as pd

EMPTY = pd.Series(dtype="float64", index=pd.DatetimeIndex([], tz="UTC"))


def clean(series: pd.Series | None) -> pd.Series:
    """Finite values only, sorted by time, float64."""
    if series is None or len(series) == 0:
        return EMPTY
    if series.dtype == "float64":
        raw = series.to_numpy()
        if np.isfinite(raw).all() and series.index.is_monotonic_increasing:
            return series  # the common case: already clean, no copy
    values = pd.to_numeric(series, errors="coerce").astype("float64")
    values = values[np.isfinite(values.to_numpy())]
    if not values.index.is_monotonic_increasing:
        values = values.sort_index()
    return values


def value_at(series: pd.Series, when: datetime) -> float:
    """The latest finite value at or before ``when`` (NaN when none)."""
    s = clean(series)
    if s.empty:
        return math.nan
    pos = int(ns(s.index).searchsorted(t_ns(when), side="right")) - 1
    return float(s.to_numpy()[pos]) if pos >= 0 else math.nan


def ns(index: pd.Index) -> np.ndarray:
    """Epoch nanoseconds (UTC) of a time index, whatever its unit (``.values`` of a tz-aware index is
    deprecated in pandas 3 and warns on every call)."""
    if isinstance(index, pd.DatetimeIndex):
        return (index if index.unit == "ns" else index.as_unit("ns")).asi8
    return np.asarray(index, dtype="datetime64[ns]").astype("int64")


def t_ns(when: datetime) -> int:
    """Epoch nanoseconds of a time (naive means UTC)."""
    return int(pd.Timestamp(when).value)


def pct_change_over(series: pd.Series, window: timedelta, now: datetime) -> float:
    """Percent change from the value at ``now - window`` to the value at ``now`` (as-of lookups).

    NaN when either end is missing, when the series does not reach back to ``now - window`` or when
    the start value is zero or negative (a change from nothing has no percentage).
    """
    s = clean(series)
    return pct_change_arrays(ns(s.index), s.to_numpy(), pd.Timedelta(window).value, t_ns(now))


def pct_change_arrays(t: np.ndarray, v: np.ndarray, window_ns: int, now_ns: int) -> float:
    """pct_change_over on sorted epoch-ns times and finite values (no pandas objects in the hot path)."""
    if len(t) < 2:
        return math.nan
    start_t = now_ns - window_ns
    first = int(t[0])
    if first > start_t + window_ns // 4:  # history too short to speak for the window
        return math.nan
    pos = int(t.searchsorted(start_t, side="right")) - 1
    start = float(v[pos]) if first <= start_t else float(v[0])
    pos = int(t.searchsorted(now_ns, side="right")) - 1
    end = float(v[pos]) if pos >= 0 else math.nan
    if not (math.isfinite(start) and math.isfinite(end)) or start <= 0:
        return math.nan
    with np.errstate(over="ignore"):
        change = (end / start - 1.0) * 100.0
    return change if math.isfinite(change) else math.nan


def wilder_rsi(close: pd.Series, period: int = 14) -> pd.Series:
    """Wilder's RSI: the first average is a simple mean of ``period`` changes, then
    avg = (prev * (period - 1) + current) / period. NaN until ``period`` changes exist."""
    s = clean(close)
    out = wilder_rsi_matrix(s.to_numpy()[:, None], period)[:, 0] if len(s) else np.array([])
    return pd.Series(out, index=s.index, dtype="float64")


def wilder_rsi_matrix(close: np.ndarray, period: int = 14) -> np.ndarray:
    """RSI of many aligned series at once (rows = time, columns = series); loop over time only."""
    close = np.asarray(close, dtype="float64")
    n, m = close.shape
    out = np.full((n, m), np.nan)
    if n <= period or period < 1:
        return out
    with np.errstate(all="ignore"):  # extreme magnitudes overflow to inf; the result is then NaN, not a crash
        _wilder_loop(close, period, out)
    out[~np.isfinite(out)] = np.nan
    return out


def _wilder_loop(close: np.ndarray, period: int, out: np.ndarray) -> None:
    n = close.shape[0]
    delta = np.diff(close, axis=0)
    gain = np.where(delta > 0, delta, 0.0)
    loss = np.where(delta < 0, -delta, 0.0)
    avg_g = gain[:period].mean(axis=0)
    avg_l = loss[:period].mean(axis=0)
    out[period] = _rsi(avg_g, avg_l)
    k = period - 1
    for i in range(period, n - 1):
        avg_g = (avg_g * k + gain[i]) / period
        avg_l = (avg_l * k + loss[i]) / period
        out[i + 1] = _rsi(avg_g, avg_l)


def _rsi(avg_gain: np.ndarray, avg_loss: np.ndarray) -> np.ndarray:
    with np.errstate(divide="ignore", invalid="ignore"):
        rsi = 100.0 - 100.0 / (1.0 + avg_gain / avg_loss)
    rsi = np.where(avg_loss == 0, np.where(avg_gain == 0, 50.0, 100.0), rsi)
    return rsi


def resample_close(close: pd.Series, rule: str) -> pd.Series:
    """Closes on a coarser grid ("4h", "1D"): the last value in each bucket."""
    s = clean(close)
    if s.empty:
        return EMPTY
    return s.resample(rule, label="left", closed="left").last().dropna()


@overload
def funding_8h(rate: pd.Series, interval_h: pd.Series | float) -> pd.Series: ...
@overload
def funding_8h(rate: float, interval_h: pd.Series) -> pd.Series: ...
@overload
def funding_8h(rate: float, interval_h: float) -> float: ...
def funding_8h(rate: pd.Series | float, interval_h: pd.Series | float) -> pd.Series | float:
    """Funding per settlement normalized to 8 hours: rate * 8 / interval. A missing or non-positive
    interval gives NaN, never an assumed 8 h."""
    if isinstance(rate, pd.Series) and isinstance(interval_h, pd.Series):
        if not len(interval_h) or not (rate.index.is_monotonic_increasing and interval_h.index.is_monotonic_increasing):
            interval = (interval_h.reindex(rate.index, method="ffill") if len(interval_h)
                        else interval_h.reindex(rate.index))
            interval = interval.where(interval > 0)
            return rate * 8.0 / interval
        # the interval in force at each settlement (as-of, carried forward), by searchsorted
        pos = ns(interval_h.index).searchsorted(ns(rate.index), side="right") - 1
        iv = interval_h.to_numpy(dtype="float64")[np.maximum(pos, 0)]
        iv = np.where((pos >= 0) & (iv > 0), iv, np.nan)
        return pd.Series(rate.to_numpy(dtype="float64") * 8.0 / iv, index=rate.index, name=rate.name)
    if isinstance(interval_h, pd.Series):
        interval_h = interval_h.where(interval_h > 0)
        return rate * 8.0 / interval_h
    if isinstance(rate, pd.Series):
        return rate * 8.0 / interval_h if interval_h and interval_h > 0 and math.isfinite(interval_h) else rate * math.nan
    if not interval_h or interval_h <= 0 or not math.isfinite(interval_h):
        return math.nan
    return rate * 8.0 / interval_h


def _parts(frame: pd.DataFrame | dict[str, pd.Series] | None) -> dict[str, pd.Series]:
    if isinstance(frame, dict):
        parts = {k: clean(v) for k, v in frame.items()}
    elif frame is None or frame.empty:
        parts = {}
    else:
        parts = {str(src): clean(pd.Series(g["value"].to_numpy(), index=pd.DatetimeIndex(g["ts"])))
                 for src, g in frame.groupby("source", sort=True)}
    return {k: v for k, v in parts.items() if len(v)}


def grid(parts: dict[str, pd.Series], freq: str = "1h", ffill_limit: int | None = 3
         ) -> tuple[int, int, np.ndarray, list[str]]:
    """(first bucket, bucket ns, time x series array, columns) of clean series placed on a regular grid."""
    step = pd.Timedelta(freq).value
    if not parts:
        return 0, step, np.empty((0, 0)), []
    buckets = {k: ns(v.index) // step for k, v in parts.items()}
    lo = min(int(b[0]) for b in buckets.values())  # clean series are sorted
    hi = max(int(b[-1]) for b in buckets.values())
    arr = np.full((hi - lo + 1, len(parts)), np.nan)
    for j, (k, v) in enumerate(parts.items()):
        arr[buckets[k] - lo, j] = v.to_numpy()  # sorted input: the last value in a bucket wins
    for _ in range(min(ffill_limit or 0, arr.shape[0])):
        gap = np.isnan(arr[1:]) & ~np.isnan(arr[:-1])
        if not gap.any():
            break
        arr[1:][gap] = arr[:-1][gap]
    return lo, step, arr, list(parts)


def _grid_index(lo: int, step: int, n: int) -> pd.DatetimeIndex:
    return pd.DatetimeIndex((np.arange(lo, lo + n) * step).astype("datetime64[ns]"), tz="UTC")


def wide(frame: pd.DataFrame | dict[str, pd.Series], freq: str = "1h", ffill_limit: int | None = 3) -> pd.DataFrame:
    """Long frame (ts, source, value) or {source: series} -> time x source on a regular grid; gaps are
    carried forward at most ``ffill_limit`` steps, so a venue that stops reporting drops out instead of
    freezing at its last value. Numpy placement: no pivot, no groupby."""
    lo, step, arr, cols = grid(_parts(frame), freq, ffill_limit)
    if not cols:
        return pd.DataFrame(index=pd.DatetimeIndex([], tz="UTC"))
    return pd.DataFrame(arr, index=_grid_index(lo, step, arr.shape[0]), columns=cols)


def table_sum(table: pd.DataFrame) -> pd.Series:
    """Row sums of a time x series table; a row with no value is dropped, not zero."""
    if table.empty:
        return EMPTY
    arr = table.to_numpy()
    have = np.isfinite(arr)
    with np.errstate(over="ignore", invalid="ignore"):
        total = np.where(have, arr, 0.0).sum(axis=1)
    keep = have.any(axis=1) & np.isfinite(total)
    return pd.Series(total[keep], index=table.index[keep], dtype="float64")


def covered_sum(table: pd.DataFrame, start: datetime, tolerance: timedelta) -> pd.Series:
    """Sum over the columns whose first value is at or before ``start + tolerance``, only at rows where
    every one of them has a value: a column that starts later cannot make the sum jump."""
    if table.empty:
        return EMPTY
    keep, total = covered_rows(ns(table.index), table.to_numpy(), t_ns(pd.Timestamp(start) + tolerance))
    return pd.Series(total, index=table.index[keep], dtype="float64")


def covered_rows(index_ns: np.ndarray, arr: np.ndarray, limit_ns: int) -> tuple[np.ndarray, np.ndarray]:
    """(row mask, row sums) of covered_sum on arrays."""
    have = np.isfinite(arr)
    first = np.where(have.any(axis=0), have.argmax(axis=0), len(arr))
    cols = first < int(index_ns.searchsorted(limit_ns, side="right"))
    if not cols.any():
        return np.zeros(len(arr), dtype=bool), np.empty(0)
    ok = have[:, cols].all(axis=1)
    with np.errstate(over="ignore", invalid="ignore"):
        total = arr[ok][:, cols].sum(axis=1)
    fin = np.isfinite(total)
    if not fin.all():
        ok[np.flatnonzero(ok)[~fin]] = False
        total = total[fin]
    return ok, total


def oi_weighted_funding(oi: pd.DataFrame | dict[str, pd.Series], funding: pd.DataFrame | dict[str, pd.Series],
                        freq: str = "1h") -> pd.Series:
    """Funding (per 8 h) averaged over venues, weighted by each venue's OI at that time."""
    lo_w, step, wa, wcols = grid(_parts(oi), freq)
    lo_f, _, fa, fcols = grid(_parts(funding), freq, ffill_limit=12)
    cols = [c for c in fcols if c in wcols]
    if not cols:
        return EMPTY
    fv = fa[:, [fcols.index(c) for c in cols]]
    rows = np.arange(lo_f, lo_f + fa.shape[0]) - lo_w  # the OI grid reindexed onto the funding grid
    inside = (rows >= 0) & (rows < wa.shape[0])
    wv = np.full(fv.shape, np.nan)
    wv[inside] = wa[rows[inside]][:, [wcols.index(c) for c in cols]]
    ok = np.isfinite(fv) & np.isfinite(wv) & (wv > 0)
    num = np.where(ok, fv * wv, 0.0).sum(axis=1)
    den = np.where(ok, wv, 0.0).sum(axis=1)
    with np.errstate(divide="ignore", invalid="ignore"):
        out = np.where(den > 0, num / den, np.nan)
    keep = ~np.isnan(out)
    return pd.Series(out[keep], index=_grid_index(lo_f, step, fa.shape[0])[keep], dtype="float64")


def ratio(numerator: float, denominator: float) -> float:
    """numerator / denominator, NaN unless both are finite and the denominator is positive."""
    if not (math.isfinite(numerator) and math.isfinite(denominator)) or denominator <= 0:
        return math.nan
    return numerator / denominator


def oi_to_market_cap(oi_usd: float, market_cap_usd: float) -> float:
    return ratio(oi_usd, market_cap_usd)


def oi_to_tvl(oi_usd: float, tvl_usd: float) -> float:
    return ratio(oi_usd, tvl_usd)


def perp_spot_ratio(perp_volume_24h: float, spot_volume_24h: float) -> float:
    return ratio(perp_volume_24h, spot_volume_24h)


def sum_over(series: pd.Series, window: timedelta, now: datetime) -> float:
    """Sum of bar values with ts in (now - window, now]; NaN when there is none."""
    s = clean(series)
    if s.empty:
        return math.nan
    idx = ns(s.index)
    lo = int(idx.searchsorted(t_ns(now - window), side="right"))
    hi = int(idx.searchsorted(t_ns(now), side="right"))
    return float(s.to_numpy()[lo:hi].sum()) if hi > lo else math.nan


def last_day_volume(series: pd.Series, now: datetime, day_max_age: timedelta) -> float:
    """A day's volume from bars: bars finer than a day are summed over (now - 24h, now]; daily (or
    coarser) bars give the latest bar that is complete at ``now`` and ended at most ``day_max_age`` ago,
    scaled to 24 h. NaN when there is none."""
    s = clean(series)
    if s.empty:
        return math.nan
    idx = ns(s.index)
    day = 86_400 * 10**9
    step = int(np.median(np.diff(idx[-50:]))) if len(idx) > 1 else 0
    if step < day * 0.9:
        return sum_over(s, timedelta(days=1), now)
    t = t_ns(now)
    done = int((idx + step).searchsorted(t, side="right")) - 1  # bars whose end is at or before now
    if done < 0 or t - (int(idx[done]) + step) > pd.Timedelta(day_max_age).value:
        return math.nan
    return float(s.iloc[done]) * day / step
