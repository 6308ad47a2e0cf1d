"""Values as the venue states them: USD volume is the venue's own quote volume, a ratio Gate has not
computed ("0") is no value, an empty markets answer is a failure (never cached), an empty 200 is told
apart from data in the request health, and an incremental poll starts at latest stored ts − overlap."""

from __future__ import annotations

from datetime import timedelta

from monitor import model as m
from monitor.jobs.poll import poll

from .conftest import NOW, NOW_MS, D, H, series, venue_token
from .payloads import binance_exchange_info, binance_kline, bybit, okx
from .test_binance import DAY0, SINCE, binance_app, serve_binance
from .test_venues import app_for, serve_bybit, serve_gate, serve_okx

# ------------------------------------------------------------------ quote volume


def test_binance_perp_and_spot_volume_are_quote_asset_volume(routes, make_app):
    serve_binance(routes)
    # a surge day: most of the volume traded above the close, so base × close understates it
    routes.add("/fapi/v1/klines", lambda req: [binance_kline(NOW_MS - 3 * H, "0.5", "10", H)]
               if req.args["interval"] == "1h" else
               [binance_kline(DAY0, "0.50000", "1000000", D, quote="580000.25"),
                binance_kline(DAY0 + D, "0.60000", "5", D)])
    routes.add("/api/v3/klines", lambda req: [binance_kline(DAY0, "0.52000", "20000", D, quote="11000.5")])
    app = binance_app(make_app, spot=True)
    [outcome] = poll(app, sources=["binance"], tokens=["AIA"], since=SINCE)
    assert outcome.status == "ok", outcome.message
    assert series(app, "AIA", m.PERP_VOLUME_USD, "binance") == [(DAY0, 580_000.25)]
    assert series(app, "AIA", m.SPOT_VOLUME_USD, "binance") == [(DAY0, 11_000.5)]


