"""Indicators: pure functions over pandas series (tz-aware UTC index) and long frames.

Every function tolerates empty, NaN, inf and single-point input: it returns NaN (or an empty series)
instead of raising, so a rule can say "not enough data" rather than crash.
"""

from __future__ import annotations

import math
from datetime import datetime, timedelta

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


def mean_between(series: pd.Series, start: datetime, end: datetime) -> float:
    """Mean of values with ts in (start, end]; NaN when there is none."""
    s = clean(series)
    idx = s.index.values
    lo = int(idx.searchsorted(_np_time(start), side="right"))
    hi = int(idx.searchsorted(_np_time(end), side="right"))
    return float(s.to_numpy()[lo:hi].mean()) if hi > lo else math.nan


def value_at(series: pd.Series, when: datetime) -> float:
    """The latest finite value at or before ``when`` (NaN when none)."""
    s = clean(series)
    if s.empty:
        return math.nan
    pos = int(s.index.values.searchsorted(_np_time(when), side="right")) - 1
    return float(s.to_numpy()[pos]) if pos >= 0 else math.nan


def _np_time(when: datetime) -> np.datetime64:
    """A naive-UTC numpy time, comparable with a tz-aware index's ``.values``."""
    ts = pd.Timestamp(when)
    return (ts.tz_convert("UTC").tz_localize(None) if ts.tzinfo is not None else ts).to_datetime64()


def pct_change_over(series: pd.Series, window: timedelta, now: datetime) -> float:
    """Percent change from the value at ``now - window`` to the value at ``now`` (as-of lookups).

    NaN when either end is missing, when the series does not reach back to ``now - window`` or when
    the start value is zero or negative (a change from nothing has no percentage).
    """
    s = clean(series)
    if len(s) < 2:
        return math.nan
    start_t = pd.Timestamp(now) - window
    first = s.index[0]
    if first > start_t + window * 0.25:  # history too short to speak for the window
        return math.nan
    start = value_at(s, start_t) if first <= start_t else float(s.iloc[0])
    end = value_at(s, now)
    if not (math.isfinite(start) and math.isfinite(end)) or start <= 0:
        return math.nan
    with np.errstate(over="ignore"):
        change = (end / start - 1.0) * 100.0
    return change if math.isfinite(change) else math.nan


def rolling_zscore(series: pd.Series, window: timedelta | str | int) -> pd.Series:
    """(x - rolling mean) / rolling std over a time (``timedelta``/"30d") or count window."""
    s = clean(series)
    if s.empty:
        return EMPTY
    win = window if isinstance(window, int) else pd.Timedelta(window)
    with np.errstate(all="ignore"):
        roll = s.rolling(win, min_periods=3)
        std = roll.std()
        z = (s - roll.mean()) / std.where(std > 0)
    return z.where(np.isfinite(z))


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


def funding_8h(rate: pd.Series | float, interval_h: pd.Series | float) -> pd.Series | float:
    """Funding per settlement normalized to 8 hours: rate * 8 / interval. A missing or non-positive
    interval gives NaN, never an assumed 8 h."""
    if isinstance(rate, pd.Series) and isinstance(interval_h, pd.Series):
        interval = interval_h.reindex(rate.index, method="ffill") if len(interval_h) else interval_h.reindex(rate.index)
        interval = interval.where(interval > 0)
        return rate * 8.0 / interval
    if isinstance(interval_h, pd.Series):
        interval_h = interval_h.where(interval_h > 0)
        return rate * 8.0 / interval_h
    if isinstance(rate, pd.Series):
        return rate * 8.0 / interval_h if interval_h and interval_h > 0 and math.isfinite(interval_h) else rate * math.nan
    if not interval_h or interval_h <= 0 or not math.isfinite(interval_h):
        return math.nan
    return rate * 8.0 / interval_h


def wide(frame: pd.DataFrame | dict[str, pd.Series], freq: str = "1h", ffill_limit: int | None = 3) -> pd.DataFrame:
    """Long frame (ts, source, value) or {source: series} -> time x source on a regular grid; gaps are
    carried forward at most ``ffill_limit`` steps, so a venue that stops reporting drops out instead of
    freezing at its last value. Numpy placement: no pivot, no groupby."""
    if isinstance(frame, dict):
        parts = {k: clean(v) for k, v in frame.items()}
    elif frame is None or frame.empty:
        parts = {}
    else:
        parts = {str(src): clean(pd.Series(g["value"].to_numpy(), index=pd.DatetimeIndex(g["ts"])))
                 for src, g in frame.groupby("source", sort=True)}
    parts = {k: v for k, v in parts.items() if len(v)}
    if not parts:
        return pd.DataFrame(index=pd.DatetimeIndex([], tz="UTC"))
    step = pd.Timedelta(freq).value
    buckets = {k: (v.index.values.astype("datetime64[ns]").astype("int64") // step) for k, v in parts.items()}
    lo = min(int(b.min()) for b in buckets.values())
    hi = max(int(b.max()) for b in buckets.values())
    arr = np.full((hi - lo + 1, len(parts)), np.nan)
    for j, (k, v) in enumerate(parts.items()):
        arr[buckets[k] - lo, j] = v.to_numpy()  # sorted input: the last value in a bucket wins
    for _ in range(min(ffill_limit or 0, arr.shape[0])):
        gap = np.isnan(arr[1:]) & ~np.isnan(arr[:-1])
        if not gap.any():
            break
        arr[1:][gap] = arr[:-1][gap]
    index = pd.DatetimeIndex((np.arange(lo, hi + 1) * step).astype("datetime64[ns]"), tz="UTC")
    return pd.DataFrame(arr, index=index, columns=list(parts))


def aggregate_oi(frame: pd.DataFrame, freq: str = "1h") -> pd.Series:
    """Sum of per-venue ``oi_usd`` aligned in time (USD). A bucket with no venue is NaN, not zero."""
    table = wide(frame, freq)
    if table.empty:
        return EMPTY
    with np.errstate(over="ignore", invalid="ignore"):
        total = table.sum(axis=1, min_count=1)
    return total[np.isfinite(total.to_numpy())]


def oi_weighted_funding(oi: pd.DataFrame, funding: pd.DataFrame, freq: str = "1h") -> pd.Series:
    """Funding (per 8 h) averaged over venues, weighted by each venue's OI at that time."""
    w, f = wide(oi, freq), wide(funding, freq, ffill_limit=12)
    cols = [c for c in f.columns if c in w.columns]
    if not cols:
        return EMPTY
    idx = f.index
    fv, wv = f[cols].to_numpy(), w[cols].reindex(idx).to_numpy()
    ok = np.isfinite(fv) & np.isfinite(wv) & (wv > 0)
    num = np.where(ok, fv * wv, 0.0).sum(axis=1)
    den = np.where(ok, wv, 0.0).sum(axis=1)
    with np.errstate(divide="ignore", invalid="ignore"):
        out = np.where(den > 0, num / den, np.nan)
    return pd.Series(out, index=idx).dropna()


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
    idx = s.index.values
    lo = int(idx.searchsorted(_np_time(now - window), side="right"))
    hi = int(idx.searchsorted(_np_time(now), side="right"))
    return float(s.to_numpy()[lo:hi].sum()) if hi > lo else math.nan
