"""Rules about positioning: funding, long/short, RSI, OI against price."""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

import pandas as pd

from monitor import model as m
from monitor.model import Flag
from monitor.signals import indicators as ind
from monitor.signals.context import Context, fmt_pct, rnd
from monitor.timeutil import parse_duration

if TYPE_CHECKING:
    from monitor.config import SignalsConfig

RSI_FRAMES = (("1h", None), ("4h", "4h"), ("1d", "1D"))


def rsi_by_timeframe(ctx: Context, period: int) -> dict[str, float]:
    _, close = ctx.view.price()
    out: dict[str, float] = {}
    if close.empty:
        return out
    for label, rule in RSI_FRAMES:
        series = ind.clean(close) if rule is None else ind.resample_close(close, rule)
        rsi = ind.wilder_rsi(series, period)
        last = rsi.dropna()
        if len(last):
            out[label] = float(last.iloc[-1])
    return out


def _funding_now(ctx: Context) -> tuple[float, list[str]]:
    series, used = ctx.view.funding_8h()
    return ind.value_at(series, ctx.now), used


def _long_short_now(ctx: Context) -> tuple[float, dict[str, float]]:
    per = {}
    for src in ctx.view.sources(m.LONG_SHORT_ACCOUNT_RATIO):
        if ctx.fresh(src):
            v = ctx.view.latest(m.LONG_SHORT_ACCOUNT_RATIO, src)
            if math.isfinite(v) and v >= 0:
                per[src] = v
    return (float(pd.Series(per).median()) if per else math.nan), per


def crowded_longs(ctx: Context, cfg: SignalsConfig) -> list[Flag]:
    """Funding ≥ crowded_funding_8h, long/short accounts ≥ crowded_long_short and RSI in tiers."""
    funding, f_src = _funding_now(ctx)
    ls, ls_per = _long_short_now(ctx)
    if not (math.isfinite(funding) and funding >= cfg.crowded_funding_8h and math.isfinite(ls)
            and ls >= cfg.crowded_long_short):
        return []
    rsis = rsi_by_timeframe(ctx, cfg.rsi_period)
    primary = next((rsis[k] for k in ("4h", "1h", "1d") if k in rsis), math.nan)
    tiers = sorted(cfg.rsi_tiers)
    level = sum(1 for t in tiers if math.isfinite(primary) and primary >= t)
    if level == 0:
        return []
    sev = ("warn", "high", "critical")[min(level, 3) - 1]
    confirmed = sum(1 for v in rsis.values() if v >= tiers[0]) >= 2
    evidence = {"funding_8h_pct": rnd(funding * 100), "funding_sources": f_src, "long_short_accounts": rnd(ls),
                "long_short_by_venue": {k: rnd(v) for k, v in ls_per.items()}, "rsi": {k: rnd(v) for k, v in rsis.items()},
                "thresholds": {"crowded_funding_8h_pct": cfg.crowded_funding_8h * 100,
                               "crowded_long_short": cfg.crowded_long_short, "rsi_tiers": tiers}}
    msg = f"funding {funding * 100:.3f}%/8h, long/short {ls:.2f}, RSI(14) {primary:.0f}"
    return [Flag("crowded_longs", sev, msg, evidence, window="4h", confirmed=confirmed)]


def _regime_moves(ctx: Context, cfg: SignalsConfig) -> tuple[float, float, str | None]:
    w = parse_duration(cfg.regime_window)
    src, price = ctx.view.price()
    return ctx.oi_growth(w), ind.pct_change_over(price, w, ctx.now), src


def short_buildup(ctx: Context, cfg: SignalsConfig) -> list[Flag]:
    oi, price, src = _regime_moves(ctx, cfg)
    funding, f_src = _funding_now(ctx)
    if not (math.isfinite(oi) and math.isfinite(price) and math.isfinite(funding)):
        return []
    if not (oi >= cfg.short_oi_pct and price <= -cfg.regime_price_pct and funding < 0):
        return []
    evidence = {"oi_change_pct": rnd(oi), "price_change_pct": rnd(price), "price_source": src,
                "funding_8h_pct": rnd(funding * 100), "funding_sources": f_src,
                "thresholds": {"short_oi_pct": cfg.short_oi_pct, "regime_price_pct": cfg.regime_price_pct}}
    msg = f"OI {fmt_pct(oi)} while price {fmt_pct(price)} over {cfg.regime_window}, funding {funding * 100:.3f}%/8h"
    return [Flag("short_buildup", "warn", msg, evidence, window=cfg.regime_window)]


def oi_price_regime(ctx: Context, cfg: SignalsConfig) -> list[Flag]:
    oi, price, src = _regime_moves(ctx, cfg)
    if not (math.isfinite(oi) and math.isfinite(price)):
        return []
    if abs(oi) < cfg.regime_oi_pct or abs(price) < cfg.regime_price_pct:
        return []
    regime = {(True, True): "new longs", (False, True): "short covering", (True, False): "new shorts",
              (False, False): "long flush"}[(oi > 0, price > 0)]
    evidence = {"regime": regime, "oi_change_pct": rnd(oi), "price_change_pct": rnd(price), "price_source": src,
                "thresholds": {"regime_oi_pct": cfg.regime_oi_pct, "regime_price_pct": cfg.regime_price_pct}}
    return [Flag("oi_price_regime", "info", f"{regime}: OI {fmt_pct(oi)}, price {fmt_pct(price)} over "
                 f"{cfg.regime_window}", evidence, window=cfg.regime_window)]
