"""Indicators against published reference values and hand-computed numbers."""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta

import numpy as np
import pandas as pd
import pytest

from monitor.signals import indicators as ind

T0 = datetime(2025, 1, 1, tzinfo=UTC)

# StockCharts "Relative Strength Index (RSI)" ChartSchool worked example (Wilder, 14 periods).
CLOSES = [44.34, 44.09, 44.15, 43.61, 44.33, 44.83, 45.10, 45.42, 45.84, 46.08, 45.89, 46.03, 45.61, 46.28,
          46.28, 46.00, 46.03, 46.41, 46.22, 45.64, 46.21, 46.25, 45.71, 46.45, 45.78, 45.35, 44.03, 44.18,
          44.22, 44.57, 43.42, 42.66, 43.13]
# The table as published (its spreadsheet rounds intermediate averages to 2 decimals)...
STOCKCHARTS_RSI = [70.53, 66.32, 66.55, 69.41, 66.36, 57.97, 62.93, 63.26, 56.06, 62.38, 54.71, 50.42, 39.99,
                   41.46, 41.87, 45.46, 37.30, 33.08, 37.77]
# ...and the same example at full precision, as reproduced by independent implementations.
EXACT_RSI = [70.46, 66.25, 66.48, 69.35, 66.29, 57.92, 62.88, 63.21, 56.01, 62.34, 54.67, 50.39, 40.02, 41.49,
             41.90, 45.50, 37.32, 33.09, 37.79]


def hourly(values, start=T0, freq="1h"):
    return pd.Series(values, index=pd.date_range(start, periods=len(values), freq=freq, tz="UTC"), dtype="float64")


def test_wilder_rsi_matches_the_stockcharts_reference_table():
    rsi = ind.wilder_rsi(hourly(CLOSES, freq="1D"), 14)
    assert rsi.iloc[:14].isna().all()
    got = rsi.iloc[14:].to_numpy()
    assert got == pytest.approx(EXACT_RSI, abs=0.01)
    assert got == pytest.approx(STOCKCHARTS_RSI, abs=0.1)


def test_wilder_rsi_matrix_equals_per_series_and_is_vectorised_over_columns():
    rng = np.random.default_rng(0)
    closes = np.cumsum(rng.normal(0, 1, (300, 5)), axis=0) + 100
    matrix = ind.wilder_rsi_matrix(closes, 14)
    for j in range(5):
        single = ind.wilder_rsi(hourly(closes[:, j]), 14).to_numpy()
        np.testing.assert_allclose(matrix[:, j], single, equal_nan=True)


def test_wilder_rsi_edges():
    assert ind.wilder_rsi(hourly(range(1, 30)), 14).iloc[-1] == 100.0
    assert ind.wilder_rsi(hourly(range(30, 1, -1)), 14).iloc[-1] == pytest.approx(0.0)
    assert ind.wilder_rsi(hourly([5.0] * 20), 14).iloc[-1] == 50.0
    assert ind.wilder_rsi(hourly([1.0, 2.0]), 14).isna().all()
    assert ind.wilder_rsi(hourly([]), 14).empty


def test_pct_change_over_uses_as_of_values_and_refuses_short_history():
    s = hourly(np.linspace(100, 261, 24 * 8 + 1))  # 8 days
    now = s.index[-1]
    week_ago = s.asof(now - timedelta(days=7))
    assert ind.pct_change_over(s, timedelta(days=7), now) == pytest.approx((261 / week_ago - 1) * 100)
    assert math.isnan(ind.pct_change_over(s.iloc[-10:], timedelta(days=7), now))  # 9 hours cannot speak for 7 days
    assert math.isnan(ind.pct_change_over(hourly([0.0, 0.0, 5.0]), timedelta(hours=2), T0 + timedelta(hours=2)))


def test_funding_8h_normalizes_by_the_real_interval():
    assert ind.funding_8h(-0.0124, 1) == pytest.approx(-0.0992)
    assert ind.funding_8h(0.0001, 8) == pytest.approx(0.0001)
    assert ind.funding_8h(0.0004, 4) == pytest.approx(0.0008)
    assert math.isnan(ind.funding_8h(0.001, 0)) and math.isnan(ind.funding_8h(0.001, math.nan))
    rate = hourly([0.001, 0.001, 0.001, 0.001])
    interval = hourly([4.0, 4.0, 1.0, 1.0])
    assert ind.funding_8h(rate, interval).tolist() == pytest.approx([0.002, 0.002, 0.008, 0.008])


