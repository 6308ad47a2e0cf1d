"""Numbers several rules share (aggregate OI, growths, fresh sources), computed once per judgement."""

from __future__ import annotations

import math
from datetime import timedelta
from functools import cached_property
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from monitor import model as m
from monitor.model import Event, SourceHealth
from monitor.signals import indicators as ind
from monitor.signals.health import spacing_ns, stale_threshold
from monitor.signals.inputs import DEV_METRICS, ONCHAIN_FLOWS, VENUES, View
from monitor.signals.liquidations import liquidations
from monitor.signals.mirroring import mirrored_pairs
from monitor.timeutil import parse_duration

if TYPE_CHECKING:
    from monitor.config import SignalsConfig

SURGE_START_SHARE = 0.1  # a surge starts where OI last stood within 10% of its rise above the window's low

def rnd(x: Any, digits: int = 4) -> Any:
    """JSON-friendly rounding: NaN/inf become None, floats keep ``digits`` significant decimals."""
    if x is None:
        return None
    try:
        f = float(x)
    except (TypeError, ValueError):
        return x
    if not math.isfinite(f):
        return None
    return float(f"{f:.{digits}g}") if abs(f) < 1e15 else round(f)


def fmt_pct(x: float | None) -> str:
    return "n/a" if x is None or not math.isfinite(x) else f"{x:+.0f}%"


