"""Data-quality rules: dark sources and sources that disagree. They lower confidence; they never make
a token look calm."""

from __future__ import annotations

import math
from datetime import timedelta
from itertools import combinations
from typing import TYPE_CHECKING

import numpy as np

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
MIRROR_METRICS = (m.PERP_VOLUME_USD, m.SPOT_VOLUME_USD)


def market_move(ctx: Context, cfg: SignalsConfig) -> dict[str, float]:
    """How much the still-visible market moved over the regime window (OI, price, liquidations)."""
    w = parse_duration(cfg.regime_window)
    _, price = ctx.view.price()
    out = {"oi_change_pct": ctx.oi_growth(w), "price_change_pct": ind.pct_change_over(price, w, ctx.now)}
    liq = [ind.sum_over(ctx.view.series(metric, src), timedelta(days=1), ctx.now)
           for metric in (m.LIQ_LONG_USD, m.LIQ_SHORT_USD) for src in ctx.view.sources(metric)]
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
    flags = []
    for metric in COMPARABLE:
        latest = {}
        for src in ctx.view.sources(metric):
            if ctx.fresh(src):
                v = ctx.view.latest(metric, src)
                if math.isfinite(v) and v > 0:
                    latest[src] = v
        if len(latest) < 2:
            continue
        median = float(np.median(list(latest.values())))
        off = {s: (v / median - 1) * 100 for s, v in latest.items() if abs(v / median - 1) * 100 >= cfg.disagreement_pct}
        if off:
            evidence = {"metric": metric, "values": {s: rnd(v) for s, v in latest.items()}, "median": rnd(median),
                        "deviation_pct": {s: rnd(d) for s, d in off.items()}, "threshold_pct": cfg.disagreement_pct}
            worst = max(off, key=lambda s: abs(off[s]))
            flags.append(Flag("source_disagreement", "warn", f"{metric} from {worst} is {off[worst]:+.0f}% off the "
                              f"other sources", evidence, window="latest", lowers_confidence=True))
    for metric in MIRROR_METRICS:
        for a, b, share, n in mirrored_pairs(ctx, metric, cfg):
            ctx.mirrored = tuple(sorted({*ctx.mirrored, b}))
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


def mirrored_pairs(ctx: Context, metric: str, cfg: SignalsConfig) -> list[tuple[str, str, float, int]]:
    """Venue pairs whose volume bars over the last window match within the tolerance on most bars."""
    venues = [s for s in ctx.view.sources(metric) if s in VENUES]
    if len(venues) < 2:
        return []
    series = ctx.view.metric(metric, tuple(venues))
    # daily bars: 7 days hold at most 8, fewer than mirror_min_points; reach back far enough for them
    step = max((spacing(s.index) for s in series.values()), default=timedelta(0))
    since = ctx.now - max(ctx.window, step * (cfg.mirror_min_points + 2))
    parts = {v: s[s.index > since] for v, s in series.items()}
    table = ind.wide(parts, freq="1D" if step >= timedelta(days=1) else "1h", ffill_limit=0)
    if table.empty:
        return []
    out = []
    tol = cfg.mirror_tolerance_pct / 100
    for a, b in combinations(sorted(table.columns), 2):
        x, y = table[a].to_numpy(), table[b].to_numpy()
        ok = np.isfinite(x) & np.isfinite(y) & (x > 0) & (y > 0)
        n = int(ok.sum())
        if n < cfg.mirror_min_points:
            continue
        rel = np.abs(x[ok] / y[ok] - 1)
        # a constant series matches anything scaled 1:1 trivially; require real variation
        if np.std(x[ok]) <= 1e-9 * max(np.mean(x[ok]), 1e-12):
            continue
        share = float((rel <= tol).mean())
        if share >= cfg.mirror_share:
            out.append((a, b, share, n))
    return out


def aggregate_oi_disagreement(ctx: Context, cfg: SignalsConfig) -> list[Flag]:
    """CoinGlass's aggregated OI against the sum of the venues, at CoinGlass's latest point, when every
    fresh venue reports then (a venue missing at that hour would make the sum look low)."""
    agg = [s for s in ctx.view.sources(m.OI_USD) if s not in VENUES and ctx.fresh(s)]
    if ctx.oi_table.empty or not agg:
        return []
    row = ctx.oi_table.to_numpy()
    flags = []
    for src in agg:
        s = ctx.view.series(m.OI_USD, src)
        at = s.index[-1]
        pos = int(ctx.oi_table.index.searchsorted(at, side="right")) - 1
        if pos < 0 or ctx.oi_table.index[pos] < at - timedelta(hours=1) or not np.isfinite(row[pos]).all():
            continue
        venue_sum, theirs = float(row[pos].sum()), float(s.iloc[-1])
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