def test_oi_table_sums_venues_aligned_in_time_and_drops_silent_venues():
    a = pd.DataFrame({"ts": pd.date_range(T0, periods=10, freq="1h", tz="UTC"), "source": "binance", "value": 100.0})
    b = pd.DataFrame({"ts": pd.date_range(T0 + timedelta(minutes=5), periods=4, freq="1h", tz="UTC"),
                      "source": "okx", "value": 50.0})
    total = ind.table_sum(ind.wide(pd.concat([a, b])))  # the context's oi_table -> total OI
    assert total.iloc[0] == 150.0  # 00:05 lands in the 00:00 bucket
    assert total.iloc[6] == 150.0  # carried forward 3 buckets at most...
    assert total.iloc[7] == 100.0  # ...then the silent venue drops out instead of freezing
    assert ind.table_sum(ind.wide(a.iloc[:0])).empty


def test_oi_weighted_funding():
    ts = pd.date_range(T0, periods=3, freq="1h", tz="UTC")
    oi = pd.concat([pd.DataFrame({"ts": ts, "source": "binance", "value": 300.0}),
                    pd.DataFrame({"ts": ts, "source": "okx", "value": 100.0})])
    funding = pd.concat([pd.DataFrame({"ts": ts, "source": "binance", "value": 0.001}),
                         pd.DataFrame({"ts": ts, "source": "okx", "value": -0.001})])
    assert ind.oi_weighted_funding(oi, funding).tolist() == pytest.approx([0.0005] * 3)


def test_ratios():
    assert ind.oi_to_market_cap(24e6, 20e6) == pytest.approx(1.2)
    assert ind.oi_to_tvl(5.0, 10.0) == 0.5
    assert ind.perp_spot_ratio(27e9, 23e6) == pytest.approx(1173.9, abs=0.1)  # the documented 1,174x
    assert math.isnan(ind.perp_spot_ratio(1.0, 0.0)) and math.isnan(ind.oi_to_tvl(math.inf, 1.0))


def test_covered_sum_leaves_out_a_venue_whose_history_starts_inside_the_window():
    bybit = hourly([100.0] * 48)
    binance = hourly([200.0] * 24, start=T0 + timedelta(hours=24))  # history starts half way
    table = ind.wide({"binance": binance, "bybit": bybit})
    start = T0 + timedelta(hours=2)
    assert ind.table_sum(table).iloc[[0, -1]].tolist() == [100.0, 300.0]  # the level sums what exists...
    like = ind.covered_sum(table, start, timedelta(hours=1))  # ...growth compares like with like
    assert like.tolist() == [100.0] * 48
    both = ind.covered_sum(table, start, timedelta(hours=30))  # both count: only hours where both report
    assert both.tolist() == [300.0] * 24 and both.index[0] == binance.index[0]
    assert ind.covered_sum(table.iloc[:0], start, timedelta(0)).empty


def test_last_day_volume_takes_the_latest_closed_daily_bar_within_the_bound():
    days = hourly([10.0, 20.0, 30.0], start=T0, freq="1D")  # bars of Jan 1, 2, 3 (day starts)
    now = T0 + timedelta(days=2, hours=6)  # Jan 3 is still open: its bar is not complete
    assert ind.last_day_volume(days, now, timedelta(hours=36)) == 20.0  # was NaN: no bar in (now-24h, now]
    assert ind.last_day_volume(days, T0 + timedelta(days=4, hours=1), timedelta(hours=36)) == 30.0
    assert math.isnan(ind.last_day_volume(days, T0 + timedelta(days=6), timedelta(hours=36)))  # too old
    hours = hourly([1.0] * 48)
    assert ind.last_day_volume(hours, T0 + timedelta(hours=47), timedelta(hours=36)) == 24.0  # hourly: sum
    assert math.isnan(ind.last_day_volume(ind.EMPTY, now, timedelta(hours=36)))
