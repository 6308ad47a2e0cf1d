"""Episodes shaped on documented cases, stored in a real database and judged through a real App."""

from __future__ import annotations

from datetime import timedelta

import numpy as np
import pytest

from monitor.jobs.evaluate import evaluate_all, evaluate_token
from tests.scenarios import episodes as E

ALL_SOURCES = [*E.VENUES, "coingecko", "defillama"]


def flags_of(verdict):
    return {f.rule: f for f in verdict.flags}


def surge_frames(growth=2.61, hours=24, turnover=12.0):
    """OI x2.61 in a day on every venue, perp volume ~turnover x OI per 24h, on-chain flat."""
    frames = E.calm_market() + E.flat_onchain()
    per_venue_now = 5e6 * growth
    for i, v in enumerate(E.VENUES):
        frames = E.replace(frames, "oi_usd", v, E.series("oi_usd", v, E.ramp(5e6, per_venue_now, hours)))
        vol_h = turnover * per_venue_now / 24
        frames = E.replace(frames, "perp_volume_usd", v, E.series(
            "perp_volume_usd", v, E.noisy(E.ramp(5e6 / 48, vol_h, hours + 1, hours - 1), 5, 100 + i)))
        frames = E.replace(frames, "price_close_1h", v, E.series(
            "price_close_1h", v, E.noisy(E.ramp(1.0, 1.35, hours), 0.3, 40 + i)))
    return frames


def test_speculative_surge_reads_speculation(store):
    app = E.make_app(store, surge_frames(), runs=E.ok_runs(ALL_SOURCES))
    v = evaluate_token(app, "AIA")
    f = flags_of(v)
    assert v.label == "speculation", v
    assert v.score >= 80
    surge = f["oi_surge_unsupported"]
    assert surge.severity == "high" and surge.confirmed and surge.window == "7d+3d"
    assert surge.evidence["windows"]["7d"]["oi_growth_pct"] == pytest.approx(161, abs=5)
    assert surge.evidence["windows"]["7d"]["best_onchain_growth_pct"] <= 20
    assert surge.evidence["perp_volume_24h_to_oi"] == pytest.approx(12, rel=0.25)
    assert f["perp_spot_ratio"].severity == "high"  # ~600M perp vs 4M spot
    assert v.confidence >= 0.9 and not v.degraded


def test_adoption_led_move_is_not_speculation(store):
    days = 75
    frames = E.calm_market()
    for i, v in enumerate(E.VENUES):  # OI -16% over ten weeks
        frames = E.replace(frames, "oi_usd", v, E.series("oi_usd", v, E.noisy(E.ramp(5e6, 4.2e6, 70 * 24), 0.5, i),
                                                         days=days))
    frames += [
        E.series("tvl_token", "defillama", E.noisy(E.geometric(2.73, 70 * 24, 136e6), 1, 7), days=days, freq="1D"),
        E.series("tvl_usd", "defillama", E.noisy(E.geometric(2.73, 70 * 24, 136e6), 1, 8), days=days, freq="1D"),
        E.series("active_addresses", "dune", E.noisy(E.geometric(1.8, 70 * 24, 9000), 3, 9), days=days, freq="1D"),
    ]
    app = E.make_app(store, frames, runs=E.ok_runs(ALL_SOURCES))
    v = evaluate_token(app, "AIA")
    assert v.label == "adoption", v
    assert "oi_surge_unsupported" not in flags_of(v)
    trend = v.evidence["trend"]
    assert trend["best_onchain_growth_pct"] > 40 and trend["oi_growth_pct"] < 0
    assert v.evidence["adoption"] > 0


