"""Issue 12 (signal side): evidence aligned in time and counted once. Each test is built so that the
condition it names is the one deciding the outcome (removing it flips the assertion)."""

from __future__ import annotations

from datetime import timedelta

import numpy as np
import pandas as pd
import pytest

from monitor.config import SignalsConfig
from monitor.model import PollRun
from monitor.signals import TokenInputs
from monitor.signals.context import Context
from monitor.signals.health import source_health
from monitor.signals.inputs import View
from monitor.signals.rules import RULES
from monitor.signals.rules_data import market_move
from tests.scenarios import episodes as E
from tests.unit.signals.test_rules import INTERVALS, base, with_oi

CFG = SignalsConfig()
H = timedelta(hours=1)


def runs_frame(runs):
    return pd.DataFrame([{"source": r.source, "status": r.status, "http_status": r.http_status,
                          "started_at": r.started_at, "rows": r.rows, "endpoint": r.endpoint} for r in runs])


def context(frames, events=(), runs=None, cfg=CFG, now=E.NOW):
    obs = pd.concat([f for f in frames if len(f)], ignore_index=True)
    inp = TokenInputs("AIA", obs, tuple(events), runs_frame(runs) if runs else None, INTERVALS)
    view = View(inp, now)
    return Context(view, cfg, source_health(view, cfg.stale_after))


def rule(name, frames, cfg=CFG, **kw):
    return RULES[name](context(frames, cfg=cfg, **kw), cfg)


def cut(frame, last_ago):
    """The frame with nothing newer than ``last_ago`` before now (a series that stopped)."""
    return frame[frame["ts"] <= E.NOW - last_ago]


# ------------------------------------------------------------ item 3: redeployment anchored on the surge window


def test_upgrade_on_day_six_of_a_ten_day_exponential_surge_is_linked():
    frames = with_oi(base(), E.geometric(8.0, 240, 40e6))  # x8 in 10 days: the steepest day is always the last
    upgrade = E.event("proxy_upgraded", E.NOW - timedelta(days=4), chain="ethereum")
    [flag] = rule("oi_surge_with_redeployment", frames, events=[upgrade])
    ev = flag.evidence
    assert ev["events"][0]["kind"] == "proxy_upgraded" and ev["oi_growth_pct"] > 300
    assert pd.Timestamp(ev["surge_from"]) < pd.Timestamp(upgrade.ts) <= pd.Timestamp(ev["surge_to"])


def test_contract_event_long_before_the_surge_started_is_not_linked():
    frames = with_oi(base(), E.ramp(5e6, 8e6, 30, 6))  # flat, then +60% from 30h to 6h ago
    at_start = E.event("proxy_upgraded", E.NOW - timedelta(hours=30) - timedelta(days=2.5), chain="bsc")
    before = E.event("proxy_upgraded", E.NOW - timedelta(hours=30) - timedelta(days=3.5), chain="bsc")
    assert rule("oi_surge_with_redeployment", frames, events=[at_start])  # within redeploy_days of the start
    assert rule("oi_surge_with_redeployment", frames, events=[before]) == []


# ------------------------------------------------------------ item 4: liquidations counted once


def liq_frames(agg_day=40e6, venue_day=(20e6, 15e6), coinglass_last_ago=timedelta(0), days=40, seed=5):
    """CoinGlass's cross-venue aggregate on closed 4h bars (it already holds OKX and Gate), plus OKX and
    Gate hourly, each day the same size with realistic noise."""
    rng = np.random.default_rng(seed)
    out = []
    for side, share in (("liq_long_usd", 0.7), ("liq_short_usd", 0.3)):
        per_bar = agg_day * share / 6
        out.append(E.series(side, "coinglass", lambda h, p=per_bar: p * rng.uniform(0.8, 1.2, len(h)), days=days,
                            freq="4h", end=E.NOW - coinglass_last_ago))
        for venue, day in zip(("okx", "gate"), venue_day, strict=True):
            out.append(E.series(side, venue, lambda h, p=day * share / 24: p * rng.uniform(0.8, 1.2, len(h)),
                                days=days))
    return out


