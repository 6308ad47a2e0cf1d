"""Rules about size and growth: OI against the on-chain economy behind it."""

from __future__ import annotations

import math
from datetime import timedelta
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from monitor import model as m
from monitor.model import CONTRACT_EVENT_KINDS, Flag
from monitor.signals import indicators as ind
from monitor.signals.adoption import assess
from monitor.signals.context import Context, fmt_pct, rnd
from monitor.signals.health import spacing
from monitor.signals.inputs import VENUES

if TYPE_CHECKING:
    from monitor.config import SignalsConfig


def oi_surge_unsupported(ctx: Context, cfg: SignalsConfig) -> list[Flag]:
    """Aggregate OI grows ≥ oi_surge_pct over the window while on-chain growth does not support it: the
    same breadth-and-noise reading as adoption (adoption.py), with onchain_flat_pct as the growth bar."""
    if not ctx.divergence_ok:
        return []
    hits = {}
    for label, window in ctx.windows:
        oi = ctx.oi_growth(window)
        onchain = assess(ctx, window, cfg.onchain_flat_pct)
        if math.isfinite(oi) and oi >= cfg.oi_surge_pct and onchain.judged and not onchain.supported:
            best, metric = onchain.best()
            hits[label] = {"oi_growth_pct": rnd(oi), "best_onchain_growth_pct": rnd(best), "best_onchain_metric": metric,
                           "onchain_growth_pct": {k: rnd(v) for k, v in onchain.growths().items()},
                           "onchain": onchain.evidence()}
    if not hits:
        return []
    main = next(iter(hits.values()))
    evidence = {"windows": hits, "oi_usd": rnd(ctx.oi_now), "venues": ctx.oi_venues,
                "thresholds": {"oi_surge_pct": cfg.oi_surge_pct, "onchain_flat_pct": cfg.onchain_flat_pct,
                               "adoption_z": cfg.adoption_z, "adoption_strong_z": cfg.adoption_strong_z}}
    turnover = ctx.perp_turnover()
    if math.isfinite(turnover):
        evidence["perp_volume_24h_to_oi"] = rnd(turnover)
    labels = list(hits)
    msg = (f"OI {fmt_pct(main['oi_growth_pct'])} over {labels[0]} without broad on-chain growth: "
           f"{main['onchain']['why']} (best {fmt_pct(main['best_onchain_growth_pct'])} {main['best_onchain_metric']})")
    return [Flag("oi_surge_unsupported", "high", msg, evidence, window="+".join(labels), confirmed=len(hits) > 1)]


def oi_surge_with_redeployment(ctx: Context, cfg: SignalsConfig) -> list[Flag]:
    """OI grows ≥ redeploy_oi_pct over the window and a contract event lies inside the surge: from
    redeploy_days before the growth started up to now."""
    window = ctx.window
    oi = ctx.oi_growth(window)
    if not (math.isfinite(oi) and oi >= cfg.redeploy_oi_pct):
        return []
    start = ctx.surge_start(window)
    if start is None:
        return []
    since = start - timedelta(days=cfg.redeploy_days)
    near = [e for e in ctx.events if e.kind in CONTRACT_EVENT_KINDS and pd.Timestamp(e.ts) >= since]
    if not near:
        return []
    events = [{"kind": e.kind, "ts": e.ts.isoformat(), "chain": e.chain, "address": e.address, "tx_hash": e.tx_hash,
               "hours_from_surge": rnd((pd.Timestamp(e.ts) - start).total_seconds() / 3600)} for e in near[:10]]
    msg = (f"OI {fmt_pct(oi)} over {ctx.window_label} with {near[0].kind} "
           f"{events[0]['hours_from_surge']:+.0f}h from the start of the surge")
    evidence = {"oi_growth_pct": rnd(oi), "surge_from": start.isoformat(), "surge_to": ctx.now.isoformat(),
                "events": events,
                "thresholds": {"redeploy_oi_pct": cfg.redeploy_oi_pct, "redeploy_days": cfg.redeploy_days}}
    return [Flag("oi_surge_with_redeployment", "high", msg, evidence, window=ctx.window_label)]


def perp_spot_ratio(ctx: Context, cfg: SignalsConfig) -> list[Flag]:
    perp, perp_src = ctx.volume_24h(m.PERP_VOLUME_USD, exclude=ctx.mirrored)
    spot, spot_src = ctx.spot_volume_24h()
    r = ind.perp_spot_ratio(perp, spot)
    if not math.isfinite(r) or r < cfg.perp_spot_warn:
        return []
    sev = "critical" if r >= cfg.perp_spot_critical else "high" if r >= cfg.perp_spot_high else "warn"
    evidence = {"ratio": rnd(r), "perp_volume_24h_usd": rnd(perp), "spot_volume_24h_usd": rnd(spot),
                "perp_sources": perp_src, "spot_sources": spot_src,
                "thresholds": [cfg.perp_spot_warn, cfg.perp_spot_high, cfg.perp_spot_critical]}
    return [Flag("perp_spot_ratio", sev, f"perp volume is {r:,.0f}x spot over 24h", evidence, window="24h")]