class Context:
    def __init__(self, view: View, cfg: SignalsConfig, health: tuple[SourceHealth, ...]):
        self.view, self.cfg, self.now = view, cfg, view.now
        self.health = {h.source: h for h in health}
        self.window_label = cfg.window
        self.window = parse_duration(cfg.window)
        self.windows = [(cfg.window, self.window), (cfg.confirm_window, parse_duration(cfg.confirm_window))]
        self.trend_window = parse_duration(cfg.trend_window)
        self.events: tuple[Event, ...] = tuple(e for e in view.inputs.events if pd.Timestamp(e.ts) <= self.now)
        self.reasons: list[str] = []
        self._cache: dict[Any, Any] = {}

    # ------------------------------------------------------------ freshness

    def fresh(self, source: str) -> bool:
        h = self.health.get(source)
        return h is not None and not h.stale and h.status != "settled"  # a settled market's data is history

    def metric_fresh(self, metric: str, source: str) -> bool:
        """This series (not just its source) is recent: a venue whose OI stopped while its funding still
        arrives must not be summed, or its silence reads as a collapse."""
        h = self.health.get(source)
        last = self.view.last_ts(metric, source)
        if h is None or h.stale or last is None:
            return False
        interval = timedelta(seconds=h.poll_interval_s or 3600)
        limit = stale_threshold(interval, spacing_ns(self.view.times(metric, source)), parse_duration(self.cfg.stale_after))
        return self.now - last <= limit

    @cached_property
    def oi_venues(self) -> list[str]:
        have = self.view.sources(m.OI_USD)
        venues = [s for s in have if s in VENUES and self.metric_fresh(m.OI_USD, s)]
        venues = [s for s in venues if s not in self.oi_lagging(venues)]
        if not venues:
            venues = [s for s in have if s not in VENUES and self.metric_fresh(m.OI_USD, s)][:1]
        return venues

    def oi_lagging(self, venues: list[str]) -> dict[str, pd.Timedelta]:
        """Venues whose newest OI trails the newest venue's by more than oi_max_lag (or two of their own
        bars): in a cascade an hours-old value summed as current hides the fall."""
        last = {v: t for v in venues if (t := self.view.last_ts(m.OI_USD, v)) is not None}  # fresh venues: all
        if not last:
            return {}
        newest, floor = max(last.values()), parse_duration(self.cfg.oi_max_lag)
        return {v: newest - t for v, t in last.items()
                if newest - t > max(floor, 2 * spacing_ns(self.view.times(m.OI_USD, v)))}

    @cached_property
    def settled_venues(self) -> frozenset[str]:
        """Venues whose market settled with no data after (health says "settled"): finished, not dark."""
        return frozenset(src for src, h in self.health.items() if h.status == "settled")

    @cached_property
    def oi_dark_venues(self) -> list[str]:
        return [s for s in self.view.sources(m.OI_USD)
                if s in VENUES and s not in self.oi_venues and s not in self.settled_venues]

    @cached_property
    def oi_table(self) -> pd.DataFrame:
        """Fresh venues' OI on an hourly grid (time x venue); empty when only an aggregate reports."""
        venues = [v for v in self.oi_venues if v in VENUES]
        return ind.wide(self.view.metric(m.OI_USD, tuple(venues))) if venues else ind.wide({})

    @cached_property
    def _oi_arrays(self) -> tuple[np.ndarray, np.ndarray]:
        return ind.ns(self.oi_table.index), self.oi_table.to_numpy()

    @cached_property
    def oi(self) -> pd.Series:
        if not self.oi_table.empty:
            return ind.table_sum(self.oi_table)
        return self.view.series(m.OI_USD, self.oi_venues[0]) if self.oi_venues else ind.EMPTY

    @cached_property
    def oi_now(self) -> float:
        return ind.value_at(self.oi, self.now)

    @cached_property
    def onchain_sources(self) -> dict[str, list[str]]:
        """On-chain metric -> sources that have it (fresh or not)."""
        metrics = (m.TVL_TOKEN, m.TVL_USD, m.HOLDERS, *ONCHAIN_FLOWS, *DEV_METRICS)
        return {metric: self.view.sources(metric) for metric in metrics if self.view.sources(metric)}

    @cached_property
    def onchain_fresh(self) -> bool:
        return any(self.fresh(s) for srcs in self.onchain_sources.values() for s in srcs)

    @cached_property
    def divergence_ok(self) -> bool:
        """Both sides present and fresh: only then may a divergence rule speak (fault C1)."""
        return len(self.oi.dropna()) >= self.cfg.min_points and self.onchain_fresh

    # ------------------------------------------------------------ growths

    def oi_growth(self, window: timedelta) -> float:
        """Aggregate OI growth over the window, like for like: only venues whose history reaches the
        window's start, summed only at hours where each of them reports (a venue whose stored history
        starts inside the window, e.g. Binance's ~30 days, would otherwise read as a jump)."""
        key = ("oi_growth", window)
        if key not in self._cache:
            if self.oi_table.empty:
                self._cache[key] = ind.pct_change_over(self.oi, window, self.now)
            else:
                t, arr = self._oi_arrays
                w, now = pd.Timedelta(window).value, self.now.value
                keep, total = ind.covered_rows(t, arr, now - w + w // 4)
                self._cache[key] = ind.pct_change_arrays(t[keep], total, w, now)
        change: float = self._cache[key]
        return change

    def surge_start(self, window: timedelta) -> pd.Timestamp | None:
        """Where the OI growth inside the window started: the last time OI stood within
        SURGE_START_SHARE of the rise above its low. An exponential surge's steepest day is always the
        last one, so the whole span from here to now is the surge."""
        s = ind.clean(self.oi)
        s = s[(s.index >= self.now - window) & (s.index <= self.now)]
        if len(s) < 2:
            return None
        v = s.to_numpy()
        low, end = float(v.min()), float(v[-1])
        if not end > low:
            return None
        near_low = np.flatnonzero(v <= low + SURGE_START_SHARE * (end - low))
        start: pd.Timestamp = s.index[int(near_low[-1])]
        return start

    # ------------------------------------------------------------ liquidations and mirrored volume

    @cached_property
    def liquidations(self) -> tuple[dict[str, pd.Series], list[str]]:
        """({liq metric: USD per bar}, sources): the aggregate or the venues, never both."""
        by = {metric: self.view.metric(metric) for metric in (m.LIQ_LONG_USD, m.LIQ_SHORT_USD)}
        return liquidations(by, self.now, parse_duration(self.cfg.stale_after))

    @cached_property
    def mirror_findings(self) -> list[tuple[str, str, str, float, int]]:
        """(metric, venue, copying venue, matching share, bars) for each mirrored volume pair."""
        return [(metric, a, b, share, n) for metric in (m.PERP_VOLUME_USD, m.SPOT_VOLUME_USD)
                for a, b, share, n in mirrored_pairs(self.view, metric, self.window, self.cfg)]

    @cached_property
    def mirrored(self) -> tuple[str, ...]:
        """Venues whose volume copies another's: left out of every volume sum."""
        return tuple(sorted({b for _, _, b, _, _ in self.mirror_findings}))

    # ------------------------------------------------------------ volumes and levels

    def spot_volume_24h(self) -> tuple[float, list[str]]:
        """CoinGecko's all-market spot volume when fresh (one venue's spot book understates it)."""
        if self.fresh("coingecko") and "coingecko" in self.view.sources(m.SPOT_VOLUME_USD):
            v, used = self.volume_24h(m.SPOT_VOLUME_USD, exclude=tuple(s for s in self.view.sources(
                m.SPOT_VOLUME_USD) if s != "coingecko"))
            if math.isfinite(v):
                return v, used
        return self.volume_24h(m.SPOT_VOLUME_USD, exclude=self.mirrored)

    def volume_24h(self, metric: str, exclude: tuple[str, ...] = ()) -> tuple[float, list[str]]:
        return self.view.volume_24h(metric, exclude, parse_duration(self.cfg.volume_day_max_age))

    def perp_turnover(self) -> float:
        perp, _ = self.volume_24h(m.PERP_VOLUME_USD, exclude=self.mirrored)
        return ind.ratio(perp, self.oi_now)

    def latest_fresh(self, metric: str, prefer: tuple[str, ...]) -> tuple[str | None, float]:
        for src in [*prefer, *self.view.sources(metric)]:
            if src in self.view.sources(metric) and self.fresh(src):
                return src, self.view.latest(metric, src)
        return None, math.nan