def test_liquidations_read_the_aggregate_not_aggregate_plus_venues():
    # 1B of OI; the aggregate serves ~40M a day (4 %), OKX + Gate (inside it) 35M: summed, 7.5 % fired
    frames = E.calm_market(oi_per_venue=250e6) + E.flat_onchain() + liq_frames()
    ctx = context(frames)
    assert RULES["liquidation_spike"](ctx, CFG) == []
    per_metric, used = ctx.liquidations
    assert used == ["coinglass"]
    last24 = sum(float(s[s.index > E.NOW - timedelta(days=1)].sum()) for s in per_metric.values())
    assert last24 == pytest.approx(40e6, rel=0.15)
    assert market_move(ctx, CFG)["liquidations_pct_of_oi"] == pytest.approx(last24 / ctx.oi_now * 100)


def test_aggregate_that_stopped_gives_way_to_the_venues():
    frames = E.calm_market(oi_per_venue=250e6) + E.flat_onchain() + liq_frames(coinglass_last_ago=timedelta(days=3))
    per_metric, used = context(frames).liquidations
    assert used == ["gate", "okx"]
    last24 = sum(float(s[s.index > E.NOW - timedelta(days=1)].sum()) for s in per_metric.values())
    assert last24 == pytest.approx(35e6, rel=0.1)


def test_one_liquidations_function_for_rule_and_chart():
    from monitor.signals.liquidations import liquidations

    frames = liq_frames()
    by = {m: {f["source"].iat[0]: pd.Series(f["value"].to_numpy(), index=pd.DatetimeIndex(f["ts"]))
              for f in frames if f["metric"].iat[0] == m} for m in ("liq_long_usd", "liq_short_usd")}
    per_metric, used = liquidations(by, E.NOW)
    assert used == ["coinglass"] and set(per_metric) == {"liq_long_usd", "liq_short_usd"}
    served = by["liq_long_usd"]["coinglass"]
    assert per_metric["liq_long_usd"].sum() == pytest.approx(served.sum())
    assert per_metric["liq_long_usd"].index.equals(served.sort_index().index)


# ------------------------------------------------------------ item 5: same timestamp, or scaled to the moment


def test_midnight_snapshot_is_compared_with_the_venue_close_at_midnight_not_the_open_candle():
    day = pd.Timestamp(E.NOW).floor("1D")
    frames = base()  # CoinGecko's price is 1.0 at every midnight; today the price ran +60% since 00:00
    for i, v in enumerate(("okx", "gate")):
        closes = E.series("price_close", v, E.noisy(lambda h: np.full(len(h), 1.0), 0.5, 60 + i), freq="1D")
        closes.loc[closes["ts"] == day, "value"] = 1.6  # the still-open day candle: its close is the live price
        frames.append(closes)
    assert rule("source_disagreement", frames) == []
    frames = E.replace(frames, "price_close", "coingecko", E.series("price_close", "coingecko", 1.5, freq="1D"))
    [flag] = rule("source_disagreement", frames)  # a real disagreement at the same instant still counts
    assert flag.evidence["at"] == day.isoformat() and flag.evidence["deviation_pct"]["coingecko"] > 40


def test_oi_over_market_cap_scales_the_midnight_snapshot_to_now():
    day = pd.Timestamp(E.NOW).floor("1D")
    frames = E.calm_market(oi_per_venue=21.5e6, mcap=10e6)  # 86M of OI against a 10M midnight market cap
    for v in E.VENUES:  # price 1.0 until midnight, 2.77 now
        frames = E.replace(frames, "price_close_1h", v, E.series(
            "price_close_1h", v, lambda h: np.where(h > (E.NOW - day) / H, 1.0, 2.77)))
    [flag] = rule("oi_exceeds_economy", frames + E.flat_onchain(tvl_usd=1e9))
    ev = flag.evidence
    assert ev["oi_to_market_cap"] == pytest.approx(3.1, rel=0.03)  # not 8.6
    assert ev["market_cap_basis"]["method"] == "snapshot scaled by price"
    assert ev["market_cap_basis"]["snapshot_at"] == day.isoformat()


