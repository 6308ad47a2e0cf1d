"""Adoption is a claim that needs breadth: on-chain growth judged against each series' own noise.

A series *carries* adoption when its growth over the window clears the percent bar and is at least
``signals.adoption_z`` times its own noise. Noise is robust (as Santiment's MAD-based divergence): the
median absolute deviation of the series' period-to-period changes, scaled to one point's standard
deviation, and for counts never below counting noise (√level), so 16-29 commits a week stay noise.

Series fall into independent families (deposits, usage, development). Adoption holds when two families
carry it, or one carries it beyond ``signals.adoption_strong_z`` while no series falls beyond its noise.
USD TVL moves with price and is never used (TVL in token units is). Points within
± ``signals.adoption_event_days`` of a contract creation, migration or settlement are migration mechanics
and are left out; a series whose compared spans fall entirely inside such a window says nothing.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import timedelta
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from monitor import model as m
from monitor.signals import indicators as ind
from monitor.signals.inputs import DEV_METRICS, ONCHAIN_FLOWS
from monitor.timeutil import parse_duration

if TYPE_CHECKING:
    from monitor.signals.context import Context

FAMILIES = {
    m.TVL_TOKEN: "deposits",
    m.ACTIVE_ADDRESSES: "usage", m.TRANSFER_COUNT: "usage", m.HOLDERS: "usage", m.DEX_VOLUME_USD: "usage",
    m.DEV_COMMITS: "development", m.DEV_CONTRIBUTORS: "development",
}
COUNTS = frozenset({m.ACTIVE_ADDRESSES, m.TRANSFER_COUNT, m.HOLDERS, m.DEV_COMMITS, m.DEV_CONTRIBUTORS})
MECHANICS_KINDS = ("contract_created", "token_migration", "liquidity_migrated", "perp_settled")
MAD_TO_SIGMA = 1.4826  # MAD of a normal sample x this = its standard deviation

CARRIES, NOISE, SMALL, FALLS, DISCOUNTED, IGNORED, SHORT = (
    "carries", "noise", "small", "falls", "discounted", "ignored", "short")


@dataclass(frozen=True)
class SeriesRead:
    """One on-chain series over one window: its growth, how many noise units that is, and what it says."""

    name: str
    family: str
    status: str
    growth_pct: float = math.nan
    z: float = math.nan
    note: str = ""


@dataclass(frozen=True)
class Adoption:
    supported: bool
    why: str
    reads: tuple[SeriesRead, ...]

    def names(self, status: str) -> list[str]:
        return [r.name for r in self.reads if r.status == status]

    @property
    def judged(self) -> bool:
        """Some fresh on-chain series covers the window (growing, flat, discounted or USD TVL, which is no
        evidence of adoption): only then can a surge be called unsupported."""
        return any(r.status != SHORT for r in self.reads)

    def growths(self) -> dict[str, float]:
        return {r.name: r.growth_pct for r in self.reads if math.isfinite(r.growth_pct)}

    def best(self) -> tuple[float, str | None]:
        """Best growth among the series that carry adoption, else among every measured one."""
        pool = [r for r in self.reads if r.status == CARRIES] or [
            r for r in self.reads if r.status in (NOISE, SMALL, FALLS) and math.isfinite(r.growth_pct)]
        if not pool:
            return math.nan, None
        top = max(pool, key=lambda r: r.growth_pct)
        return top.growth_pct, top.name

    def evidence(self) -> dict[str, Any]:
        def z(r: SeriesRead) -> float | None:
            return round(r.z, 1) if math.isfinite(r.z) else (None if math.isnan(r.z) else (999.0 if r.z > 0 else -999.0))

        return {
            "supported": self.supported, "why": self.why, "carried_by": self.names(CARRIES),
            "noise": self.names(NOISE), "below_bar": self.names(SMALL), "falling": self.names(FALLS),
            "discounted": {r.name: r.note for r in self.reads if r.status == DISCOUNTED},
            "ignored": {r.name: r.note for r in self.reads if r.status == IGNORED},
            "zscore": {r.name: z(r) for r in self.reads if not math.isnan(r.z)},
        }


def assess(ctx: Context, window: timedelta, min_growth_pct: float) -> Adoption:
    """Adoption over ``window`` (dev activity over signals.dev_window) with growth bar ``min_growth_pct``."""
    key = ("adoption", window, min_growth_pct)
    if key not in ctx._cache:
        ctx._cache[key] = _assess(ctx, window, min_growth_pct)
    adoption: Adoption = ctx._cache[key]
    return adoption


def _assess(ctx: Context, window: timedelta, min_growth_pct: float) -> Adoption:
    cfg = ctx.cfg
    events = [(e.kind, pd.Timestamp(e.ts)) for e in ctx.events if e.kind in MECHANICS_KINDS]
    reach = pd.Timedelta(days=cfg.adoption_event_days)
    reads = []
    for metric, sources in ctx.onchain_sources.items():
        for src in sources:
            if not ctx.fresh(src):
                continue
            name = metric if len(sources) == 1 else f"{metric}@{src}"
            if metric == m.TVL_USD:
                reads.append(SeriesRead(name, "deposits", IGNORED, note="USD TVL moves with price; tvl_token is used"))
                continue
            reads.append(_read(ctx, metric, src, name, window, events, reach, min_growth_pct))
    carriers = [r for r in reads if r.status == CARRIES]
    families = sorted({r.family for r in carriers})
    falling = [r for r in reads if r.status == FALLS]
    strong = [r for r in carriers if r.z >= cfg.adoption_strong_z]
    if len(families) >= 2:
        return Adoption(True, f"breadth: {', '.join(families)} grow beyond their noise", tuple(reads))
    if strong and not falling:
        top = max(strong, key=lambda r: r.z)
        return Adoption(True, f"one strong series: {top.name} {_units(top.z)} its noise, none falling", tuple(reads))
    if strong:
        why = f"{strong[0].name} grows but {', '.join(r.name for r in falling)} falls beyond its noise"
    elif carriers:
        why = (f"only {families[0]} grows beyond its noise ({', '.join(r.name for r in carriers)}), "
               f"short of {cfg.adoption_strong_z:g}x for one family alone")
    elif any(r.status == SMALL for r in reads):
        why = f"growth beyond noise stays below {min_growth_pct:g}% ({', '.join(r.name for r in reads if r.status == SMALL)})"
    else:
        why = "no on-chain series grows beyond its own noise"
    return Adoption(False, why, tuple(reads))


def _read(ctx: Context, metric: str, src: str, name: str, window: timedelta, events: list[tuple[str, pd.Timestamp]],
          reach: pd.Timedelta, min_growth_pct: float) -> SeriesRead:
    family = FAMILIES.get(metric, "usage")
    s = ind.clean(ctx.view.series(metric, src))
    t, v = ind.ns(s.index), s.to_numpy()
    keep = np.ones(len(t), dtype=bool)
    near: list[str] = []
    for kind, ts in events:
        inside = np.abs(t - ts.value) <= reach.value
        if inside.any():
            keep &= ~inside
            near.append(f"{kind} {ts:%Y-%m-%d}")
    t, v = t[keep], v[keep]
    now = ctx.now.value
    if metric in DEV_METRICS:
        span = parse_duration(ctx.cfg.dev_window)
        after, before = flow_ends(t, v, span, now, span)
    elif metric in ONCHAIN_FLOWS:
        after, before = flow_ends(t, v, window, now)
    else:
        after, before = level_ends(t, v, pd.Timedelta(window).value, now)
    if not (math.isfinite(after) and math.isfinite(before)) or before <= 0:
        if near:
            return SeriesRead(name, family, DISCOUNTED, note=f"within ±{ctx.cfg.adoption_event_days:g}d of " + ", ".join(near))
        return SeriesRead(name, family, SHORT, note="history does not cover the window")
    growth = (after / before - 1.0) * 100.0
    sigma = noise(v)
    if metric in COUNTS:
        sigma = max(sigma, math.sqrt(max(before, 1.0))) if math.isfinite(sigma) else math.sqrt(max(before, 1.0))
    z = (after - before) / sigma if sigma > 0 else (math.copysign(math.inf, after - before) if after != before else 0.0)
    note = f"points within ±{ctx.cfg.adoption_event_days:g}d of {', '.join(near)} left out" if near else ""
    zmin = ctx.cfg.adoption_z
    if z >= zmin and growth >= min_growth_pct:
        status = CARRIES
    elif z <= -zmin:
        status = FALLS
    elif z >= zmin:
        status = SMALL
    else:
        status = NOISE
    return SeriesRead(name, family, status, growth, z, note)


def noise(v: np.ndarray) -> float:
    """One point's noise: MAD of the period-to-period changes around their median (a steady trend is not
    noise), as a standard deviation of a level (a change holds two points' noise, hence √2)."""
    d = np.diff(v)
    if len(d) < 2:
        return math.nan
    mad = float(np.median(np.abs(d - np.median(d))))
    return MAD_TO_SIGMA * mad / math.sqrt(2.0)


def flow_ends(t: np.ndarray, v: np.ndarray, window: timedelta, now_ns: int, span: timedelta | None = None
              ) -> tuple[float, float]:
    """(mean over the latest span, mean over the span ending one window earlier) of a flow."""
    if len(t) < 2:
        return math.nan, math.nan
    gaps = np.diff(t[-50:]) / 1e6  # ms
    spacing = pd.Timedelta(milliseconds=float(np.median(gaps)))
    span_td = pd.Timedelta(span) if span is not None else max(2 * spacing, pd.Timedelta(window) / 7)
    span_ns, w = span_td.value, pd.Timedelta(window).value
    return _mean(t, v, now_ns - span_ns, now_ns), _mean(t, v, now_ns - w - span_ns, now_ns - w)


def level_ends(t: np.ndarray, v: np.ndarray, window_ns: int, now_ns: int) -> tuple[float, float]:
    """(value at now, value at now - window) as-of; like ind.pct_change_arrays, a history starting within
    a quarter window after the start stands in for it."""
    if len(t) < 2 or int(t[0]) > now_ns - window_ns + window_ns // 4:
        return math.nan, math.nan
    start = int(t.searchsorted(now_ns - window_ns, side="right")) - 1
    end = int(t.searchsorted(now_ns, side="right")) - 1
    return (float(v[end]) if end >= 0 else math.nan), float(v[max(start, 0)])


def _mean(t: np.ndarray, v: np.ndarray, start_ns: int, end_ns: int) -> float:
    """Mean of values with ts in (start, end]."""
    lo, hi = int(t.searchsorted(start_ns, side="right")), int(t.searchsorted(end_ns, side="right"))
    return float(v[lo:hi].mean()) if hi > lo else math.nan


def _units(z: float) -> str:
    return "far beyond" if not math.isfinite(z) else f"{z:.0f}x"
