"""Each condition of the adoption rule (monitor/signals/adoption.py) on hand-built frames, pure: for every
condition a case whose outcome flips when the condition is removed.

Noise is Gaussian with fixed seeds; each test asserts the z-scores it relies on, so a case that stops
being what it claims fails loudly instead of passing for another reason.
"""

from __future__ import annotations

from datetime import timedelta

import numpy as np
import pandas as pd
import pytest

from monitor.signals import evaluate
from monitor.signals.adoption import noise
from monitor.signals.context import Context
from monitor.signals.health import source_health
from monitor.signals.inputs import View
from monitor.signals.rules import RULES
from tests.scenarios import episodes as E
from tests.unit.signals.test_rules import CFG, VCFG, inputs, with_oi

MONTH = 30 * 24  # hours: the trend window


SEEDS = {"tvl_token": 11, "tvl_usd": 12, "active_addresses": 13, "transfer_count": 14}


def flat(level):
    return lambda h: np.full(len(h), float(level))


def daily(metric, f, pct, source="defillama", days=40):
    return E.series(metric, source, E.noisy(f, pct, SEEDS[metric]), freq="1D", days=days)


def tvl(f, pct=1.0):
    return daily("tvl_token", f, pct)


def addresses(f, pct=3.0):
    return daily("active_addresses", f, pct, source="dune")


def transfers(f, pct=3.0):
    return daily("transfer_count", f, pct, source="dune")


def weekly_commits(values):
    idx = pd.date_range(end=pd.Timestamp("2025-11-16", tz="UTC"), periods=len(values), freq="7D")
    return pd.DataFrame({"ts": idx, "source": "github", "token": E.TOKEN, "metric": "dev_commits",
                         "value": np.asarray(values, dtype="float64")})


def judge(frames, events=(), cfg=CFG):
    v = evaluate(inputs(E.calm_market() + frames, events), cfg, VCFG, E.NOW)
    return v, v.evidence["trend"]["onchain"]


# ------------------------------------------------------------ noise


def test_noise_is_the_spread_of_changes_not_the_trend():
    steps = np.arange(400, dtype="float64") * 10.0  # a steady trend: no noise at all
    assert noise(steps) == 0.0
    wobble = np.random.default_rng(5).normal(0, 3.0, 400)  # sd 3 around a level
    assert noise(100 + wobble) == pytest.approx(3.0, rel=0.15)
    assert noise(steps + wobble) == pytest.approx(noise(100 + wobble), rel=0.15)
    spikes = 100 + wobble
    spikes[::40] += 500  # a few outliers barely move a median
    assert noise(spikes) == pytest.approx(3.0, rel=0.25)


# ------------------------------------------------------------ breadth: families, strength, contradiction


def test_two_families_beyond_their_noise_make_adoption():
    """TVL and addresses +30 % (daily noise 5 % and 4 %), each 3-6x its noise: neither strong alone, together
    broad."""
    v, onchain = judge([tvl(E.ramp(50e6, 65e6, MONTH), 5), addresses(E.ramp(3000, 3900, MONTH), 4)])
    assert set(onchain["carried_by"]) == {"tvl_token", "active_addresses"}
    assert all(3 <= onchain["zscore"][k] < 6 for k in onchain["carried_by"]), onchain
    assert v.label == "adoption" and onchain["why"].startswith("breadth"), onchain


def test_two_series_of_one_family_are_not_breadth():
    """Addresses and transfers come from the same transfers: one family, and not strong enough alone."""
    v, onchain = judge([tvl(flat(50e6)), addresses(E.ramp(3000, 3900, MONTH), 4),
                        transfers(E.ramp(7800, 10140, MONTH), 4)])
    assert set(onchain["carried_by"]) == {"active_addresses", "transfer_count"}
    assert all(onchain["zscore"][k] < 6 for k in onchain["carried_by"])
    assert v.label == "mixed" and not onchain["supported"]
    assert v.evidence["adoption"] == 0


