"""Data-quality rules: dark sources and sources that disagree. They lower confidence; they never make
a token look calm."""

from __future__ import annotations

import math
from datetime import timedelta
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from monitor import model as m
from monitor.model import Flag
from monitor.signals import indicators as ind
from monitor.signals.context import Context, rnd
from monitor.signals.health import spacing
from monitor.signals.inputs import VENUES
from monitor.timeutil import parse_duration

if TYPE_CHECKING:
    from monitor.config import SignalsConfig

COMPARABLE = (m.PRICE_CLOSE, m.PRICE_CLOSE_1H, m.MARKET_CAP_USD)
CANDLE_METRICS = (m.PRICE_CLOSE, m.PRICE_CLOSE_1H)  # from a venue: the close at the candle's open ts
OBSERVED = pd.Timedelta(hours=1)


def market_move(ctx: Context, cfg: SignalsConfig) -> dict[str, float]:
    """How much the still-visible market moved over the regime window (OI, price, liquidations)."""
    w = parse_duration(cfg.regime_window)
    _, price = ctx.view.price()
    out = {"oi_change_pct": ctx.oi_growth(w), "price_change_pct": ind.pct_change_over(price, w, ctx.now)}
    per_metric, _ = ctx.liquidations  # the aggregate or the venues, as liquidation_spike reads them
    liq = [ind.sum_over(s, timedelta(days=1), ctx.now) for s in per_metric.values()]
    liq = [x for x in liq if math.isfinite(x)]
    if liq and math.isfinite(ctx.oi_now) and ctx.oi_now > 0:
        out["liquidations_pct_of_oi"] = sum(liq) / ctx.oi_now * 100
    return out


def is_moving(move: dict[str, float], cfg: SignalsConfig) -> bool:
    oi, price = move.get("oi_change_pct", math.nan), move.get("price_change_pct", math.nan)
    liq = move.get("liquidations_pct_of_oi", math.nan)
    return ((math.isfinite(oi) and abs(oi) >= cfg.move_oi_pct)
            or (math.isfinite(price) and abs(price) >= 2 * cfg.move_oi_pct / 3)
            or (math.isfinite(liq) and liq >= cfg.liq_oi_pct))


def data_blind_spot(ctx: Context, cfg: SignalsConfig) -> list[Flag]:
    """Market sources that are failing, throttled or stale; a warning when it happens during a move."""
    dark = [h for h in ctx.health.values() if h.dark and (h.expected or h.last_ts is not None)]
    sources = {h.source: {"status": h.status, "failures": h.failures, "throttled": h.throttled,
                          "last_ts": h.last_ts.isoformat() if h.last_ts else None, "detail": h.detail} for h in dark}
    for venue in ctx.oi_dark_venues:  # the venue answers, but its open interest stopped
        if venue not in sources:
            h = ctx.health[venue]
            last = ctx.view.last_ts(m.OI_USD, venue)
            sources[venue] = {"status": "oi stale", "failures": h.failures, "throttled": h.throttled,
                              "last_ts": last.isoformat() if last is not None else None,
                              "detail": f"open interest last reported {last.isoformat() if last is not None else 'never'}"}
    if not sources:
        return []
    move = market_move(ctx, cfg)
    moving = is_moving(move, cfg)
    market_dark = [s for s in sources if s in VENUES or s == "coinglass"]
    sev = "warn" if moving and market_dark else "info"
    names = ", ".join(f"{s} ({v['status']})" for s, v in sources.items())
    evidence = {"sources": sources, "market_sources": market_dark, "during_move": moving,
                "move": {k: rnd(v) for k, v in move.items()}}
    msg = f"dark: {names}" + (" during a move" if moving else "")
    return [Flag("data_blind_spot", sev, msg, evidence, window=cfg.regime_window, lowers_confidence=True)]


def source_disagreement(ctx: Context, cfg: SignalsConfig) -> list[Flag]:
    flags = [f for metric in COMPARABLE if (f := _disagreement_at_one_instant(ctx, metric, cfg)) is not None]
    for metric, a, b, share, n in ctx.mirror_findings:
        evidence = {"metric": metric, "venues": [a, b], "matching_share": rnd(share), "bars": n,
                    "tolerance_pct": cfg.mirror_tolerance_pct, "excluded_from_totals": b}
        flags.append(Flag("source_disagreement", "warn", f"{b} {metric} mirrors {a} ~1:1 on {share:.0%} of "
                          f"{n} bars", evidence, window=f"{n} bars", lowers_confidence=True))
    flags += aggregate_oi_disagreement(ctx, cfg)
    if len(flags) > 1:  # one flag per rule; the evidence keeps every finding
        merged = {"findings": [f.evidence for f in flags]}
        return [Flag("source_disagreement", "warn", "; ".join(f.message for f in flags), merged, window="latest",
                     lowers_confidence=True)]
    return flags


