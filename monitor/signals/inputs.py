"""What a judgement needs, and a prepared read-only view of it that the rules share."""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import numpy as np
import pandas as pd

from monitor import model as m
from monitor.model import Event
from monitor.signals import indicators as ind

VENUES = ("binance", "bybit", "okx", "gate", "bitget", "hyperliquid")
FAILED_STATUSES = frozenset({"error", "throttled", "banned", "timeout", "parse", "auth"})
THROTTLE_STATUSES = frozenset({"throttled", "banned"})
# flows compare like spans (a day's activity vs a day's activity); levels compare points
ONCHAIN_LEVELS = (m.TVL_TOKEN, m.HOLDERS)
ONCHAIN_FLOWS = (m.ACTIVE_ADDRESSES, m.TRANSFER_COUNT, m.DEX_VOLUME_USD)
DEV_METRICS = (m.DEV_COMMITS, m.DEV_CONTRIBUTORS)
ONCHAIN_METRICS = (m.TVL_TOKEN, m.TVL_USD, m.HOLDERS, *ONCHAIN_FLOWS, *DEV_METRICS)
ROLLING_24H_SOURCES = frozenset({"coingecko"})  # volume points are rolling 24h totals, not bars
_NO_TIMES = np.empty(0, dtype="int64")


@dataclass(frozen=True)
class TokenInputs:
    """Everything one token's judgement reads. Frames hold only the lookback; nothing here does I/O.

    observations: long frame (ts, source, token, metric, value) with tz-aware UTC ts; or
    series: {(metric, source): (epoch seconds int64, values float64)} sorted by time, as the evaluation
        job reads them (used instead of ``observations`` when given; no long frame is built).
    poll_runs: the store's poll_runs frame (source, status, http_status, started_at, ...), or its rows as
        tuples (source, status, http_status, started_at epoch seconds, rows, endpoint) as the evaluation
        job reads them.
    poll_intervals: configured poll interval per source expected to report observations for this token.
    event_sources: event-only sources configured for this token (chain, etherscan: events, no
        observations), with their poll intervals; healthy while their latest poll run succeeded.
    configured: the token's configuration is known, so a source outside ``poll_intervals`` and
        ``event_sources`` (e.g. a venue that answered "not configured") is not expected at all.
    """

    token: str
    observations: pd.DataFrame | None = None
    events: tuple[Event, ...] = ()
    poll_runs: pd.DataFrame | list[tuple[Any, ...]] | tuple[tuple[Any, ...], ...] | None = None
    poll_intervals: Mapping[str, timedelta] = field(default_factory=dict)
    event_sources: Mapping[str, timedelta] = field(default_factory=dict)
    configured: bool = False
    series: Mapping[tuple[str, str], tuple[np.ndarray, np.ndarray]] | None = None