def test_thin_float_squeeze(store):
    frames = E.calm_market(oi_per_venue=6e6, mcap=20e6) + E.flat_onchain()  # OI 24M > market cap 20M
    interval = E.series("funding_interval_h", "binance", lambda h: np.where(h > 30, 4.0, 1.0), freq="1h")
    rate = E.series("funding_rate", "binance", lambda h: np.where(h > 30, -0.002, -0.0124), freq="1h")
    cap = E.series("funding_cap", "binance", lambda h: np.where(h > 30, 0.02, 0.04), freq="1h")
    for metric, new in (("funding_interval_h", interval), ("funding_rate", rate)):
        frames = E.replace(frames, metric, "binance", new)
    frames.append(cap)
    app = E.make_app(store, frames, runs=E.ok_runs(ALL_SOURCES))
    v = evaluate_token(app, "AIA")
    f = flags_of(v)
    econ = f["oi_exceeds_economy"]
    assert econ.severity == "high" and econ.evidence["oi_to_market_cap"] == pytest.approx(1.2, rel=0.05)
    ev = f["exchange_event"].evidence
    assert ev["funding_interval_changes"] == [{"venue": "binance", "ts": ev["funding_interval_changes"][0]["ts"],
                                               "from": 4.0, "to": 1.0}]
    assert [(c["from"], c["to"]) for c in ev["funding_cap_changes"]] == [(0.02, 0.04)]
    assert "4h→1h" in f["exchange_event"].message and "±2%→±4%" in f["exchange_event"].message
    assert v.label == "speculation"


def test_migration_next_to_perp_settlement(store):
    frames = E.calm_market() + E.flat_onchain()
    for v in E.VENUES:  # OI +60% over the last three days
        frames = E.replace(frames, "oi_usd", v, E.series("oi_usd", v, E.ramp(5e6, 8e6, 72)))
    events = [
        E.event("token_migration", E.NOW - timedelta(days=2), chain="bsc", source="config", old="0x1", new="0x2"),
        E.event("perp_settled", E.NOW - timedelta(days=1), source="okx", venue="okx"),
    ]
    app = E.make_app(store, frames, events=events, runs=E.ok_runs(ALL_SOURCES))
    v = evaluate_token(app, "AIA")
    f = flags_of(v)
    red = f["oi_surge_with_redeployment"]
    assert red.evidence["events"][0]["kind"] == "token_migration"
    assert abs(red.evidence["events"][0]["hours_from_surge"]) <= 72
    assert red.evidence["oi_growth_pct"] == pytest.approx(60, abs=3)
    assert [e["kind"] for e in f["exchange_event"].evidence["events"]] == ["perp_settled"]
    assert "oi_surge_unsupported" not in f  # +60% is below the 100% surge threshold


def test_delisting_collapse(store):
    frames = E.calm_market() + E.flat_onchain()
    for v in E.VENUES:
        frames = E.replace(frames, "oi_usd", v, E.series("oi_usd", v, E.ramp(5e6, 2.8e6, 24)))
        frames = E.replace(frames, "price_close_1h", v, E.series("price_close_1h", v, E.ramp(1.0, 0.6, 24)))
    events = [E.event("perp_delisted", E.NOW - timedelta(hours=20), source="binance", venue="binance")]
    app = E.make_app(store, frames, events=events, runs=E.ok_runs(ALL_SOURCES))
    v = evaluate_token(app, "AIA")
    f = flags_of(v)
    assert f["exchange_event"].severity == "high"
    assert f["exchange_event"].evidence["oi_change_24h_pct"] == pytest.approx(-44, abs=1)
    assert f["oi_price_regime"].evidence["regime"] == "long flush"
    assert v.label != "adoption"


def crowded_frames(funding_8h: float, long_short: float, price_gain: float):
    frames = E.calm_market(funding=funding_8h, long_short=long_short)
    for i, v in enumerate(E.VENUES):
        frames = E.replace(frames, "price_close_1h", v, E.series(
            "price_close_1h", v, E.noisy(E.ramp(1.0, 1.0 + price_gain, 5 * 24), 0.2, 60 + i)))
    return frames + E.flat_onchain()


