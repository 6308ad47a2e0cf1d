"""From flags and health to a verdict: label, 0-100 speculation score, confidence and reasons.

Score = base + Σ weight(rule) × severity factor × (confirm bonus when confirmed on two windows)
        − adoption points (broad on-chain growth beyond noise leading OI over the trend window, see
        adoption.py), clipped to 0..100.
Confidence starts at 1 and loses a share for every dark, stale, missing or disagreeing input; a blind
spot during a market move costs extra and is named "data degraded" so dark data never reads as calm.
"""

from __future__ import annotations

import math
from datetime import datetime
from typing import TYPE_CHECKING

import pandas as pd

from monitor.model import SEVERITY_ORDER, Flag, SourceHealth, Verdict
from monitor.signals.adoption import assess
from monitor.signals.context import Context, rnd
from monitor.signals.health import source_health
from monitor.signals.inputs import VENUES, TokenInputs, View
from monitor.signals.rules import run_rules

if TYPE_CHECKING:
    from monitor.config import SignalsConfig, VerdictConfig

ADOPTION, MIXED, SPECULATION, INSUFFICIENT = "adoption", "mixed", "speculation", "insufficient data"


def evaluate(inputs: TokenInputs, cfg: SignalsConfig, vcfg: VerdictConfig, now: datetime) -> Verdict:
    """Judge one token as of ``now`` from its inputs only (pure: no I/O, no clock)."""
    now_ts = pd.Timestamp(now)
    now_ts = now_ts.tz_localize("UTC") if now_ts.tzinfo is None else now_ts.tz_convert("UTC")
    view = View(inputs, now_ts, cfg.min_points)
    health = source_health(view, cfg.stale_after)
    ctx = Context(view, cfg, health)
    flags = run_rules(ctx, cfg)
    reasons = list(view.reasons)
    insufficient = _sufficiency(ctx, reasons)
    score, breakdown = _score(ctx, flags, cfg, vcfg)
    confidence, degraded = _confidence(ctx, flags, health, vcfg, reasons)
    label = _label(score, confidence, insufficient, vcfg)
    if degraded and label == ADOPTION:
        label = MIXED
        reasons.append("adoption not confirmed while market data is dark")
    if label == INSUFFICIENT and not insufficient:
        reasons.append(f"confidence {confidence:.2f} below verdict.min_confidence {vcfg.min_confidence}")
    flags.sort(key=lambda f: (-SEVERITY_ORDER.get(f.severity, 0), f.rule))
    return Verdict(
        token=inputs.token, label=label, score=round(score, 1), confidence=round(confidence, 2), flags=tuple(flags),
        as_of=now_ts.to_pydatetime(), reasons=tuple(dict.fromkeys(reasons)), health=health,
        data_as_of=_data_as_of(view), degraded=degraded, evidence=breakdown,
    )


def _sufficiency(ctx: Context, reasons: list[str]) -> bool:
    """True when the data cannot support a judgement (fault C1: a stale side is not a divergence)."""
    insufficient = False
    oi_sources = ctx.view.sources("oi_usd")
    if not oi_sources:
        reasons.append("no open-interest data")
        insufficient = True
    elif not ctx.oi_venues:
        reasons.append("open-interest data stale: " + _newest(ctx, oi_sources))
        insufficient = True
    elif len(ctx.oi.dropna()) < ctx.cfg.min_points:
        reasons.append(f"too few open-interest points ({len(ctx.oi.dropna())} < signals.min_points)")
        insufficient = True
    elif not ctx.oi_now > 0:
        reasons.append("open interest is zero")
        insufficient = True
    if not ctx.onchain_sources:
        reasons.append("no on-chain series (TVL, active addresses, DEX volume, dev activity): "
                       "cannot tell adoption from leverage")
        insufficient = True
    elif not ctx.onchain_fresh:
        srcs = sorted({s for v in ctx.onchain_sources.values() for s in v})
        reasons.append("on-chain data stale: " + _newest(ctx, srcs) + "; no divergence judged")
        insufficient = True
    return insufficient


def _newest(ctx: Context, sources: list[str]) -> str:
    parts = []
    for s in sources:
        h = ctx.health.get(s)
        parts.append(f"{s} {h.detail}" if h else s)
    return ", ".join(parts)


