"""Fault rows C1-C3 (reference/faults.md) and the no-I/O rule for signals/."""

from __future__ import annotations

import ast
import math
from datetime import timedelta
from pathlib import Path

import numpy as np
import pandas as pd
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from monitor.config import SignalsConfig, VerdictConfig
from monitor.jobs.evaluate import evaluate_token
from monitor.signals import TokenInputs, evaluate
from monitor.signals import indicators as ind
from tests.scenarios import episodes as E

CFG, VCFG = SignalsConfig(), VerdictConfig()
SIGNALS = Path(__file__).resolve().parents[3] / "monitor" / "signals"


def surge(frames):
    for v in E.VENUES:
        frames = E.replace(frames, "oi_usd", v, E.series("oi_usd", v, E.ramp(5e6, 13e6, 24)))
    return frames


def test_c1_stale_onchain_side_is_insufficient_data_not_a_divergence(store):
    stale_end = E.NOW - timedelta(days=5)
    onchain = [E.series("tvl_token", "defillama", 50e6, freq="1D", end=stale_end),
               E.series("active_addresses", "dune", 3000, freq="1D", end=stale_end)]
    app = E.make_app(store, surge(E.calm_market()) + onchain)
    v = evaluate_token(app, "AIA")
    assert v.label == "insufficient data"
    assert "oi_surge_unsupported" not in {f.rule for f in v.flags}
    assert any(r.startswith("on-chain data stale") for r in v.reasons), v.reasons


def test_c1_stale_derivatives_side_is_insufficient_data(store):
    frames = [f for f in E.calm_market() if f["metric"].iat[0] == "oi_usd"]
    frames = [f[f["ts"] <= E.NOW - timedelta(days=3)] for f in frames] + E.flat_onchain()
    v = evaluate_token(E.make_app(store, frames), "AIA")
    assert v.label == "insufficient data" and not [f for f in v.flags if not f.lowers_confidence]
    assert any(r.startswith("open-interest data stale") for r in v.reasons)


# ---------------------------------------------------------------- C2: degenerate series

METRICS = ["oi_usd", "tvl_token", "active_addresses", "price_close_1h", "perp_volume_usd", "spot_volume_usd",
           "funding_rate", "funding_interval_h", "long_short_account_ratio", "liq_long_usd", "market_cap_usd"]
ODD = st.sampled_from([0.0, -0.0, math.nan, math.inf, -math.inf])
VALUE = st.one_of(st.sampled_from([1e-300, 1e308, -1.0]), st.floats(allow_nan=True, allow_infinity=True))


@st.composite
def degenerate_inputs(draw):
    rows = []
    for metric in draw(st.lists(st.sampled_from(METRICS), min_size=0, max_size=6, unique=True)):
        for source in draw(st.lists(st.sampled_from(["binance", "okx", "defillama", "coingecko"]), min_size=1,
                                    max_size=2, unique=True)):
            kind = draw(st.sampled_from(["empty", "odd", "zeros", "single"]))
            n = {"empty": 0, "single": 1}[kind] if kind in ("empty", "single") else draw(st.integers(1, 4))
            for k in range(n):
                value = draw(ODD) if kind == "odd" else 0.0 if kind == "zeros" else draw(VALUE)
                rows.append((E.NOW - timedelta(hours=k), source, "AIA", metric, value))
    return pd.DataFrame(rows, columns=["ts", "source", "token", "metric", "value"])


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(degenerate_inputs())
def test_c2_empty_nan_inf_and_single_points_never_raise_or_flag(obs):
    obs["ts"] = pd.to_datetime(obs["ts"], utc=True)
    v = evaluate(TokenInputs("AIA", obs), CFG, VCFG, E.NOW)
    assert [f for f in v.flags if not f.lowers_confidence] == []
    assert v.label == "insufficient data"
    assert v.reasons, "the verdict must say why it cannot judge"
    assert 0.0 <= v.confidence <= 1.0 and 0.0 <= v.score <= 100.0


@settings(max_examples=60, deadline=None)
@given(st.lists(VALUE, min_size=0, max_size=40))
def test_c2_indicators_tolerate_any_values(values):
    s = pd.Series(values, index=pd.date_range(E.NOW - timedelta(hours=len(values)), periods=len(values), freq="1h"),
                  dtype="float64")
    now = E.NOW
    for fn in (lambda: ind.pct_change_over(s, timedelta(hours=5), now), lambda: ind.value_at(s, now)):
        out = fn()
        assert math.isnan(out) or math.isfinite(out)
    rsi = ind.wilder_rsi(s).dropna()
    assert ((rsi >= 0) & (rsi <= 100)).all()
    frame = pd.DataFrame({"ts": s.index, "source": "x", "value": s.to_numpy()})
    assert np.isfinite(ind.table_sum(ind.wide(frame)).to_numpy()).all()


def test_c2_reason_recorded_for_dropped_values():
    obs = pd.DataFrame({"ts": [E.NOW], "source": ["binance"], "token": ["AIA"], "metric": ["oi_usd"],
                        "value": [math.nan]})
    v = evaluate(TokenInputs("AIA", obs), CFG, VCFG, E.NOW)
    assert v.flags == () and v.label == "insufficient data"
    assert "1 non-finite observation value(s) ignored" in v.reasons and "no open-interest data" in v.reasons


# ---------------------------------------------------------------- C3: persistence across ticks


def test_c3_divergence_persisting_across_ticks_is_one_episode_then_one_resolution(store):
    frames = surge(E.calm_market() + E.flat_onchain())
    app = E.make_app(store, frames)
    for hours in (0, 1, 2):
        app.now = lambda h=hours: E.NOW + timedelta(hours=h)
        assert "oi_surge_unsupported" in {f.rule for f in evaluate_token(app, "AIA").flags}
    rows = [r for r in store.read_flags(token="AIA") if r["rule"] == "oi_surge_unsupported"]
    assert len(rows) == 1 and rows[0]["resolved_at"] is None
    assert rows[0]["last_seen"] - rows[0]["first_seen"] == 2 * 3600

    # the surge unwinds over the next days; on-chain keeps reporting
    later = E.NOW + timedelta(days=9)
    calm_again = [E.series("oi_usd", v, E.ramp(13e6, 5e6, 9 * 24 - 2, 8 * 24), days=9, end=later)
                  for v in E.VENUES]
    calm_again += [f.assign(ts=f["ts"] + timedelta(days=9)) for f in E.flat_onchain()]
    store.upsert_observations(pd.concat(calm_again, ignore_index=True))
    app.now = lambda: later
    v = evaluate_token(app, "AIA")
    assert "oi_surge_unsupported" not in {f.rule for f in v.flags}
    rows = [r for r in store.read_flags(token="AIA") if r["rule"] == "oi_surge_unsupported"]
    assert len(rows) == 1 and rows[0]["resolved_at"] == int(later.timestamp())
    # judging the past (--at) never rewrites history
    evaluate_token(app, "AIA", at=E.NOW)
    assert [r for r in store.read_flags(token="AIA") if r["rule"] == "oi_surge_unsupported"] == rows


def test_signals_do_no_io():
    banned = ("monitor.store", "monitor.sources", "requests", "sqlalchemy", "sqlite3", "psycopg", "ccxt", "web3",
              "urllib", "socket", "monitor.jobs", "monitor.app")
    for path in SIGNALS.glob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            names = [a.name for a in node.names] if isinstance(node, ast.Import) else (
                [node.module] if isinstance(node, ast.ImportFrom) and node.module else [])
            for name in names:
                assert not name.startswith(banned), f"{path.name} imports {name}"