def market_cap_now(ctx: Context) -> tuple[float, float, dict[str, Any]]:
    """(OI, market cap, basis) at one moment. The market cap is a daily snapshot: scaled to now by the
    venues' hourly price (cap × price now / price at the snapshot); without venue prices the OI is read
    at the snapshot's time instead. Never live OI over a stale cap."""
    src, snap = ctx.latest_fresh(m.MARKET_CAP_USD, ("coingecko",))
    at = ctx.view.last_ts(m.MARKET_CAP_USD, src) if src is not None else None
    if at is None or not math.isfinite(snap):
        return ctx.oi_now, math.nan, {}
    basis = {"snapshot_at": at.isoformat(), "market_cap_snapshot_usd": rnd(snap)}
    price_src, price = ctx.view.price()
    if price_src in VENUES and len(price) >= 2:
        then = ind.value_at(price, at - spacing(price.index))  # the close of the bar ending at the snapshot
        now = ind.value_at(price, ctx.now)
        if math.isfinite(then) and math.isfinite(now) and then > 0:
            basis |= {"method": "snapshot scaled by price", "price_source": price_src, "price_at_snapshot": rnd(then),
                      "price_now": rnd(now)}
            return ctx.oi_now, snap * now / then, basis
    basis["method"] = "oi at snapshot"
    return ind.value_at(ctx.oi, at), snap, basis


def oi_exceeds_economy(ctx: Context, cfg: SignalsConfig) -> list[Flag]:
    oi_then, mcap, basis = market_cap_now(ctx)
    oi = ctx.oi_now
    _, tvl = ctx.latest_fresh(m.TVL_USD, ("defillama",))
    r_mcap, r_tvl = ind.oi_to_market_cap(oi_then, mcap), ind.oi_to_tvl(oi, tvl)
    sev = None
    if math.isfinite(r_mcap) and r_mcap >= cfg.oi_mcap_high:
        sev = "high"
    elif (math.isfinite(r_mcap) and r_mcap >= cfg.oi_mcap_warn) or (math.isfinite(r_tvl) and r_tvl >= cfg.oi_tvl_warn):
        sev = "warn"
    if sev is None:
        return []
    parts = []
    if math.isfinite(r_mcap):
        parts.append(f"OI/market cap {r_mcap:.2f}")
    if math.isfinite(r_tvl):
        parts.append(f"OI/TVL {r_tvl:.2f}")
    evidence = {"oi_usd": rnd(oi), "market_cap_usd": rnd(mcap), "tvl_usd": rnd(tvl), "oi_to_market_cap": rnd(r_mcap),
                "oi_to_tvl": rnd(r_tvl), "venues": ctx.oi_venues, "market_cap_basis": basis,
                "thresholds": {"oi_mcap_warn": cfg.oi_mcap_warn, "oi_mcap_high": cfg.oi_mcap_high,
                               "oi_tvl_warn": cfg.oi_tvl_warn}}
    return [Flag("oi_exceeds_economy", sev, ", ".join(parts), evidence, window="latest")]


def liquidation_spike(ctx: Context, cfg: SignalsConfig) -> list[Flag]:
    """24h liquidations ≥ liq_sigma σ above the baseline's daily totals, or ≥ liq_oi_pct of OI."""
    per_metric, sources = ctx.liquidations  # the aggregate or the venues: never both
    parts = list(per_metric.values())
    if not parts:
        return []
    total = pd.concat(parts).groupby(level=0).sum().sort_index()
    day = timedelta(days=1)
    last24 = ind.sum_over(total, day, ctx.now)
    if not math.isfinite(last24) or last24 <= 0:
        return []
    baseline_start = ctx.now - pd.Timedelta(cfg.liq_baseline)
    hist = total[(total.index > baseline_start) & (total.index <= ctx.now - day)]
    # daily totals ending at the same hour as now, so the last 24h compares like with like
    daily = hist.groupby(((ctx.now - hist.index) // day).to_numpy()).sum() if len(hist) else hist
    sigma_hit, z = False, math.nan
    if len(daily) >= 7:
        mean, std = float(np.mean(daily)), float(np.std(daily, ddof=1))
        z = (last24 - mean) / std if std > 0 else (math.inf if last24 > mean * 2 and mean >= 0 else math.nan)
        sigma_hit = (math.isfinite(z) and z >= cfg.liq_sigma) or (z == math.inf)
    share = last24 / ctx.oi_now * 100 if math.isfinite(ctx.oi_now) and ctx.oi_now > 0 else math.nan
    share_hit = math.isfinite(share) and share >= cfg.liq_oi_pct
    if not (sigma_hit or share_hit):
        return []
    sev = "high" if share_hit else "warn"
    evidence = {"liquidations_24h_usd": rnd(last24), "zscore": rnd(z) if math.isfinite(z) else None,
                "baseline_days": len(daily), "pct_of_oi": rnd(share), "sources": sources,
                "thresholds": {"liq_sigma": cfg.liq_sigma, "liq_oi_pct": cfg.liq_oi_pct}}
    why = []
    if sigma_hit:
        why.append(f"{z:.1f}σ over {len(daily)}d" if math.isfinite(z) else "far above a flat baseline")
    if share_hit:
        why.append(f"{share:.1f}% of OI")
    return [Flag("liquidation_spike", sev, f"${last24:,.0f} liquidated in 24h ({', '.join(why)})", evidence,
                 window="24h", confirmed=sigma_hit and share_hit)]
