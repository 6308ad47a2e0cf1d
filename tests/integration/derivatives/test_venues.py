"""Bybit, OKX and Gate through the real ccxt clients, each with its documented quirks:
Bybit and OKX lists newest-first with every number (and timestamp) a string; Gate in seconds, no envelope."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest

from monitor import model as m
from monitor.jobs.poll import poll

from .conftest import NOW, NOW_MS, D, H, series, venue_token
from .payloads import bybit, bybit_instruments, gate_contract, okx, okx_funding_rate, okx_instruments

SINCE = NOW - timedelta(days=1)
DAY0 = NOW_MS // D * D - D


def app_for(make_app, venue, ccxt_id, **symbols):
    return make_app([venue_token({venue: {"perp": "AIA/USDT:USDT", **symbols}})], {venue: {"ccxt_id": ccxt_id}})


# ------------------------------------------------------------------ bybit


def serve_bybit(routes):
    routes.add("/v5/market/instruments-info", bybit_instruments(["AIA", "BTC"], NOW_MS))

    def kline(req):
        if req.args["interval"] == "60":  # newest-first, strings
            rows = [[str(NOW_MS - 2 * H), "0.6", "0.6", "0.6", "0.6", "10", "6"],
                    [str(NOW_MS - 3 * H), "0.5", "0.5", "0.5", "0.5", "2000", "1000"]]
        else:
            rows = [[str(DAY0 + D), "0.6", "0.6", "0.6", "0.6", "7", "4.2"],
                    [str(DAY0), "0.5", "0.5", "0.5", "0.5", "400000", "200000"]]
        return bybit({"symbol": "AIAUSDT", "category": "linear", "list": rows}, NOW_MS)

    routes.add("/v5/market/kline", kline)
    times = [NOW_MS - k * H for k in (4, 5, 6, 10, 14, 22)]  # newest-first: 1h, 1h, 4h, 4h, 8h
    rates = ["0.0005", "0.001", "-0.0001", "0.0004", "0.0002", "0.0001"]
    routes.add("/v5/market/funding/history", bybit({"category": "linear", "list": [
        {"symbol": "AIAUSDT", "fundingRate": r, "fundingRateTimestamp": str(t)} for t, r in zip(times, rates)]},
        NOW_MS))
    routes.add("/v5/market/open-interest", bybit({"symbol": "AIAUSDT", "category": "linear", "nextPageCursor": "",
                                                  "list": [{"openInterest": "3000000.00", "timestamp": str(NOW_MS - 2 * H)},
                                                           {"openInterest": "1000000.00", "timestamp": str(NOW_MS - 3 * H)}]},
                                                 NOW_MS))
    routes.add("/v5/market/account-ratio", bybit({"nextPageCursor": "", "list": [
        {"symbol": "AIAUSDT", "buyRatio": "0.75", "sellRatio": "0.25", "timestamp": str(NOW_MS - 2 * H)}]}, NOW_MS))


def test_bybit_newest_first_strings_and_coin_oi_valued_at_hourly_close(routes, make_app):
    serve_bybit(routes)
    app = app_for(make_app, "bybit", "bybit")
    [outcome] = poll(app, sources=["bybit"], tokens=["AIA"], since=SINCE)
    assert outcome.status == "ok", outcome.message
    assert series(app, "AIA", m.PRICE_CLOSE_1H, "bybit") == [(NOW_MS - 3 * H, 0.5), (NOW_MS - 2 * H, 0.6)]
    assert series(app, "AIA", m.PERP_VOLUME_USD, "bybit") == [(DAY0, 200_000.0)]
    assert series(app, "AIA", m.OI_COIN, "bybit") == [(NOW_MS - 3 * H, 1e6), (NOW_MS - 2 * H, 3e6)]
    # linear OI is in coins; USD = coins × the hourly close of that hour
    assert series(app, "AIA", m.OI_USD, "bybit") == [(NOW_MS - 3 * H, 500_000.0), (NOW_MS - 2 * H, 1_800_000.0)]
    assert series(app, "AIA", m.LONG_SHORT_ACCOUNT_RATIO, "bybit") == [(NOW_MS - 2 * H, 3.0)]
    assert [v for _, v in series(app, "AIA", m.FUNDING_INTERVAL_H, "bybit")] == [8, 8, 4, 4, 1, 1]
    assert [e.detail["to_h"] for e in app.store.read_events("AIA")] == [4, 1]
    assert "bybit: no taker buy/sell ratio endpoint" in outcome.message


# ------------------------------------------------------------------ okx


def serve_okx(routes, state="live"):
    routes.add("/api/v5/public/instruments", okx_instruments(["AIA"], ct_val="10", state=state)["data"] and
               okx_instruments(["AIA"], ct_val="10", state=state))

    def candles(req):
        if req.args["bar"] == "1H":  # [ts, o, h, l, c, vol(contracts), volCcy(coin), volCcyQuote, confirm]
            return okx([[str(NOW_MS - 2 * H), "0.6", "0.6", "0.6", "0.6", "1", "10", "6", "1"],
                        [str(NOW_MS - 3 * H), "0.5", "0.5", "0.5", "0.5", "200", "2000", "1000", "1"]])
        return okx([[str(DAY0 + D), "0.6", "0.6", "0.6", "0.6", "1", "10", "6", "0"],
                    [str(DAY0), "0.5", "0.5", "0.5", "0.5", "30000", "300000", "150000", "1"]])

    routes.add("/api/v5/market/candles", candles)
    routes.add("/api/v5/market/history-candles", candles)
    times = [NOW_MS - k * H for k in (4, 8, 16)]
    routes.add("/api/v5/public/funding-rate-history", okx([
        {"instType": "SWAP", "instId": "AIA-USDT-SWAP", "formulaType": "withRate", "fundingRate": r,
         "realizedRate": r, "fundingTime": str(t), "method": "current_period"}
        for t, r in zip(times, ["0.0003", "0.0002", "0.0001"])]))
    routes.add("/api/v5/rubik/stat/contracts/open-interest-history", okx([  # [ts, oi, oiCcy, oiUsd]
        [str(NOW_MS - 2 * H), "300000", "3000000", "1800000"], [str(NOW_MS - 3 * H), "100000", "1000000", "500000"]]))
    routes.add("/api/v5/rubik/stat/contracts/long-short-account-ratio-contract",
               okx([[str(NOW_MS - 2 * H), "1.75"]]))
    routes.add("/api/v5/rubik/stat/contracts/long-short-position-ratio-contract-top-trader",
               okx([[str(NOW_MS - 2 * H), "1.25"]]))
    routes.add("/api/v5/rubik/stat/taker-volume-contract", okx([[str(NOW_MS - 2 * H), "400", "500"]]))
    routes.add("/api/v5/public/funding-rate", okx_funding_rate("AIA-USDT-SWAP", NOW_MS, interval_h=4))
    routes.add("/api/v5/public/liquidation-orders", okx([{
        "details": [
            {"bkLoss": "0", "bkPx": "0.5", "ccy": "", "posSide": "long", "side": "sell", "sz": "100",
             "ts": str(NOW_MS - 2 * H + 60_000)},
            {"bkLoss": "0", "bkPx": "0.4", "ccy": "", "posSide": "long", "side": "sell", "sz": "50",
             "ts": str(NOW_MS - 2 * H + 30_000)},
            {"bkLoss": "0", "bkPx": "0.7", "ccy": "", "posSide": "short", "side": "buy", "sz": "10",
             "ts": str(NOW_MS - 3 * H + 5_000)},
        ],
        "instFamily": "AIA-USDT", "instId": "AIA-USDT-SWAP", "instType": "SWAP", "totalLoss": "", "uly": "AIA-USDT",
    }]))


def test_okx_contracts_to_coins_liquidations_and_rubik_stats(routes, make_app):
    serve_okx(routes)
    app = app_for(make_app, "okx", "okx")
    [outcome] = poll(app, sources=["okx"], tokens=["AIA"], since=SINCE)
    assert outcome.status == "ok", outcome.message
    assert series(app, "AIA", m.PERP_VOLUME_USD, "okx") == [(DAY0, 300_000 * 0.5)]  # volCcy is coins
    assert series(app, "AIA", m.OI_USD, "okx") == [(NOW_MS - 3 * H, 500_000.0), (NOW_MS - 2 * H, 1_800_000.0)]
    assert series(app, "AIA", m.OI_COIN, "okx") == [(NOW_MS - 3 * H, 1e6), (NOW_MS - 2 * H, 3e6)]  # 10 per contract
    assert series(app, "AIA", m.LONG_SHORT_ACCOUNT_RATIO, "okx") == [(NOW_MS - 2 * H, 1.75)]
    assert series(app, "AIA", m.TOP_TRADER_POSITION_RATIO, "okx") == [(NOW_MS - 2 * H, 1.25)]
    assert series(app, "AIA", m.TAKER_BUY_SELL_RATIO, "okx") == [(NOW_MS - 2 * H, 1.25)]  # buy 500 / sell 400
    # sz × ctVal × bkPx per hour: longs 100×10×0.5 + 50×10×0.4; shorts 10×10×0.7
    assert series(app, "AIA", m.LIQ_LONG_USD, "okx") == [(NOW_MS - 3 * H, 0.0), (NOW_MS - 2 * H, 700.0)]
    assert series(app, "AIA", m.LIQ_SHORT_USD, "okx") == [(NOW_MS - 3 * H, 70.0), (NOW_MS - 2 * H, 0.0)]
    assert [v for _, v in series(app, "AIA", m.FUNDING_INTERVAL_H, "okx")] == [8, 8, 4]
    liq_args = [a for _, p, a in routes.hits if p == "/api/v5/public/liquidation-orders"]
    assert liq_args[0] == {"instType": "SWAP", "instFamily": "AIA-USDT", "state": "filled", "limit": "100"}
    assert liq_args[1]["after"] == str(NOW_MS - 3 * H + 5_000)  # next page: older than the oldest seen
    assert [v for _, v in series(app, "AIA", m.FUNDING_RATE_8H, "okx")] == pytest.approx([1e-4, 2e-4, 6e-4])


# ------------------------------------------------------------------ gate


def serve_gate(routes, **contract):
    routes.add("/api/v4/futures/usdt/contracts", [gate_contract("AIA_USDT", quanto="10", **contract)])
    routes.add("/api/v4/futures/usdt/contracts/AIA_USDT", gate_contract("AIA_USDT", quanto="10", **contract))

    def candles(req):
        if req.args["interval"] == "1h":
            return [{"t": (NOW_MS - 3 * H) // 1000, "v": 200, "c": "0.5", "h": "0.5", "l": "0.5", "o": "0.5",
                     "sum": "1000"},
                    {"t": (NOW_MS - 2 * H) // 1000, "v": 1, "c": "0.6", "h": "0.6", "l": "0.6", "o": "0.6", "sum": "6"}]
        return [{"t": DAY0 // 1000, "v": 40000, "c": "0.5", "h": "0.5", "l": "0.5", "o": "0.5", "sum": "200000"}]

    routes.add("/api/v4/futures/usdt/candlesticks", candles)
    routes.add("/api/v4/futures/usdt/funding_rate", [  # seconds, newest-first, rate as string
        {"t": (NOW_MS - k * H) // 1000, "r": r} for k, r in ((3, "0.0003"), (4, "0.0002"), (8, "0.0001"))])
    routes.add("/api/v4/futures/usdt/contract_stats", [
        {"time": (NOW_MS - 2 * H) // 1000, "lsr_taker": 1.3, "lsr_account": 2.2, "long_liq_size": 20,
         "long_liq_amount": 200, "long_liq_usd": 100.5, "short_liq_size": 0, "short_liq_amount": 0,
         "short_liq_usd": 0, "open_interest": 300000, "open_interest_usd": 1800000.0, "top_lsr_account": 1.4,
         "top_lsr_size": 1.6, "mark_price": "0.6"}])


def test_gate_seconds_no_envelope_contract_stats_and_quanto(routes, make_app):
    serve_gate(routes)
    app = app_for(make_app, "gate", "gate")
    [outcome] = poll(app, sources=["gate"], tokens=["AIA"], since=SINCE)
    assert outcome.status == "ok", outcome.message
    t = NOW_MS - 2 * H
    assert series(app, "AIA", m.PRICE_CLOSE_1H, "gate") == [(NOW_MS - 3 * H, 0.5), (t, 0.6)]
    assert series(app, "AIA", m.PERP_VOLUME_USD, "gate") == [(DAY0, 40000 * 10 * 0.5)]  # contracts × quanto × close
    assert series(app, "AIA", m.OI_USD, "gate") == [(t, 1_800_000.0)]
    assert series(app, "AIA", m.OI_COIN, "gate") == [(t, 3_000_000.0)]
    assert series(app, "AIA", m.LIQ_LONG_USD, "gate") == [(t, 100.5)]
    assert series(app, "AIA", m.LIQ_SHORT_USD, "gate") == [(t, 0.0)]
    assert series(app, "AIA", m.LONG_SHORT_ACCOUNT_RATIO, "gate") == [(t, 2.2)]
    assert series(app, "AIA", m.TAKER_BUY_SELL_RATIO, "gate") == [(t, 1.3)]
    assert series(app, "AIA", m.TOP_TRADER_POSITION_RATIO, "gate") == [(t, 1.6)]
    assert [v for _, v in series(app, "AIA", m.FUNDING_INTERVAL_H, "gate")] == [4, 4, 1]


def test_gate_in_delisting_becomes_a_perp_delisted_event_announced_now(routes, make_app):
    delist_s = NOW_MS // 1000 + 86_400
    serve_gate(routes, in_delisting=True, delisting_time=delist_s)
    app = app_for(make_app, "gate", "gate")
    poll(app, sources=["gate"], tokens=["AIA"], since=SINCE)
    [event] = [e for e in app.store.read_events("AIA") if e.kind == "perp_delisted"]
    assert event.chain == "exchange:gate" and event.ts == NOW  # seen now; the schedule is in the detail
    assert int(datetime.fromisoformat(event.detail["scheduled_at"]).timestamp()) == delist_s