# ------------------------------------------------------------ item 7: stale venue data, empty answers


def cascade(binance_last_ago):
    """Binance holds 40M and the others 5M each; all fall 60% over the last 4 hours; Binance's OI
    stopped ``binance_last_ago`` before now (its poll still answers)."""
    frames = base()
    for v, level in (("binance", 40e6), ("bybit", 5e6), ("okx", 5e6), ("gate", 5e6)):
        s = E.series("oi_usd", v, E.ramp(level, level * 0.4, 4))
        frames = E.replace(frames, "oi_usd", v, cut(s, binance_last_ago) if v == "binance" else s)
    return frames


def test_venue_oi_hours_old_is_not_summed_as_current():
    ctx = context(cascade(timedelta(hours=3)))
    assert "binance" not in ctx.oi_venues and ctx.oi_dark_venues == ["binance"]
    assert ctx.oi_growth(timedelta(days=1)) == pytest.approx(-60, abs=2)
    [flag] = RULES["data_blind_spot"](ctx, CFG)
    assert flag.evidence["sources"]["binance"]["status"] == "oi stale"
    assert context(cascade(timedelta(hours=1))).oi_venues == sorted(E.VENUES)


def test_aggregate_against_stale_venue_data_is_not_the_outlier():
    frames = cascade(timedelta(hours=2, minutes=30))
    truth = E.series("oi_usd", "coinglass", E.ramp(55e6, 22e6, 4), end=E.NOW - H)  # the real total
    assert [f for f in rule("source_disagreement", [*frames, truth])] == []
    calm = E.calm_market() + E.flat_onchain()  # fresh venues, an aggregate 60% above them: still flagged
    high = E.series("oi_usd", "coinglass", 32e6, end=E.NOW - H)
    [flag] = rule("source_disagreement", [*calm, high])
    assert flag.evidence["deviation_pct"]["coinglass"] == pytest.approx(60, abs=3)


def test_http_200_with_nothing_where_the_venue_had_data_is_not_ok():
    frames = base()
    frames = E.replace(frames, "oi_usd", "okx", cut(E.series("oi_usd", "okx", 5e6), 2 * H))
    at = [E.NOW - timedelta(hours=k, minutes=55) for k in (1, 0)]
    empty = [PollRun("okx", "AIA", t, t + H / 60, "ok", http_status=200, rows=0, endpoint="fetch") for t in at]
    request = [PollRun("okx", "AIA", t, t, "ok", http_status=200, rows=0, endpoint="/api/v5/x") for t in at]
    ok = [PollRun("okx", "AIA", t, t, "ok", http_status=200, rows=12, endpoint="fetch") for t in at]
    health = {h.source: h for h in context(frames, runs=empty + request).health.values()}
    assert health["okx"].status == "empty" and health["okx"].dark
    assert health["okx"].detail.endswith("last poll returned no rows")
    health = {h.source: h for h in context(frames, runs=ok + request).health.values()}
    assert health["okx"].status == "ok" and not health["okx"].dark


# ------------------------------------------------------------ item 6: exchange events and extreme funding


def settled_okx(frames, at):
    for metric in ("oi_usd", "funding_rate", "funding_interval_h", "long_short_account_ratio", "perp_volume_usd",
                   "price_close_1h"):
        s = next(f for f in frames if f["metric"].iat[0] == metric and f["source"].iat[0] == "okx")
        frames = E.replace(frames, metric, "okx", cut(s, E.NOW - at))
    return frames