class View:
    """Observations split by metric and source once, cut at ``now``, non-finite values dropped. Each series
    is held as (epoch ns, values) arrays; its pandas series is built the first time a rule asks for it."""

    def __init__(self, inputs: TokenInputs, now: datetime, min_points: int = 1):
        self.inputs = inputs
        self.now = pd.Timestamp(now)
        self.reasons: list[str] = []
        self._arrays: dict[tuple[str, str], tuple[np.ndarray, np.ndarray]] = {}
        self._series: dict[tuple[str, str], pd.Series] = {}
        self._cache: dict[str, Any] = {}
        self._metric_sources: dict[str, list[str]] = {}
        if inputs.series is not None:
            self._from_arrays(inputs.series, min_points)
            return
        obs = inputs.observations
        if obs is None or obs.empty:
            return
        values = pd.to_numeric(obs["value"], errors="coerce").to_numpy(dtype="float64")
        ts_col = obs["ts"]
        if not isinstance(ts_col.dtype, pd.DatetimeTZDtype):
            ts_col = pd.to_datetime(ts_col, utc=True)
        ts = pd.DatetimeIndex(ts_col).as_unit("ns").asi8
        finite = np.isfinite(values)
        if not finite.all():
            self.reasons.append(f"{int((~finite).sum())} non-finite observation value(s) ignored")
        keep = finite & (ts <= self.now.value)
        m_codes, m_names = pd.factorize(obs["metric"])  # categorical columns factorize for free
        s_codes, s_names = pd.factorize(obs["source"])
        m_codes, s_codes = m_codes[keep], s_codes[keep]
        ts, values = ts[keep], values[keep]
        key = m_codes.astype("int64") * max(len(s_names), 1) + s_codes
        order = np.lexsort((ts, key))
        key, ts, values = key[order], ts[order], values[order]
        cuts = np.flatnonzero(np.diff(key)) + 1
        short = []
        for lo, hi in zip(np.r_[0, cuts], np.r_[cuts, len(key)], strict=True):
            if hi <= lo:
                continue
            metric, source = str(m_names[key[lo] // max(len(s_names), 1)]), str(s_names[key[lo] % max(len(s_names), 1)])
            t_seg, v_seg = ts[lo:hi], values[lo:hi]
            last = np.r_[t_seg[1:] != t_seg[:-1], True]  # duplicate ts: the last one stands
            if int(last.sum()) < min_points:  # too short to say anything (fault C2)
                short.append(f"{metric}@{source}")
                continue
            self._arrays[(metric, source)] = (t_seg[last], v_seg[last])
            self._metric_sources.setdefault(metric, []).append(source)
        for srcs in self._metric_sources.values():
            srcs.sort()
        if short:
            self.reasons.append(f"series with fewer than {min_points} points ignored: {', '.join(sorted(short)[:8])}")

    def _from_arrays(self, series: Mapping[tuple[str, str], tuple[np.ndarray, np.ndarray]], min_points: int) -> None:
        """The same cut as for a long frame (finite, at or before now, last of duplicate ts, min points)."""
        now_s = self.now.value // 1_000_000_000
        short, dropped = [], 0
        for (metric, source) in sorted(series):
            ts, values = series[(metric, source)]
            finite = np.isfinite(values)
            if not finite.all():
                dropped += int((~finite).sum())
            keep = finite & (ts <= now_s)
            if not keep.all():
                ts, values = ts[keep], values[keep]
            if len(ts) > 1 and not (np.diff(ts) > 0).all():
                order = np.argsort(ts, kind="stable")
                ts, values = ts[order], values[order]
                last = np.r_[ts[1:] != ts[:-1], True]
                ts, values = ts[last], values[last]
            if len(ts) < min_points:
                short.append(f"{metric}@{source}")
                continue
            self._arrays[(metric, source)] = (ts * 1_000_000_000, values)
            self._metric_sources.setdefault(metric, []).append(source)
        if dropped:
            self.reasons.append(f"{dropped} non-finite observation value(s) ignored")
        for srcs in self._metric_sources.values():
            srcs.sort()
        if short:
            self.reasons.append(f"series with fewer than {min_points} points ignored: {', '.join(sorted(short)[:8])}")

    # ------------------------------------------------------------ raw access

    def metrics(self) -> list[str]:
        return sorted(self._metric_sources)

    def metric(self, metric: str, sources: tuple[str, ...] | None = None) -> dict[str, pd.Series]:
        """{source: series} of a metric, optionally only these sources."""
        return {s: self.series(metric, s) for s in self._metric_sources.get(metric, [])
                if sources is None or s in sources}

    def sources(self, metric: str) -> list[str]:
        return self._metric_sources.get(metric, [])

    def series(self, metric: str, source: str) -> pd.Series:
        key = (metric, source)
        s = self._series.get(key)
        if s is None:
            if key not in self._arrays:
                return ind.EMPTY
            t, v = self._arrays[key]  # a view of the int64 ns, not a copy: half the cost of astype
            idx = pd.DatetimeIndex(t.view("datetime64[ns]"), tz="UTC")
            s = self._series[key] = pd.Series(v.astype("float64", copy=False), index=idx, copy=False)
        return s

    def times(self, metric: str, source: str) -> np.ndarray:
        """Epoch ns of a series' points, oldest first (empty when there is none): no pandas object built."""
        arr = self._arrays.get((metric, source))
        return arr[0] if arr is not None else _NO_TIMES

    def first_series(self, metric: str, prefer: tuple[str, ...] = ()) -> tuple[str | None, pd.Series]:
        """A metric's series from the first preferred source that has it (else any source)."""
        have = self.sources(metric)
        for src in [*prefer, *have]:
            if src in have:
                return src, self.series(metric, src)
        return None, ind.EMPTY

    def last_ts(self, metric: str, source: str) -> pd.Timestamp | None:
        t = self.times(metric, source)
        return pd.Timestamp(int(t[-1]), unit="ns", tz="UTC") if len(t) else None

    def latest(self, metric: str, source: str) -> float:
        arr = self._arrays.get((metric, source))
        return float(arr[1][-1]) if arr is not None and len(arr[1]) else math.nan

    # ------------------------------------------------------------ derived, cached

    def price(self) -> tuple[str | None, pd.Series]:
        """Hourly venue closes when any, else CoinGecko's."""
        for metric in (m.PRICE_CLOSE_1H, m.PRICE_CLOSE):
            src, s = self.first_series(metric, prefer=(*VENUES, "coingecko"))
            if src is not None and len(s) >= 2:
                return src, s
        return None, ind.EMPTY

    def funding_8h(self) -> tuple[pd.Series, list[str]]:
        """OI-weighted funding per 8 h across venues (normalized by each venue's real interval)."""
        if "funding" in self._cache:
            cached: tuple[pd.Series, list[str]] = self._cache["funding"]
            return cached
        parts = self.funding_8h_by_source()
        used = sorted(parts)
        if not used:
            result: tuple[pd.Series, list[str]] = (ind.EMPTY, [])
        else:
            weighted = ind.oi_weighted_funding(self.metric(m.OI_USD), parts)
            if weighted.empty:  # no OI to weigh by: plain mean
                weighted = ind.wide(parts, ffill_limit=12).mean(axis=1).dropna()
            result = (weighted, used)
        self._cache["funding"] = result
        return result

    def funding_8h_by_source(self) -> dict[str, pd.Series]:
        """{source: funding per 8 h}: stored normalised, else each settlement's rate × 8 / the interval in
        force then (never raw per-settlement funding read as per 8 h; no interval, no value)."""
        if "funding_by_source" in self._cache:
            by_source: dict[str, pd.Series] = self._cache["funding_by_source"]
            return by_source
        parts = dict(self.metric(m.FUNDING_RATE_8H))
        for src in self.sources(m.FUNDING_RATE):
            if src in parts:
                continue
            interval = self.series(m.FUNDING_INTERVAL_H, src)
            if len(interval):
                norm = ind.funding_8h(self.series(m.FUNDING_RATE, src), interval).dropna()
                if len(norm):
                    parts[src] = norm
        self._cache["funding_by_source"] = parts
        return parts

    def volume_24h(self, metric: str, exclude: tuple[str, ...] = (), day_max_age: timedelta = timedelta(hours=36)
                   ) -> tuple[float, list[str]]:
        """Total 24h volume over sources: hourly bars summed over the last 24 h, daily bars (stored once
        the day is complete, ts = day start) as the latest complete day ending at most ``day_max_age``
        ago, rolling-24h points taken as they are."""
        total, used = 0.0, []
        day = timedelta(days=1)
        venues = [s for s in self.sources(metric) if s in VENUES and s not in exclude]
        pool = venues or [s for s in self.sources(metric) if s not in exclude]
        for src in pool:
            s = self.series(metric, src)
            if src in ROLLING_24H_SOURCES:
                last = self.last_ts(metric, src)
                v = self.latest(metric, src) if last is not None and self.now - last <= day else math.nan
            else:
                v = ind.last_day_volume(s, self.now, day_max_age)
            if math.isfinite(v):
                total += v
                used.append(src)
        return (total if used else math.nan), used
