"""Binance USDⓈ-M through the real ccxt client against documented payload shapes on loopback."""

from __future__ import annotations

from datetime import timedelta

import pytest

from monitor import model as m
from monitor.jobs.poll import poll

from .conftest import NOW, NOW_MS, D, H, series, venue_token
from .payloads import binance_exchange_info, binance_funding_info, binance_kline, binance_spot_exchange_info

SINCE = NOW - timedelta(days=1)
DAY0 = NOW_MS // D * D - D  # yesterday, a closed daily candle
FUNDING = [  # (settlement ms with Binance's few-ms jitter, rate): 8h, 8h, 4h, 4h, 1h, 1h
    (NOW_MS - 22 * H + 3, "0.00010000"), (NOW_MS - 14 * H + 1, "0.00020000"), (NOW_MS - 10 * H, "0.00040000"),
    (NOW_MS - 6 * H + 2, "-0.00010000"), (NOW_MS - 5 * H, "0.00100000"), (NOW_MS - 4 * H + 5, "0.00050000"),
]


def serve_binance(routes, *, spot=False):
    routes.add("/fapi/v1/exchangeInfo", binance_exchange_info([("AIA", "USDT"), ("BTC", "USDT")], NOW_MS))
    routes.add("/api/v3/exchangeInfo", binance_spot_exchange_info([("AIA", "USDT")], NOW_MS))

    def klines(req):
        if req.args["interval"] == "1h":
            return [binance_kline(NOW_MS - 3 * H, "0.50000", "2000", H), binance_kline(NOW_MS - 2 * H, "0.60000", "10", H)]
        return [binance_kline(DAY0, "0.50000", "1000000", D), binance_kline(DAY0 + D, "0.60000", "5", D)]

    routes.add("/fapi/v1/klines", klines)
    routes.add("/api/v3/klines", lambda req: [binance_kline(DAY0, "0.52000", "20000", D)])
    routes.add("/fapi/v1/fundingRate", [
        {"symbol": "AIAUSDT", "fundingTime": t, "fundingRate": r, "markPrice": "0.50000000"} for t, r in FUNDING])
    routes.add("/futures/data/openInterestHist", [
        {"symbol": "AIAUSDT", "sumOpenInterest": "1000000.00000000", "sumOpenInterestValue": "500000.00000000",
         "CMCCirculatingSupply": "165000000", "timestamp": NOW_MS - 3 * H},
        {"symbol": "AIAUSDT", "sumOpenInterest": "3000000.00000000", "sumOpenInterestValue": "1800000.00000000",
         "timestamp": str(NOW_MS - 2 * H)},
    ])
    routes.add("/futures/data/globalLongShortAccountRatio", [
        {"symbol": "AIAUSDT", "longShortRatio": "2.5000", "longAccount": "0.7143", "shortAccount": "0.2857",
         "timestamp": NOW_MS - 2 * H}])
    routes.add("/futures/data/topLongShortPositionRatio", [
        {"symbol": "AIAUSDT", "longShortRatio": "1.8000", "longAccount": "0.6429", "shortAccount": "0.3571",
         "timestamp": NOW_MS - 2 * H}])
    routes.add("/fapi/v1/fundingInfo", binance_funding_info([("BLZUSDT", "0.02500000", 8)]))
    routes.add("/futures/data/takerlongshortRatio", [
        {"buySellRatio": "1.1000", "buyVol": "1100.0", "sellVol": "1000.0", "timestamp": NOW_MS - 2 * H}])


def binance_app(make_app, spot=False, **extra):
    venue = {"perp": "AIA/USDT:USDT", **({"spot": "AIA/USDT"} if spot else {})}
    return make_app([venue_token({"binance": venue})], {"binance": {"ccxt_id": "binanceusdm", **extra}})