def test_settled_market_is_finished_not_dark_during_a_move():
    settle = E.NOW - timedelta(days=3)
    frames = with_oi(base(), E.ramp(5e6, 3e6, 20))  # the remaining venues fall 40%: a move
    frames = settled_okx(frames, settle)
    settled = E.event("perp_settled", settle, chain="exchange:okx", source="okx", symbol="AIA/USDT:USDT")
    ctx = context(frames, events=[settled])
    assert ctx.health["okx"].status == "settled" and not ctx.health["okx"].dark and not ctx.health["okx"].expected
    assert "okx" not in ctx.oi_dark_venues and not ctx.fresh("okx")  # finished: its last values are history
    assert RULES["data_blind_spot"](ctx, CFG) == []
    other = E.event("perp_settled", settle, chain="exchange:gate", source="gate")  # another venue's settlement
    [flag] = rule("data_blind_spot", frames, events=[other])
    assert flag.evidence["during_move"] and "okx" in flag.evidence["sources"]


def funding_frames(rate_now, interval_now, cap_now=None, venue="binance", at_h=30, rate_before=0.0001):
    frames = base()
    frames = E.replace(frames, "funding_interval_h", venue, E.series(
        "funding_interval_h", venue, lambda h: np.where(h > at_h, 8.0, interval_now)))
    frames = E.replace(frames, "funding_rate", venue, E.series(
        "funding_rate", venue, lambda h: np.where(h > at_h, rate_before, rate_now)))
    if cap_now is not None:
        frames.append(E.series("funding_cap", venue, lambda h: np.where(h > at_h, 0.02, cap_now)))
    return frames


def test_interval_shortened_to_1h_at_the_cap_is_high():
    [flag] = rule("exchange_event", funding_frames(-0.0124, 1.0, cap_now=0.0125))  # -1.24%/h at a 1.25% cap
    assert flag.severity == "high" and flag.evidence["at_cap"] == ["binance"]
    [flag] = rule("exchange_event", funding_frames(-0.0001, 1.0, cap_now=0.0125))  # shortened, funding calm
    assert flag.severity == "warn"
    [flag] = rule("exchange_event", funding_frames(-0.0124, 8.0, cap_now=0.0125, rate_before=-0.0124))  # no change
    assert flag.severity == "warn"  # only the cap moved; the interval did not shorten


def test_interval_shortened_with_extreme_funding_and_no_published_cap_is_high():
    [flag] = rule("exchange_event", funding_frames(-0.0124, 1.0))  # -9.9%/8h, cap not collected
    assert flag.severity == "high"
    lengthened = funding_frames(-0.0124, 8.0, at_h=30, rate_before=-0.0124)
    lengthened = E.replace(lengthened, "funding_interval_h", "binance", E.series(
        "funding_interval_h", "binance", lambda h: np.where(h > 30, 1.0, 8.0)))
    [flag] = rule("exchange_event", lengthened)  # 1h→8h: the market calmed down
    assert flag.severity == "warn"


@pytest.mark.parametrize(("rate", "interval", "severity"), [
    (-0.0124, 1.0, "high"),  # -9.9 %/8h: shorts crowded
    (0.003, 4.0, "warn"),  # +0.6 %/8h, normalised from a 4h settlement
    (0.0004, 1.0, "warn"),  # 0.04 % per settlement reads 0.32 %/8h once normalised (raw would be calm)
    (0.0001, 8.0, None),
])
def test_extreme_funding_either_sign_normalised_per_8h(rate, interval, severity):
    flags = rule("extreme_funding", funding_frames(rate, interval))
    assert [f.severity for f in flags] == ([severity] if severity else [])
    if severity:
        assert flags[0].evidence["funding_8h_pct"]["binance"] == pytest.approx(rate * 8 / interval * 100)