def test_crowded_longs_fire_and_calm_baseline_fires_nothing(store, tmp_path):
    app = E.make_app(store, crowded_frames(0.0012, 4.5, 0.4), runs=E.ok_runs(ALL_SOURCES))
    v = evaluate_token(app, "AIA")
    crowd = flags_of(v)["crowded_longs"]
    assert crowd.evidence["funding_8h_pct"] == pytest.approx(0.12, abs=0.005)
    assert crowd.evidence["long_short_accounts"] > 4
    assert crowd.evidence["rsi"]["4h"] >= 90 and crowd.severity == "critical"

    from monitor.store import Store

    calm_store = Store(f"sqlite:///{tmp_path / 'calm.db'}")
    calm = evaluate_token(E.make_app(calm_store, crowded_frames(0.0001, 1.0, 0.0), runs=E.ok_runs(ALL_SOURCES)),
                          "AIA")
    assert calm.flags == (), [f.message for f in calm.flags]
    assert calm.label in ("mixed", "adoption") and calm.confidence == 1.0 and calm.reasons == ()


def test_volume_mirroring_lowers_confidence(store):
    frames = E.calm_market() + E.flat_onchain()
    binance = E.series("perp_volume_usd", "binance", E.noisy(lambda h: np.full(len(h), 2e5), 20, 5))
    bybit = binance.assign(source="bybit", value=binance["value"] * 1.003)
    frames = E.replace(E.replace(frames, "perp_volume_usd", "binance", binance), "perp_volume_usd", "bybit", bybit)
    app = E.make_app(store, frames, runs=E.ok_runs(ALL_SOURCES))
    v = evaluate_token(app, "AIA")
    dis = flags_of(v)["source_disagreement"]
    assert dis.evidence["venues"] == ["binance", "bybit"] and dis.evidence["matching_share"] >= 0.9
    assert dis.lowers_confidence and v.confidence <= 0.9 and v.degraded
    assert any(r.startswith("data disagreement") for r in v.reasons)


def test_blind_spot_during_cascade_reads_degraded_not_calm(store):
    frames = E.calm_market() + E.flat_onchain()
    for v in E.VENUES:
        oi = E.series("oi_usd", v, E.ramp(5e6, 3.2e6, 24))
        price = E.series("price_close_1h", v, E.ramp(1.0, 0.7, 24))
        frames = E.replace(E.replace(frames, "oi_usd", v, oi), "price_close_1h", v, price)
    cut = E.NOW - timedelta(hours=10)  # binance and bybit throttled for the last 10 hours: nothing stored since
    frames = [f[f["ts"] <= cut] if f["source"].iat[0] in ("binance", "bybit") else f for f in frames]
    runs = E.ok_runs(["okx", "gate", "coingecko", "defillama"])
    from monitor.model import PollRun

    for v in ("binance", "bybit"):
        runs += E.ok_runs([v], hours=24)[:14]
        for k in range(10, 0, -1):
            t = E.NOW - timedelta(hours=k)
            runs.append(PollRun(v, "AIA", t, t, "throttled", http_status=429, message="429 Too Many Requests"))
    app = E.make_app(store, frames, runs=runs)
    v = evaluate_token(app, "AIA")
    blind = flags_of(v)["data_blind_spot"]
    assert set(blind.evidence["sources"]) == {"binance", "bybit"}
    assert blind.evidence["sources"]["binance"]["throttled"] == 10 and blind.evidence["during_move"]
    assert blind.severity == "warn"
    assert v.reasons[0].startswith("data degraded") and v.degraded
    assert v.confidence <= 0.6
    assert v.label != "adoption"
    # the dark venues are left out of the aggregate: the visible move is the real -36%, not a fake collapse
    assert blind.evidence["move"]["oi_change_pct"] == pytest.approx(-36, abs=1)
    assert v.evidence["oi_venues"] == ["gate", "okx"]
    health = {h.source: h for h in v.health}
    assert health["binance"].dark and health["binance"].status == "throttled" and not health["okx"].dark


def test_evaluate_all_ranks_by_score(store):
    app = E.make_app(store, surge_frames(), runs=E.ok_runs(ALL_SOURCES))
    calm = E.calm_market() + E.flat_onchain()
    import pandas as pd

    store.upsert_observations(pd.concat(calm, ignore_index=True).assign(token="CALM"))
    cfg = E.config()
    cfg["tokens"].append({"symbol": "CALM"})
    app = E.make_app(store, [], cfg=cfg)
    verdicts = evaluate_all(app)
    assert [v.token for v in verdicts] == ["AIA", "CALM"]
    assert verdicts[0].score > verdicts[1].score
