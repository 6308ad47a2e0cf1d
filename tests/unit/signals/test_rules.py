"""Each rule on hand-built frames, pure (no store): fires with its numbers, stays quiet otherwise."""

from __future__ import annotations

from datetime import timedelta

import numpy as np
import pandas as pd
import pytest

from monitor.config import SignalsConfig, VerdictConfig
from monitor.model import PollRun
from monitor.signals import TokenInputs, evaluate
from monitor.signals.context import Context
from monitor.signals.health import source_health
from monitor.signals.inputs import View
from monitor.signals.rules import RULES
from tests.scenarios import episodes as E

CFG, VCFG = SignalsConfig(), VerdictConfig()
INTERVALS = {v: timedelta(hours=1) for v in E.VENUES} | {"coingecko": timedelta(hours=1),
                                                         "defillama": timedelta(hours=6)}


def inputs(frames, events=(), runs=None, intervals=INTERVALS):
    obs = pd.concat(frames, ignore_index=True)
    runs_frame = None
    if runs:
        runs_frame = pd.DataFrame([{"source": r.source, "status": r.status, "http_status": r.http_status,
                                    "started_at": r.started_at} for r in runs])
    return TokenInputs("AIA", obs, tuple(events), runs_frame, intervals)


def run_rule(name, frames, cfg=CFG, **kw):
    inp = inputs(frames, **kw)
    view = View(inp, E.NOW)
    ctx = Context(view, cfg, source_health(view, cfg.stale_after))
    return RULES[name](ctx, cfg)


def base():
    return E.calm_market() + E.flat_onchain()


def with_oi(frames, f):
    for v in E.VENUES:
        frames = E.replace(frames, "oi_usd", v, E.series("oi_usd", v, f))
    return frames


def test_calm_market_fires_no_rule():
    inp = inputs(base())
    view = View(inp, E.NOW)
    ctx = Context(view, CFG, source_health(view, CFG.stale_after))
    for name, rule in RULES.items():
        assert rule(ctx, CFG) == [], name


def test_oi_surge_unsupported_needs_flat_onchain():
    surge = with_oi(base(), E.ramp(5e6, 11e6, 5 * 24))  # +120% over 5 days: 7d fires, 3d does not
    [flag] = run_rule("oi_surge_unsupported", surge)
    assert flag.window == "7d" and not flag.confirmed
    assert flag.evidence["windows"]["7d"]["oi_growth_pct"] == pytest.approx(120, abs=1)
    growing = E.replace(surge, "tvl_token", "defillama",
                        E.series("tvl_token", "defillama", E.ramp(50e6, 80e6, 6 * 24), freq="1D"))
    assert run_rule("oi_surge_unsupported", growing) == []  # TVL +60% in token units supports it


def test_oi_surge_with_redeployment_needs_event_near_the_surge():
    frames = with_oi(base(), E.ramp(5e6, 8e6, 30, 6))
    near = E.event("proxy_upgraded", E.NOW - timedelta(days=1), chain="bsc")
    far = E.event("proxy_upgraded", E.NOW - timedelta(days=6), chain="bsc")
    [flag] = run_rule("oi_surge_with_redeployment", frames, events=[near])
    assert flag.evidence["events"][0]["kind"] == "proxy_upgraded"
    assert run_rule("oi_surge_with_redeployment", frames, events=[far]) == []
    exchange_only = E.event("perp_settled", E.NOW - timedelta(days=1))
    assert run_rule("oi_surge_with_redeployment", frames, events=[exchange_only]) == []


@pytest.mark.parametrize(("perp_h", "severity"), [(4e6 * 20 / 24 / 4, "warn"), (4e6 * 200 / 24 / 4, "high"),
                                                   (4e6 * 1174 / 24 / 4, "critical")])
def test_perp_spot_ratio_tiers(perp_h, severity):
    frames = base()
    for v in E.VENUES:
        frames = E.replace(frames, "perp_volume_usd", v, E.series("perp_volume_usd", v, perp_h))
    [flag] = run_rule("perp_spot_ratio", frames)
    assert flag.severity == severity
    assert flag.evidence["spot_sources"] == ["coingecko"]


def test_oi_exceeds_economy_tiers():
    [warn] = run_rule("oi_exceeds_economy", E.calm_market(mcap=30e6) + E.flat_onchain(tvl_usd=500e6))
    assert warn.severity == "warn" and warn.evidence["oi_to_market_cap"] == pytest.approx(0.667, abs=0.01)
    [tvl] = run_rule("oi_exceeds_economy", E.calm_market() + E.flat_onchain(tvl_usd=10e6))
    assert tvl.severity == "warn" and tvl.evidence["oi_to_tvl"] == pytest.approx(2.0, rel=0.05)


@pytest.mark.parametrize(("gain", "tier"), [(0.0, None), (0.4, "critical")])
def test_crowded_longs_needs_rsi(gain, tier):
    frames = E.calm_market(funding=0.0012, long_short=4.5)
    for i, v in enumerate(E.VENUES):
        frames = E.replace(frames, "price_close_1h", v, E.series(
            "price_close_1h", v, E.noisy(E.ramp(1.0, 1.0 + gain, 120), 0.2, i)))
    flags = run_rule("crowded_longs", frames + E.flat_onchain())
    assert [f.severity for f in flags] == ([tier] if tier else [])