def test_delisting_announced_then_settled_ages_out_of_the_event_window():
    announced = E.NOW - timedelta(days=10)
    old = E.event("perp_delisted", announced, chain="exchange:gate", source="gate",
                  scheduled_at=(announced + timedelta(days=1)).isoformat())
    assert rule("exchange_event", base(), events=[old]) == []
    pending = E.event("perp_delisted", announced, chain="exchange:gate", source="gate",
                      scheduled_at=(E.NOW + timedelta(days=1)).isoformat())  # still ahead: still news
    [flag] = rule("exchange_event", base(), events=[pending])
    assert flag.severity == "high"


# ------------------------------------------------------------ item 8: hourly volume mirroring


def test_seventy_two_hours_of_hourly_one_to_one_mirroring_is_flagged():
    frames = base()
    binance = next(f for f in frames if f["metric"].iat[0] == "perp_volume_usd" and f["source"].iat[0] == "binance")
    bybit = next(f for f in frames if f["metric"].iat[0] == "perp_volume_usd" and f["source"].iat[0] == "bybit")
    bybit = bybit.copy()
    recent = (bybit["ts"] > E.NOW - timedelta(hours=72)).to_numpy()
    bybit.loc[recent, "value"] = binance.loc[recent, "value"].to_numpy() * 1.003
    frames = E.replace(frames, "perp_volume_usd", "bybit", bybit)
    ctx = context(frames)
    assert ctx.mirrored == ("bybit",)
    [flag] = RULES["source_disagreement"](ctx, CFG)
    assert flag.evidence["venues"] == ["binance", "bybit"] and flag.evidence["bars"] >= 48
    assert context(base()).mirrored == ()


# ------------------------------------------------------------ mutants that survived


def test_crowded_longs_needs_crowded_accounts():
    def frames(long_short):
        out = E.calm_market(funding=0.0012, long_short=long_short)
        for i, v in enumerate(E.VENUES):
            out = E.replace(out, "price_close_1h", v, E.series(
                "price_close_1h", v, E.noisy(E.ramp(1.0, 1.4, 120), 0.2, i)))
        return out + E.flat_onchain()
    assert rule("crowded_longs", frames(4.5))
    assert rule("crowded_longs", frames(1.2)) == []  # funding and RSI high, but accounts balanced


def test_short_buildup_needs_negative_funding():
    def frames(funding):
        out = with_oi(E.calm_market(funding=funding) + E.flat_onchain(), E.ramp(5e6, 6e6, 24))
        for v in E.VENUES:
            out = E.replace(out, "price_close_1h", v, E.series("price_close_1h", v, E.ramp(1.0, 0.9, 24)))
        return out
    assert rule("short_buildup", frames(-0.0003))
    assert rule("short_buildup", frames(0.0003)) == []  # longs paying: not a short build-up


def test_crowded_longs_reads_funding_normalised_per_8h():
    frames = E.calm_market(long_short=4.5) + E.flat_onchain()
    for i, v in enumerate(E.VENUES):  # 0.01 % per hourly settlement = 0.08 %/8h: crowded (raw 0.01 % is not)
        frames = E.replace(frames, "funding_rate", v, E.series("funding_rate", v, 0.0001))
        frames = E.replace(frames, "funding_interval_h", v, E.series("funding_interval_h", v, 1.0))
        frames = E.replace(frames, "price_close_1h", v, E.series(
            "price_close_1h", v, E.noisy(E.ramp(1.0, 1.4, 120), 0.2, i)))
    [flag] = rule("crowded_longs", frames)
    assert flag.evidence["funding_8h_pct"] == pytest.approx(0.08)


def test_perp_spot_ratio_leaves_out_a_mirrored_venue():
    frames = E.calm_market(spot_vol_24h=1e6)
    for i, v in enumerate(E.VENUES):  # 24M a day each on binance/okx/gate; bybit copies binance hour by hour
        frames = E.replace(frames, "perp_volume_usd", v, E.series(
            "perp_volume_usd", v, E.noisy(lambda h: np.full(len(h), 1e6), 10, 80 + i)))
    binance = next(f for f in frames if f["metric"].iat[0] == "perp_volume_usd" and f["source"].iat[0] == "binance")
    frames = E.replace(frames, "perp_volume_usd", "bybit", binance.assign(source="bybit"))
    [flag] = rule("perp_spot_ratio", frames + E.flat_onchain())
    assert flag.evidence["perp_sources"] == ["binance", "gate", "okx"]
    assert flag.evidence["ratio"] == pytest.approx(72, rel=0.1)  # not 96


