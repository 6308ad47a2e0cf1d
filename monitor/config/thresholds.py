"""Signal thresholds and verdict weights (DESIGN.md §4)."""

from __future__ import annotations

from pydantic import Field

from monitor.config.base import Strict
from monitor.config.types import Duration


class SignalsConfig(Strict):
    window: Duration = "7d"
    confirm_window: Duration = "3d"  # a rule that also fires on this window counts more
    oi_surge_pct: float = 100.0
    onchain_flat_pct: float = 20.0
    dev_window: Duration = "28d"
    redeploy_oi_pct: float = 50.0
    redeploy_days: float = 3.0
    perp_spot_warn: float = 10.0
    perp_spot_high: float = 100.0
    perp_spot_critical: float = 1000.0
    oi_mcap_warn: float = 0.5
    oi_mcap_high: float = 1.0
    oi_tvl_warn: float = 1.0
    crowded_funding_8h: float = 0.0005  # 0.05 % per 8h, as a fraction
    crowded_long_short: float = 2.0
    rsi_tiers: list[float] = [70.0, 80.0, 90.0]
    rsi_period: int = 14
    liq_sigma: float = 3.0
    liq_oi_pct: float = 5.0
    liq_baseline: Duration = "30d"
    disagreement_pct: float = 25.0
    mirror_tolerance_pct: float = 2.0
    stale_after: Duration = "6h"  # a series older than this (relative to its poll interval) is stale
    min_points: int = 3
    trend_window: Duration = "30d"  # adoption is judged on a longer window than a surge
    adoption_growth_pct: float = 20.0
    adoption_z: float = 3.0  # growth must be this many times the series' own noise (MAD of its changes)
    adoption_strong_z: float = 6.0  # one family alone carries adoption only this far beyond its noise
    adoption_event_days: float = 3.0  # points this close to a creation, migration or settlement are left out
    lookback: Duration = "37d"  # what evaluate reads: the 30-day baseline plus a 7-day window
    regime_window: Duration = "1d"
    regime_oi_pct: float = 5.0  # |OI change| that makes an OI/price regime
    regime_price_pct: float = 3.0
    short_oi_pct: float = 10.0  # short_buildup: OI up at least this while price falls
    event_window: Duration = "7d"  # exchange events this recent are reported
    mirror_min_points: int = 12
    mirror_share: float = 0.9  # share of overlapping bars within mirror_tolerance_pct
    mirror_hourly_span: Duration = "48h"  # hourly volume bars are compared over this recent span
    oi_max_lag: Duration = "2h"  # a venue's OI this far behind the newest venue's is not summed as current
    extreme_funding_warn: float = 0.002  # |funding| per 8h, as a fraction (0.2 %), either sign
    extreme_funding_high: float = 0.01  # 1 % per 8h
    funding_cap_share: float = 0.95  # |funding| at this share of the published cap counts as "at the cap"
    move_oi_pct: float = 15.0  # a move during which dark data is "data degraded"
    volume_day_max_age: Duration = "36h"  # daily volume bars: the latest complete day must have ended this recently
    workers: int = Field(2, ge=1, le=64)  # processes judging tokens (evaluate_all) once there are enough of them
    parallel_min_tokens: int = Field(200, ge=1)


class VerdictConfig(Strict):
    speculation_score: float = 60.0
    adoption_score: float = 30.0
    min_confidence: float = 0.35  # below this the label is "insufficient data"
    base_score: float = 35.0  # a token with no flag and no adoption evidence
    confirm_bonus: float = 1.5  # a rule confirmed on two windows counts this much more
    adoption_points: float = 30.0  # taken off when on-chain growth leads OI over signals.trend_window
    weights: dict[str, float] = {
        "oi_surge_unsupported": 40.0, "oi_surge_with_redeployment": 25.0, "perp_spot_ratio": 10.0,
        "oi_exceeds_economy": 16.0, "crowded_longs": 10.0, "short_buildup": 8.0, "oi_price_regime": 0.0,
        "liquidation_spike": 8.0, "exchange_event": 6.0, "extreme_funding": 8.0, "data_blind_spot": 0.0,
        "source_disagreement": 0.0,
    }
    severity_factor: dict[str, float] = {"info": 0.0, "warn": 1.0, "high": 1.5, "critical": 2.0}
    stale_penalty: float = 0.12  # confidence lost per dark or stale market source
    degraded_penalty: float = 0.2  # extra loss when sources go dark during a move
    disagreement_penalty: float = 0.1
    missing_onchain_penalty: float = 0.3
    venues_dark_penalty: float = 0.25  # extra loss when every venue configured for the token is dark