def test_bybit_okx_gate_volume_is_turnover_vol_ccy_quote_and_sum(routes, make_app):
    serve_bybit(routes)
    day0 = NOW_MS // D * D - D
    routes.add("/v5/market/kline", lambda req: bybit({"symbol": "AIAUSDT", "category": "linear", "list": [
        [str(NOW_MS - 2 * H), "0.6", "0.6", "0.6", "0.6", "10", "6"]] if req.args["interval"] == "60" else [
        [str(day0 + D), "0.6", "0.6", "0.6", "0.6", "7", "4.2"],
        [str(day0), "0.4", "0.7", "0.4", "0.5", "400000", "232000"]]}, NOW_MS))
    app = app_for(make_app, "bybit", "bybit")
    poll(app, sources=["bybit"], tokens=["AIA"], since=SINCE)
    assert series(app, "AIA", m.PERP_VOLUME_USD, "bybit") == [(day0, 232_000.0)]  # turnover

    serve_okx(routes)

    def candles(req):
        if req.args["bar"] == "1H":
            return okx([[str(NOW_MS - 2 * H), "0.6", "0.6", "0.6", "0.6", "1", "10", "6", "1"]])
        return okx([[str(day0 + D), "0.6", "0.6", "0.6", "0.6", "1", "10", "6", "0"],
                    [str(day0), "0.4", "0.7", "0.4", "0.5", "30000", "300000", "171000.5", "1"]])

    routes.add("/api/v5/market/candles", candles)
    routes.add("/api/v5/market/history-candles", candles)
    app = app_for(make_app, "okx", "okx")
    poll(app, sources=["okx"], tokens=["AIA"], since=SINCE)
    assert series(app, "AIA", m.PERP_VOLUME_USD, "okx") == [(day0, 171_000.5)]  # volCcyQuote

    serve_gate(routes)
    routes.add("/api/v4/futures/usdt/candlesticks", lambda req: [
        {"t": (NOW_MS - 3 * H) // 1000, "v": 200, "c": "0.5", "h": "0.5", "l": "0.5", "o": "0.5", "sum": "1000"}]
        if req.args["interval"] == "1h" else
        [{"t": day0 // 1000, "v": 40000, "c": "0.5", "h": "0.7", "l": "0.4", "o": "0.4", "sum": "231000"}])
    app = app_for(make_app, "gate", "gate")
    poll(app, sources=["gate"], tokens=["AIA"], since=SINCE)
    assert series(app, "AIA", m.PERP_VOLUME_USD, "gate") == [(day0, 231_000.0)]  # sum, in quote


# ------------------------------------------------------------------ Gate "0" ratios


def test_gate_ratios_it_has_not_computed_are_stored_as_nothing(routes, make_app):
    serve_gate(routes)
    t = NOW_MS - 2 * H
    routes.add("/api/v4/futures/usdt/contract_stats", [
        {"time": t // 1000, "lsr_taker": "0", "lsr_account": 0, "long_liq_size": 0, "long_liq_amount": 0,
         "long_liq_usd": 0, "short_liq_size": 0, "short_liq_amount": 0, "short_liq_usd": 0,
         "open_interest": 300000, "open_interest_usd": 1800000.0, "top_lsr_account": "0", "top_lsr_size": "0",
         "mark_price": "0.6"}])
    app = app_for(make_app, "gate", "gate")
    [outcome] = poll(app, sources=["gate"], tokens=["AIA"], since=SINCE)
    assert outcome.status == "ok", outcome.message
    for metric in (m.LONG_SHORT_ACCOUNT_RATIO, m.TAKER_BUY_SELL_RATIO, m.TOP_TRADER_POSITION_RATIO):
        assert series(app, "AIA", metric, "gate") == [], metric
    assert series(app, "AIA", m.OI_USD, "gate") == [(t, 1_800_000.0)]
    assert series(app, "AIA", m.LIQ_LONG_USD, "gate") == [(t, 0.0)]  # no liquidations is a real zero


# ------------------------------------------------------------------ markets answers


def test_an_empty_markets_answer_fails_the_fetch_and_is_not_cached(routes, make_app):
    serve_binance(routes)
    full = binance_exchange_info([("AIA", "USDT")], NOW_MS)
    routes.add("/fapi/v1/exchangeInfo", {**full, "symbols": []})
    [outcome] = poll(binance_app(make_app), sources=["binance"], tokens=["AIA"], since=SINCE)
    assert outcome.status not in ("ok", "partial", "unsupported")
    assert "no markets" in outcome.message
    routes.add("/fapi/v1/exchangeInfo", full)
    app = binance_app(make_app)
    [outcome] = poll(app, sources=["binance"], tokens=["AIA"], since=SINCE)
    assert outcome.status == "ok", outcome.message  # asked again, not read from a cached "nothing"
    assert routes.count("/fapi/v1/exchangeInfo") == 2


def test_an_unparsable_markets_answer_is_not_cached(routes, make_app):
    serve_bybit(routes)
    routes.add("/v5/market/instruments-info", bybit({"category": "linear", "list": None}, NOW_MS))
    app = app_for(make_app, "bybit", "bybit")
    [outcome] = poll(app, sources=["bybit"], tokens=["AIA"], since=SINCE)
    assert outcome.status not in ("ok", "partial", "unsupported")
    serve_bybit(routes)
    app = app_for(make_app, "bybit", "bybit")
    [outcome] = poll(app, sources=["bybit"], tokens=["AIA"], since=SINCE)
    assert outcome.status == "ok", outcome.message


def test_markets_without_the_symbol_are_a_cached_not_listed(routes, make_app):
    serve_binance(routes)
    routes.add("/fapi/v1/exchangeInfo", binance_exchange_info([("BTC", "USDT")], NOW_MS))
    for _ in range(2):
        [outcome] = poll(binance_app(make_app), sources=["binance"], tokens=["AIA"], since=SINCE)
        assert outcome.status == "unsupported", outcome.message
    assert routes.count("/fapi/v1/exchangeInfo") == 1


# ------------------------------------------------------------------ an empty 200 in the health rows


def test_an_empty_200_is_recorded_with_zero_rows_and_error_class_empty(routes, make_app):
    serve_binance(routes)
    routes.add("/futures/data/openInterestHist", [])
    app = binance_app(make_app)
    poll(app, sources=["binance"], tokens=["AIA"], since=SINCE)
    runs = app.store.read_poll_runs(NOW - timedelta(days=1), source="binance")
    oi = runs[runs["endpoint"] == "/futures/data/openInterestHist"]
    assert list(oi["rows"]) == [0]
    assert list(oi["status"]) == ["empty"] and list(oi["error_class"]) == ["empty"]
    klines = runs[runs["endpoint"] == "/fapi/v1/klines"]
    assert (klines["status"] == "ok").all() and klines["error_class"].isna().all()


def test_no_hourly_candles_over_a_day_marks_the_fetch_partial(routes, make_app):
    serve_binance(routes)
    routes.add("/fapi/v1/klines", lambda req: [] if req.args["interval"] == "1h" else
               [binance_kline(DAY0, "0.5", "1000", D)])
    app = binance_app(make_app)
    [outcome] = poll(app, sources=["binance"], tokens=["AIA"], since=SINCE)
    assert outcome.status == "partial"
    assert "no hourly candles" in outcome.message


def test_no_hourly_candles_inside_the_first_hour_is_not_a_gap(routes, make_app):
    serve_binance(routes)
    routes.add("/fapi/v1/klines", lambda req: [])
    app = binance_app(make_app)
    [outcome] = poll(app, sources=["binance"], tokens=["AIA"], since=NOW - timedelta(minutes=30))
    assert outcome.status == "ok", outcome.message


# ------------------------------------------------------------------ incremental overlap


def test_the_incremental_poll_starts_at_latest_stored_ts_minus_overlap(routes, make_app):
    serve_binance(routes)
    venue = {"perp": "AIA/USDT:USDT"}
    app = make_app([venue_token({"binance": venue})], {"binance": {"ccxt_id": "binanceusdm", "overlap": "6h"}})
    poll(app, sources=["binance"], tokens=["AIA"], since=SINCE)
    latest = app.store.latest_ts("AIA", "binance")
    first = len(routes.hits)
    later = make_app([venue_token({"binance": venue})], {"binance": {"ccxt_id": "binanceusdm", "overlap": "6h"}},
                     now=NOW + timedelta(hours=1))
    poll(later, sources=["binance"], tokens=["AIA"])  # no since: incremental
    starts = [int(a["startTime"]) for _, p, a in routes.hits[first:]
              if p == "/fapi/v1/fundingRate" and "startTime" in a]
    assert starts and starts[0] == int((latest - timedelta(hours=6)).timestamp() * 1000)