def test_market_trading_on_after_a_settlement_event_is_not_settled():
    frames = with_oi(base(), E.ramp(5e6, 3e6, 20))
    settled = E.event("perp_settled", E.NOW - timedelta(days=3), chain="exchange:okx", source="okx")
    assert context(frames, events=[settled]).health["okx"].status == "ok"  # relisted: its data goes on
    announced = E.event("perp_delisted", E.NOW - timedelta(days=3), chain="exchange:okx", source="okx")
    frames = settled_okx(frames, E.NOW - timedelta(days=3))
    assert context(frames, events=[announced]).health["okx"].status == "stale"  # announced is not settled


def test_interval_shortened_at_a_low_cap_is_high_even_when_funding_is_not_extreme():
    frames = funding_frames(-0.003, 4.0, cap_now=0.003)  # -0.3 % per 4h at a ±0.3 % cap: -0.6 %/8h
    [flag] = rule("exchange_event", frames)
    assert flag.severity == "high" and flag.evidence["at_cap"] == ["binance"]


def test_extreme_funding_reads_only_current_funding():
    frames = funding_frames(-0.0124, 1.0, at_h=120)
    assert rule("extreme_funding", frames)
    binance = next(f for f in frames if f["metric"].iat[0] == "funding_rate" and f["source"].iat[0] == "binance")
    frames = E.replace(frames, "funding_rate", "binance", cut(binance, timedelta(days=3)))
    assert rule("extreme_funding", frames) == []  # three days old: history, not a crowd now


def test_oi_surge_threshold_is_inclusive():
    frames = with_oi(base(), E.ramp(5e6, 10e6, 5 * 24))  # exactly +100 % over 7d: at the threshold
    [flag] = rule("oi_surge_unsupported", frames)
    assert flag.evidence["windows"]["7d"]["oi_growth_pct"] == CFG.oi_surge_pct


def test_redeployment_needs_the_oi_growth():
    upgrade = E.event("proxy_upgraded", E.NOW - timedelta(days=1), chain="bsc")
    assert rule("oi_surge_with_redeployment", with_oi(base(), E.ramp(5e6, 7.5e6, 30, 6)), events=[upgrade])  # +50 %
    assert rule("oi_surge_with_redeployment", with_oi(base(), E.ramp(5e6, 7e6, 30, 6)), events=[upgrade]) == []


def test_surge_start_is_not_a_noisy_low_days_before_the_rise():
    frames = base()
    for i, v in enumerate(E.VENUES):  # noisy flat OI, then +60 % from 30h to 6h ago
        frames = E.replace(frames, "oi_usd", v, E.series("oi_usd", v, E.noisy(E.ramp(5e6, 8e6, 30, 6), 1.5, 200 + i)))
    ctx = context(frames)
    assert ctx.surge_start(ctx.window) >= E.NOW - timedelta(hours=34)
    before = E.event("proxy_upgraded", E.NOW - timedelta(hours=30) - timedelta(days=3.5), chain="bsc")
    assert rule("oi_surge_with_redeployment", frames, events=[before]) == []