def instants(ctx: Context, metric: str, source: str) -> pd.Series:
    """A series keyed by the instant its value describes: a venue candle's close belongs to the end of
    its bar (a candle still open has no close yet and is left out); a snapshot (CoinGecko's daily
    point) to its own ts."""
    s = ctx.view.series(metric, source)
    if metric in CANDLE_METRICS and source in VENUES and len(s) >= 2:
        step = pd.Timedelta(spacing(s.index))
        s = pd.Series(s.to_numpy(), index=pd.DatetimeIndex(s.index) + step)
        s = s[s.index <= ctx.now]
    return s


def _disagreement_at_one_instant(ctx: Context, metric: str, cfg: SignalsConfig) -> Flag | None:
    """The sources' values at the latest instant most of them describe (never a midnight snapshot against
    a live candle), each against their median."""
    since = ctx.now - ctx.window
    parts = {}
    for src in ctx.view.sources(metric):
        if ctx.fresh(src):
            s = instants(ctx, metric, src)
            s = s[(s.index > since) & (s.to_numpy() > 0)]
            if len(s):
                parts[src] = s
    if len(parts) < 2:
        return None
    table = pd.DataFrame(parts)
    count = table.notna().sum(axis=1).to_numpy()
    best = count.max()
    if best < 2:
        return None
    i = int(np.flatnonzero(count == best)[-1])
    at, latest = table.index[i], table.iloc[i].dropna().to_dict()
    median = float(np.median(list(latest.values())))
    off = {s: (v / median - 1) * 100 for s, v in latest.items() if abs(v / median - 1) * 100 >= cfg.disagreement_pct}
    if not off:
        return None
    evidence = {"metric": metric, "at": at.isoformat(), "values": {s: rnd(v) for s, v in latest.items()},
                "median": rnd(median), "deviation_pct": {s: rnd(d) for s, d in off.items()},
                "threshold_pct": cfg.disagreement_pct}
    worst = max(off, key=lambda s: abs(off[s]))
    return Flag("source_disagreement", "warn", f"{metric} from {worst} is {off[worst]:+.0f}% off the other sources "
                f"at {at:%Y-%m-%d %H:%M}", evidence, window="latest", lowers_confidence=True)


def aggregate_oi_disagreement(ctx: Context, cfg: SignalsConfig) -> list[Flag]:
    """CoinGlass's aggregated OI against the sum of the venues at CoinGlass's latest point, only when every
    venue is fresh and reported within the hour before that point: against a stale or carried-forward
    venue value the aggregate is not the outlier."""
    agg = [s for s in ctx.view.sources(m.OI_USD) if s not in VENUES and ctx.fresh(s)]
    if ctx.oi_table.empty or not agg or ctx.oi_dark_venues:
        return []
    flags = []
    for src in agg:
        s = ctx.view.series(m.OI_USD, src)
        at = s.index[-1]
        observed = [_observed_at(ctx.view.series(m.OI_USD, v), at) for v in ctx.oi_table.columns]
        if not all(math.isfinite(x) for x in observed):
            continue
        venue_sum, theirs = float(sum(observed)), float(s.iloc[-1])
        if not (venue_sum > 0 and theirs > 0):
            continue
        dev = (theirs / venue_sum - 1) * 100
        if abs(dev) < cfg.disagreement_pct:
            continue
        evidence = {"metric": m.OI_USD, "values": {src: rnd(theirs), "venue_sum": rnd(venue_sum)},
                    "venues": list(ctx.oi_table.columns), "at": at.isoformat(), "deviation_pct": {src: rnd(dev)},
                    "threshold_pct": cfg.disagreement_pct}
        flags.append(Flag("source_disagreement", "warn", f"{m.OI_USD} from {src} is {dev:+.0f}% off the sum of "
                          f"{', '.join(ctx.oi_table.columns)}", evidence, window="latest", lowers_confidence=True))
    return flags


def _observed_at(series: pd.Series, at: pd.Timestamp) -> float:
    """The value observed in the hour up to ``at`` (NaN when the series has none there)."""
    s = series[(series.index > at - OBSERVED) & (series.index <= at)]
    return float(s.iloc[-1]) if len(s) else math.nan