def test_short_buildup_and_regime():
    frames = with_oi(E.calm_market(funding=-0.0003) + E.flat_onchain(), E.ramp(5e6, 6e6, 24))
    for v in E.VENUES:
        frames = E.replace(frames, "price_close_1h", v, E.series("price_close_1h", v, E.ramp(1.0, 0.9, 24)))
    [short] = run_rule("short_buildup", frames)
    assert short.evidence["oi_change_pct"] == pytest.approx(20, abs=0.5)
    assert short.evidence["funding_8h_pct"] == pytest.approx(-0.03)
    [regime] = run_rule("oi_price_regime", frames)
    assert regime.evidence["regime"] == "new shorts" and regime.severity == "info"


def test_liquidation_spike_sigma_and_share_of_oi():
    frames = base()
    rng = np.random.default_rng(4)
    quiet = rng.uniform(1e3, 3e3, 40 * 24 + 1)
    spike = quiet.copy()
    spike[-12:] = 1e5  # 1.2M in the last 12 hours: ~6% of 20M OI and far beyond 3 sigma
    frames.append(E.series("liq_long_usd", "okx", spike))
    [flag] = run_rule("liquidation_spike", frames)
    assert flag.severity == "high" and flag.confirmed
    assert flag.evidence["zscore"] > 3 and flag.evidence["pct_of_oi"] == pytest.approx(6.1, abs=0.3)
    assert run_rule("liquidation_spike", [*base(), E.series("liq_long_usd", "okx", quiet)]) == []


def test_exchange_event_from_events_and_series():
    ev = E.event("funding_regime_changed", E.NOW - timedelta(days=2), source="gate", venue="gate")
    old = E.event("perp_delisted", E.NOW - timedelta(days=20), source="gate")
    [flag] = run_rule("exchange_event", base(), events=[ev, old])
    assert [e["kind"] for e in flag.evidence["events"]] == ["funding_regime_changed"] and flag.severity == "warn"
    frames = E.replace(base(), "funding_interval_h", "okx",
                       E.series("funding_interval_h", "okx", lambda h: np.where(h > 48, 8.0, 4.0), freq="8h"))
    [flag] = run_rule("exchange_event", frames)
    assert [(c["venue"], c["from"], c["to"]) for c in flag.evidence["funding_interval_changes"]] == [("okx", 8.0, 4.0)]


def test_source_disagreement_on_price():
    frames = E.replace(base(), "price_close", "coingecko", E.series("price_close", "coingecko", 1.5, freq="1D"))
    frames += [E.series("price_close", "okx", 1.0), E.series("price_close", "gate", 1.02)]
    [flag] = run_rule("source_disagreement", frames)
    assert flag.evidence["deviation_pct"]["coingecko"] == pytest.approx(48, abs=2)


def test_venue_whose_oi_stops_is_dropped_from_the_aggregate_and_reported_dark():
    frames = base()
    oi = E.series("oi_usd", "binance", 5e6)
    frames = E.replace(frames, "oi_usd", "binance", oi[oi["ts"] <= E.NOW - timedelta(hours=12)])
    inp = inputs(frames)
    view = View(inp, E.NOW)
    ctx = Context(view, CFG, source_health(view, CFG.stale_after))
    assert ctx.oi_venues == ["bybit", "gate", "okx"] and ctx.oi_dark_venues == ["binance"]
    assert ctx.oi_growth(timedelta(days=1)) == pytest.approx(0, abs=2)  # not -25%
    [flag] = RULES["data_blind_spot"](ctx, CFG)
    assert flag.evidence["sources"]["binance"]["status"] == "oi stale"


def test_data_blind_spot_counts_429s():
    runs = [PollRun("okx", "AIA", E.NOW - timedelta(minutes=30), E.NOW, "throttled", http_status=429)]
    [flag] = run_rule("data_blind_spot", base(), runs=runs)
    assert flag.evidence["sources"]["okx"]["throttled"] == 1 and flag.severity == "info"  # calm market
    assert flag.lowers_confidence


def test_rule_confirmed_on_two_windows_scores_more():
    one = evaluate(inputs(with_oi(base(), E.ramp(5e6, 11e6, 5 * 24))), CFG, VCFG, E.NOW)
    two = evaluate(inputs(with_oi(base(), E.ramp(5e6, 11e6, 2 * 24))), CFG, VCFG, E.NOW)
    # weight 40 x severity factor 1.5 (high); x confirm bonus 1.5 when 3d confirms 7d
    assert one.evidence["rules"]["oi_surge_unsupported"] == 60
    assert two.evidence["rules"]["oi_surge_unsupported"] == 90
    assert two.score > one.score


def test_evaluate_is_pure_and_repeatable():
    inp = inputs(base())
    before = inp.observations.copy()
    a, b = evaluate(inp, CFG, VCFG, E.NOW), evaluate(inp, CFG, VCFG, E.NOW)
    assert a == b
    pd.testing.assert_frame_equal(inp.observations, before)


def test_judging_as_of_a_past_moment_ignores_later_data():
    surge = with_oi(base(), E.ramp(5e6, 13e6, 24))
    past = evaluate(inputs(surge), CFG, VCFG, E.NOW - timedelta(days=2))
    assert "oi_surge_unsupported" not in {f.rule for f in past.flags}
    assert all(ts <= (E.NOW - timedelta(days=2)).isoformat() for ts in past.data_as_of.values())