def test_open_candles_are_not_compared():
    """Judged at 12:30: the 12:00 candles are still open (one venue polled at 12:02, another at 12:29 in a
    fast move); the closes at 12:00 agree."""
    frames = base()
    bybit = next(f for f in frames if f["metric"].iat[0] == "price_close_1h" and f["source"].iat[0] == "bybit").copy()
    bybit.loc[bybit["ts"] == E.NOW, "value"] = 1.5
    frames = E.replace(frames, "price_close_1h", "bybit", bybit)
    assert rule("source_disagreement", frames, now=E.NOW + timedelta(minutes=30)) == []
    [flag] = rule("source_disagreement", frames, now=E.NOW + timedelta(hours=1, minutes=5))  # now it closed
    assert flag.evidence["deviation_pct"]["bybit"] == pytest.approx(50, abs=2)


def test_venue_oi_lag_is_judged_against_its_own_bars():
    frames = base()
    fine = E.series("oi_usd", "binance", 5e6, freq="15min")  # 15-minute bars, last one an hour ago: on time
    coarse = E.series("oi_usd", "gate", 5e6, freq="4h", end=E.NOW - timedelta(hours=4))  # 4h bars: on time
    frames = E.replace(E.replace(frames, "oi_usd", "binance", cut(fine, H)), "oi_usd", "gate", coarse)
    assert context(frames).oi_venues == sorted(E.VENUES)


def test_aggregate_is_compared_only_with_venue_values_observed_then():
    frames = cascade(timedelta(0))  # every venue fresh; Binance skipped the two hours before CoinGlass's point
    binance = next(f for f in frames if f["metric"].iat[0] == "oi_usd" and f["source"].iat[0] == "binance")
    gap = (binance["ts"] > E.NOW - 3 * H) & (binance["ts"] < E.NOW)
    frames = E.replace(frames, "oi_usd", "binance", binance[~gap])
    truth = E.series("oi_usd", "coinglass", E.ramp(55e6, 22e6, 4), end=E.NOW - H)
    ctx = context([*frames, truth])
    assert ctx.oi_dark_venues == []
    assert RULES["source_disagreement"](ctx, CFG) == []


def test_a_source_that_never_had_data_is_missing_not_empty():
    at = E.NOW - timedelta(minutes=55)
    empty = [PollRun("okx", "AIA", at, at, "ok", http_status=200, rows=0, endpoint="fetch")]
    frames = [f for f in base() if f["source"].iat[0] != "okx"]
    assert context(frames, runs=empty).health["okx"].status == "missing"


def test_a_settlement_after_the_judged_moment_is_not_known_then():
    later = E.event("perp_settled", E.NOW + timedelta(hours=6), chain="exchange:okx", source="okx")
    assert context(base(), events=[later]).health["okx"].status == "ok"


def test_spot_volume_from_venues_leaves_out_a_mirrored_venue():
    frames = [f for f in E.calm_market(perp_vol_h=2e6) if f["metric"].iat[0] != "spot_volume_usd"]
    for i, v in enumerate(("binance", "okx")):  # no all-market spot volume: the venues' spot books
        frames.append(E.series("spot_volume_usd", v, E.noisy(lambda h: np.full(len(h), 1e4), 10, 300 + i)))
    binance = frames[-2]
    frames.append(binance.assign(source="bybit"))  # bybit's spot book prints binance's volume
    [flag] = rule("perp_spot_ratio", frames + E.flat_onchain())
    assert flag.evidence["spot_sources"] == ["binance", "okx"]


def test_a_zero_price_at_the_snapshot_falls_back_to_oi_then():
    day = pd.Timestamp(E.NOW).floor("1D")
    frames = E.calm_market(oi_per_venue=21.5e6, mcap=10e6)
    for v in E.VENUES:  # a bad print of 0 in the candle closing at midnight
        frames = E.replace(frames, "price_close_1h", v, E.series(
            "price_close_1h", v, lambda h: np.where(h == (E.NOW - day) / H + 1, 0.0, 1.0)))
    [flag] = rule("oi_exceeds_economy", frames + E.flat_onchain(tvl_usd=1e9))
    assert flag.evidence["market_cap_basis"]["method"] == "oi at snapshot"
    assert flag.evidence["oi_to_market_cap"] == pytest.approx(8.6, rel=0.03)