def test_one_strong_series_with_nothing_falling_is_adoption():
    v, onchain = judge([tvl(flat(50e6)), addresses(E.ramp(3000, 6000, MONTH), 3)])
    assert onchain["carried_by"] == ["active_addresses"] and onchain["zscore"]["active_addresses"] >= 6
    assert v.label == "adoption" and onchain["why"].startswith("one strong series: active_addresses")


def test_one_strong_series_against_a_falling_one_is_not_adoption():
    v, onchain = judge([tvl(E.ramp(50e6, 35e6, MONTH)), addresses(E.ramp(3000, 6000, MONTH), 3)])
    assert onchain["falling"] == ["tvl_token"] and onchain["carried_by"] == ["active_addresses"]
    assert v.label == "mixed" and "tvl_token falls" in onchain["why"]


# ------------------------------------------------------------ significance: noise, counting floor, percent bar


def test_two_noisy_series_over_the_percent_bar_are_still_noise():
    """Addresses +23 % with ±15 % daily noise, commits 16-29 a week (+31 %): both clear 20 %, neither clears
    its own noise, so two families 'growing' are no breadth."""
    commits = weekly_commits([23, 27, 16, 20, 25, 19, 17, 22, 18, 24, 21, 29, 26])
    v, onchain = judge([tvl(flat(50e6)), addresses(E.ramp(3000, 4200, MONTH), 15), commits])
    growth = v.evidence["trend"]["onchain_growth_pct"]
    assert growth["active_addresses"] >= 20 and growth["dev_commits"] >= 20
    assert set(onchain["noise"]) >= {"active_addresses", "dev_commits"} and onchain["carried_by"] == []
    assert v.label == "mixed"


def test_small_counts_keep_their_counting_noise():
    """Commits 16 a week, then 22 for four weeks: a step with no wobble has zero MAD, yet six more commits
    on sixteen is within counting noise (sqrt 16 = 4)."""
    v, onchain = judge([tvl(flat(50e6)), addresses(flat(3000)), weekly_commits([16] * 9 + [22] * 4)])
    assert v.evidence["trend"]["onchain_growth_pct"]["dev_commits"] == pytest.approx(37.5)
    assert onchain["zscore"]["dev_commits"] == pytest.approx(1.5)
    assert "dev_commits" in onchain["noise"] and v.label == "mixed"


def test_growth_beyond_noise_below_the_percent_bar_is_not_adoption():
    v, onchain = judge([tvl(E.ramp(50e6, 55e6, MONTH), 0.3), addresses(E.ramp(50_000, 56_000, MONTH), 0.5)])
    assert set(onchain["below_bar"]) == {"tvl_token", "active_addresses"}
    assert all(onchain["zscore"][k] >= 3 for k in onchain["below_bar"])
    assert v.label == "mixed" and "below 20%" in onchain["why"]


# ------------------------------------------------------------ price-neutral TVL


@pytest.mark.parametrize("with_token_tvl", [True, False])
def test_usd_tvl_moved_by_price_is_not_growth(with_token_tvl):
    """Price +60 % over the month carries USD TVL +60 % while the tokens deposited stay put."""
    price = E.ramp(1.0, 1.6, MONTH)
    frames = [daily("tvl_usd", lambda h: 50e6 * price(h), 1), addresses(flat(3000))]
    if with_token_tvl:
        frames.append(tvl(flat(50e6)))
    v, onchain = judge(frames)
    assert v.evidence["trend"]["onchain_growth_pct"].get("tvl_usd") is None
    assert "tvl_usd" in onchain["ignored"] and v.label == "mixed"


# ------------------------------------------------------------ event windows


def burst(kind):
    """Addresses and transfers x3 over the last four days; an event of ``kind`` two days ago."""
    x3 = lambda level: lambda h: level * np.where(h <= 4 * 24, 3.0, 1.0)  # noqa: E731
    frames = [tvl(flat(50e6)), addresses(x3(3000)), transfers(x3(7800))]
    return frames, [E.event(kind, E.NOW - timedelta(days=2), chain="bsc", source="config")]