def test_binance_poll_stores_every_metric_in_usd_and_utc(routes, make_app):
    serve_binance(routes)
    app = binance_app(make_app, spot=True)
    [outcome] = poll(app, sources=["binance"], tokens=["AIA"], since=SINCE)
    assert outcome.status == "ok", outcome.message

    assert series(app, "AIA", m.PRICE_CLOSE_1H, "binance") == [(NOW_MS - 3 * H, 0.5), (NOW_MS - 2 * H, 0.6)]
    assert series(app, "AIA", m.PRICE_CLOSE, "binance") == [(DAY0, 0.5), (DAY0 + D, 0.6)]
    # only the closed day carries a 24h volume: 1,000,000 AIA × 0.5
    assert series(app, "AIA", m.PERP_VOLUME_USD, "binance") == [(DAY0, 500_000.0)]
    assert series(app, "AIA", m.SPOT_VOLUME_USD, "binance") == [(DAY0, 20_000 * 0.52)]
    assert series(app, "AIA", m.OI_USD, "binance") == [(NOW_MS - 3 * H, 500_000.0), (NOW_MS - 2 * H, 1_800_000.0)]
    assert series(app, "AIA", m.OI_COIN, "binance") == [(NOW_MS - 3 * H, 1e6), (NOW_MS - 2 * H, 3e6)]
    assert series(app, "AIA", m.LONG_SHORT_ACCOUNT_RATIO, "binance") == [(NOW_MS - 2 * H, 2.5)]
    assert series(app, "AIA", m.TOP_TRADER_POSITION_RATIO, "binance") == [(NOW_MS - 2 * H, 1.8)]
    assert series(app, "AIA", m.TAKER_BUY_SELL_RATIO, "binance") == [(NOW_MS - 2 * H, 1.1)]
    # no liquidation rows at all: Binance publishes none, and zeros would be a lie
    assert series(app, "AIA", m.LIQ_LONG_USD, "binance") == []
    assert "binance: no public liquidation history" in outcome.message


def test_binance_funding_interval_derived_8h_4h_1h_with_regime_events(routes, make_app):
    serve_binance(routes)
    app = binance_app(make_app)
    poll(app, sources=["binance"], tokens=["AIA"], since=SINCE)
    hours = [NOW_MS - k * H for k in (22, 14, 10, 6, 5, 4)]  # jitter rounded to the settlement hour
    assert series(app, "AIA", m.FUNDING_RATE, "binance") == list(zip(hours, [1e-4, 2e-4, 4e-4, -1e-4, 1e-3, 5e-4]))
    assert [v for _, v in series(app, "AIA", m.FUNDING_INTERVAL_H, "binance")] == [8, 8, 4, 4, 1, 1]
    assert [v for _, v in series(app, "AIA", m.FUNDING_RATE_8H, "binance")] == pytest.approx(
        [1e-4, 2e-4, 8e-4, -2e-4, 8e-3, 4e-3])
    events = app.store.read_events("AIA")
    changes = sorted((e.ts.timestamp() * 1000, e.detail["from_h"], e.detail["to_h"]) for e in events
                     if e.kind == "funding_regime_changed")
    assert changes == [(NOW_MS - 10 * H, 8, 4), (NOW_MS - 5 * H, 4, 1)]
    assert {e.chain for e in events} == {"exchange:binance"}


def test_binance_health_rows_per_request_with_token(routes, make_app):
    serve_binance(routes)
    app = binance_app(make_app)
    poll(app, sources=["binance"], tokens=["AIA"], since=SINCE)
    runs = app.store.read_poll_runs(NOW - timedelta(days=1), source="binance")
    requests_ = runs[runs["endpoint"] != "fetch"]
    assert len(requests_) == len(routes.hits)
    assert set(requests_["token"]) <= {"AIA", "*"}
    assert (requests_["http_status"] == 200).all()
    assert requests_["latency_ms"].notna().all()
    oi = requests_[requests_["endpoint"] == "/futures/data/openInterestHist"]
    assert list(oi["rows"]) == [2]


def test_binance_markets_cached_on_disk_between_polls(routes, make_app):
    serve_binance(routes)
    poll(binance_app(make_app), sources=["binance"], tokens=["AIA"], since=SINCE)
    poll(binance_app(make_app), sources=["binance"], tokens=["AIA"], since=SINCE)
    assert routes.count("/fapi/v1/exchangeInfo") == 1
    assert routes.count("/api/v3/exchangeInfo") == 0  # no spot symbol configured: spot markets not loaded


def test_binance_markets_cache_expires_after_its_ttl(routes, make_app):
    serve_binance(routes)
    poll(binance_app(make_app, markets_cache_ttl="1h"), sources=["binance"], tokens=["AIA"], since=SINCE)
    later = make_app([venue_token({"binance": {"perp": "AIA/USDT:USDT"}})],
                     {"binance": {"ccxt_id": "binanceusdm", "markets_cache_ttl": "1h"}}, now=NOW + timedelta(hours=2))
    poll(later, sources=["binance"], tokens=["AIA"], since=SINCE)
    assert routes.count("/fapi/v1/exchangeInfo") == 2
