"""CoinGlass (key in COINGLASS_API_KEY, header CG-API-KEY) and CoinGecko through the real HttpClient."""

from __future__ import annotations

from datetime import timedelta

import pytest

from monitor import model as m
from monitor.jobs.poll import poll

from .conftest import NOW, NOW_MS, D, H, json_response, series
from .test_binance import SINCE

KEY = "cg-secret-key-123456"


def serve_coinglass(routes, seen_keys):
    def ohlc(values):
        def handler(req):
            seen_keys.append(req.headers.get("CG-API-KEY"))
            return {"code": "0", "msg": "success", "data": [
                {"time": t, "open": v, "high": v, "low": v, "close": v} for t, v in values]}
        return handler

    routes.add("/api/futures/open-interest/aggregated-history",
               ohlc([(NOW_MS - 8 * H, "1200000.5"), (NOW_MS - 4 * H, "2400000")]))
    routes.add("/api/futures/funding-rate/oi-weight-history", ohlc([(NOW_MS - 4 * H, "0.0125")]))  # percent
    routes.add("/api/futures/liquidation/aggregated-history", {"code": "0", "msg": "success", "data": [
        {"time": NOW_MS - 4 * H, "aggregated_long_liquidation_usd": 15000.5, "aggregated_short_liquidation_usd": 0}]})
    routes.add("/api/futures/global-long-short-account-ratio/history", {"code": "0", "msg": "success", "data": [
        {"time": NOW_MS - 4 * H, "global_account_long_percent": 70.5, "global_account_short_percent": 29.5,
         "global_account_long_short_ratio": 2.39}]})


def test_coinglass_aggregates_with_percent_funding_as_fraction(routes, make_app):
    keys: list[str | None] = []
    serve_coinglass(routes, keys)
    app = make_app([{"symbol": "AIA"}], {"coinglass": {}}, secrets={"COINGLASS_API_KEY": KEY})
    [outcome] = poll(app, sources=["coinglass"], tokens=["AIA"], since=SINCE)
    assert outcome.status == "ok", outcome.message
    assert set(keys) == {KEY}
    # a level bar's close is the value at the bar's end (time is its open); the 4h bar opened at NOW-4h closes now
    assert series(app, "AIA", m.OI_USD, "coinglass") == [(NOW_MS - 4 * H, 1_200_000.5), (NOW_MS, 2_400_000.0)]
    assert series(app, "AIA", m.FUNDING_RATE, "coinglass") == [(NOW_MS, pytest.approx(0.000125))]
    # a flow bar (liquidations summed over the bar) keeps its start, like the venues' hourly buckets
    assert series(app, "AIA", m.LIQ_LONG_USD, "coinglass") == [(NOW_MS - 4 * H, 15000.5)]
    assert series(app, "AIA", m.LONG_SHORT_ACCOUNT_RATIO, "coinglass") == [(NOW_MS - 4 * H, 2.39)]
    assert [a.get("symbol") for _, p, a in routes.hits if "long-short" in p] == ["AIAUSDT"]


def test_coinglass_open_bar_close_is_stamped_now_not_in_the_future(routes, make_app):
    serve_coinglass(routes, [])
    routes.add("/api/futures/open-interest/aggregated-history", {"code": "0", "msg": "success", "data": [
        {"time": NOW_MS - 5 * H, "open": "1", "high": "1", "low": "1", "close": "1000"},
        {"time": NOW_MS - H, "open": "1", "high": "1", "low": "1", "close": "2000"}]})  # open until NOW+3h
    app = make_app([{"symbol": "AIA"}], {"coinglass": {"interval": "4h"}}, secrets={"COINGLASS_API_KEY": KEY})
    poll(app, sources=["coinglass"], tokens=["AIA"], since=SINCE)
    assert series(app, "AIA", m.OI_USD, "coinglass") == [(NOW_MS - H, 1000.0), (NOW_MS, 2000.0)]


def test_coinglass_pages_by_bar_open_time_without_losing_a_bar(routes, make_app):
    serve_coinglass(routes, [])
    start = NOW_MS - 1500 * H

    def oi(req):
        first = max(int(req.args["start_time"]), start)
        first = -(-first // H) * H
        bars = range(first, min(int(req.args["end_time"]), NOW_MS - H) + 1, H)
        return {"code": "0", "msg": "success", "data": [
            {"time": t, "open": "1", "high": "1", "low": "1", "close": str(t // H)} for t in bars][:int(req.args["limit"])]}

    routes.add("/api/futures/open-interest/aggregated-history", oi)
    app = make_app([{"symbol": "AIA"}], {"coinglass": {"interval": "1h"}}, secrets={"COINGLASS_API_KEY": KEY})
    poll(app, sources=["coinglass"], tokens=["AIA"], since=NOW - timedelta(hours=1500))
    stored = series(app, "AIA", m.OI_USD, "coinglass")
    assert len(stored) == 1500 and [t for t, _ in stored] == list(range(start + H, NOW_MS + 1, H))
    assert routes.count("/api/futures/open-interest/aggregated-history") == 2


def test_coinglass_without_key_is_disabled_naming_the_env_var(routes, make_app):
    app = make_app([{"symbol": "AIA"}], {"coinglass": {}})
    assert "COINGLASS_API_KEY" in app.disabled["coinglass"]
    assert poll(app, sources=["coinglass"], tokens=["AIA"], since=SINCE) == []
    assert routes.hits == []


def test_coinglass_bad_key_code_is_permanent_and_names_env_not_value(routes, make_app):
    routes.add("/api/futures/open-interest/aggregated-history", {"code": "30001", "msg": "API key missing or invalid"})
    app = make_app([{"symbol": "AIA"}], {"coinglass": {}}, secrets={"COINGLASS_API_KEY": KEY})
    [outcome] = poll(app, sources=["coinglass"], tokens=["AIA"], since=SINCE)
    assert outcome.status == "auth"
    assert "COINGLASS_API_KEY" in outcome.message and KEY not in outcome.message
    assert routes.count("/api/futures/open-interest/aggregated-history") == 1  # not retried


def test_coingecko_daily_points_drop_the_live_last_point(routes, make_app):
    day1, day0 = NOW_MS // D * D, NOW_MS // D * D - D
    routes.add("/coins/deagentai/market_chart", lambda req: {
        "prices": [[day0, 0.51], [day1, 0.55], [NOW_MS - 123_456, 0.6]],
        "market_caps": [[day0, 85_000_000.0], [day1, 90_000_000.0], [NOW_MS - 123_456, 99_000_000.0]],
        "total_volumes": [[day0, 12_000_000.0], [day1, 13_500_000.5], [NOW_MS - 123_456, 20_000_000.0]],
    } if req.args["vs_currency"] == "usd" and req.args["interval"] == "daily" else json_response({}, 400))
    app = make_app([{"symbol": "AIA", "coingecko_id": "deagentai"}], {"coingecko": {}},
                   secrets={"COINGECKO_API_KEY": "demo-key-abcdef"})
    [outcome] = poll(app, sources=["coingecko"], tokens=["AIA"], since=NOW.replace(hour=0) - (NOW - SINCE))
    assert outcome.status == "ok", outcome.message
    assert series(app, "AIA", m.MARKET_CAP_USD, "coingecko") == [(day0, 85e6), (day1, 90e6)]
    assert series(app, "AIA", m.SPOT_VOLUME_USD, "coingecko") == [(day0, 12e6), (day1, 13_500_000.5)]
    assert series(app, "AIA", m.PRICE_CLOSE, "coingecko") == [(day0, 0.51), (day1, 0.55)]