@pytest.mark.parametrize("kind", ["contract_created", "token_migration", "liquidity_migrated", "perp_settled"])
def test_burst_near_a_creation_migration_or_settlement_is_mechanics(kind):
    frames, events = burst(kind)
    v, onchain = judge(frames, events)
    assert set(onchain["discounted"]) == {"active_addresses", "transfer_count"}
    assert kind in onchain["discounted"]["transfer_count"]
    assert v.label != "adoption" and v.evidence["adoption"] == 0


def test_burst_near_another_event_kind_still_counts():
    frames, events = burst("ownership_transferred")
    v, onchain = judge(frames, events)
    assert onchain["discounted"] == {} and "transfer_count" in onchain["carried_by"]
    assert v.label == "adoption"


def test_event_window_is_configurable():
    frames, events = burst("token_migration")
    narrow = CFG.model_copy(update={"adoption_event_days": 0.5})  # the burst's first days fall outside it
    _, onchain = judge(frames, events, cfg=narrow)
    assert "transfer_count" in onchain["carried_by"]
    _, wide = judge(frames, events)
    assert "transfer_count" in wide["discounted"]


# ------------------------------------------------------------ adoption leads OI


def test_adoption_must_lead_open_interest():
    """Broad on-chain growth of ~30 % while OI grows 60 % over the month: OI leads, no adoption points."""
    frames = [tvl(E.ramp(50e6, 65e6, MONTH), 5), addresses(E.ramp(3000, 3900, MONTH), 4)]
    base = with_oi(E.calm_market(), E.ramp(5e6, 8e6, MONTH))
    v = evaluate(inputs(base + frames), CFG, VCFG, E.NOW)
    trend = v.evidence["trend"]
    assert trend["onchain"]["supported"] and trend["oi_growth_pct"] > trend["best_onchain_growth_pct"]
    assert v.evidence["adoption"] == 0 and v.label == "mixed"


# ------------------------------------------------------------ the OI-surge veto reads the same assessment


def surge_flags(frames, oi_after=10e6):
    frames = with_oi(E.calm_market(), E.ramp(5e6, oi_after, 24)) + frames
    inp = inputs(frames)
    view = View(inp, E.NOW)
    ctx = Context(view, CFG, source_health(view, CFG.stale_after))
    return RULES["oi_surge_unsupported"](ctx, CFG)


def test_oi_surge_fires_at_exactly_the_threshold():
    """4 venues x 5M -> 4 x 10M: exactly +100 %, the documented threshold (≥), on both windows."""
    onchain = [tvl(flat(50e6)), addresses(flat(3000))]
    [flag] = surge_flags(onchain)
    assert flag.evidence["windows"]["7d"]["oi_growth_pct"] == 100.0 and flag.confirmed
    assert surge_flags(onchain, oi_after=9.9e6) == []  # +98 %


def test_oi_surge_veto_needs_broad_support_not_one_noisy_series():
    commits = weekly_commits([23, 27, 16, 20, 25, 19, 17, 22, 18, 24, 21, 29, 26])
    [flag] = surge_flags([tvl(flat(50e6)), addresses(flat(3000)), commits])
    assert flag.evidence["windows"]["7d"]["onchain"]["noise"] == ["tvl_token", "active_addresses", "dev_commits"]
    assert "dev_commits" in flag.message
    supported = [tvl(E.ramp(50e6, 80e6, 6 * 24), 1), addresses(E.ramp(3000, 4500, 6 * 24), 3)]
    assert surge_flags(supported) == []


def test_oi_surge_with_only_usd_tvl_is_unsupported_but_not_without_any_covering_series():
    price = E.ramp(1.0, 1.6, 24)
    [flag] = surge_flags([daily("tvl_usd", lambda h: 50e6 * price(h), 1)])
    assert flag.evidence["windows"]["7d"]["onchain"]["ignored"] == {
        "tvl_usd": "USD TVL moves with price; tvl_token is used"}
    young = tvl(flat(50e6))
    [flag] = surge_flags([young[young["ts"] >= E.NOW - timedelta(days=5)]])
    assert flag.window == "3d" and list(flag.evidence["windows"]) == ["3d"]  # five days say nothing about seven