def _score(ctx: Context, flags: list[Flag], cfg: SignalsConfig, vcfg: VerdictConfig) -> tuple[float, dict[str, float]]:
    parts: dict[str, float] = {}
    for f in flags:
        if f.lowers_confidence:
            continue
        pts = vcfg.weights.get(f.rule, 0.0) * vcfg.severity_factor.get(f.severity, 1.0)
        if f.confirmed:
            pts *= vcfg.confirm_bonus
        parts[f.rule] = parts.get(f.rule, 0.0) + pts
    adoption = 0.0
    growth = {}
    if ctx.divergence_ok:
        onchain = assess(ctx, ctx.trend_window, cfg.adoption_growth_pct)
        best, metric = onchain.best()
        oi = ctx.oi_growth(ctx.trend_window)
        growth = {"window": cfg.trend_window, "best_onchain_growth_pct": rnd(best), "best_onchain_metric": metric,
                  "oi_growth_pct": rnd(oi), "onchain_growth_pct": {k: rnd(v) for k, v in onchain.growths().items()},
                  "onchain": onchain.evidence()}
        if onchain.supported and (not math.isfinite(oi) or oi <= best) and "oi_surge_unsupported" not in parts:
            adoption = vcfg.adoption_points * min(1.0, best / (2 * cfg.adoption_growth_pct))
    score = min(100.0, max(0.0, vcfg.base_score + sum(parts.values()) - adoption))
    breakdown = {"base": vcfg.base_score, "rules": {k: rnd(v) for k, v in parts.items()}, "adoption": rnd(adoption),
                 "trend": growth, "oi_usd": rnd(ctx.oi_now), "oi_venues": ctx.oi_venues}
    return score, breakdown


def _confidence(ctx: Context, flags: list[Flag], health: tuple[SourceHealth, ...], vcfg: VerdictConfig,
                reasons: list[str]) -> tuple[float, bool]:
    conf = 1.0
    dark_market = [h for h in health if h.dark and (h.source in VENUES or h.source == "coinglass")]
    dark_other = [h for h in health if h.dark and h not in dark_market]
    oi_only = [v for v in ctx.oi_dark_venues if v not in {h.source for h in dark_market}]
    conf -= vcfg.stale_penalty * min(len(dark_market) + len(oi_only), 4)
    conf -= vcfg.stale_penalty / 2 * min(len(dark_other), 4)
    venues = [h for h in health if h.source in VENUES and h.expected]
    if venues and all(h.dark for h in venues):  # no venue-level data at all: only an aggregate, if any
        conf -= vcfg.venues_dark_penalty
        reasons.append(f"every configured venue is dark ({', '.join(h.source for h in venues)})")
    for h in dark_market + dark_other:
        reasons.append(f"{h.source}: {h.status} ({h.detail})")
    for v in oi_only:
        reasons.append(f"{v}: open interest stale, left out of the aggregate")
    degraded = False
    for f in flags:
        if f.rule == "data_blind_spot" and f.evidence.get("during_move") and f.severity != "info":
            degraded = True
            conf -= vcfg.degraded_penalty
            names = ", ".join(f.evidence.get("sources", {}))
            reasons.insert(0, f"data degraded: {names} dark during a market move")
        elif f.rule == "source_disagreement":
            n = len(f.evidence.get("findings", [f.evidence]))
            conf -= vcfg.disagreement_penalty * n
            degraded = degraded or n > 0
            reasons.append("data disagreement: " + f.message)
    if not ctx.onchain_sources:
        conf -= vcfg.missing_onchain_penalty
    if ctx.view.reasons:
        conf -= 0.05
    return max(0.0, min(1.0, conf)), degraded


def _label(score: float, confidence: float, insufficient: bool, vcfg: VerdictConfig) -> str:
    if insufficient or confidence < vcfg.min_confidence:
        return INSUFFICIENT
    if score >= vcfg.speculation_score:
        return SPECULATION
    if score <= vcfg.adoption_score:
        return ADOPTION
    return MIXED


def _data_as_of(view: View) -> dict[str, str]:
    out = {}
    for metric in view.metrics():
        for src in view.sources(metric):
            last = view.last_ts(metric, src)
            if last is not None:
                out[f"{metric}@{src}"] = last.isoformat()
    return out
