"""Bitget (envelope code "00000", strings) and Hyperliquid (one POST /info endpoint, hourly funding)."""

from __future__ import annotations

import json
from datetime import timedelta

from monitor import model as m
from monitor.jobs.poll import poll

from .conftest import NOW, NOW_MS, D, H, series, venue_token

SINCE = NOW - timedelta(days=1)
DAY0 = NOW_MS // D * D - D
BITGET_CONTRACT = {
    "symbol": "AIAUSDT", "baseCoin": "AIA", "quoteCoin": "USDT", "buyLimitPriceRatio": "0.9",
    "sellLimitPriceRatio": "0.9", "feeRateUpRatio": "0.1", "makerFeeRate": "0.0002", "takerFeeRate": "0.0006",
    "openCostUpRatio": "0.1", "supportMarginCoins": ["USDT"], "minTradeNum": "1", "priceEndStep": "1",
    "volumePlace": "0", "pricePlace": "4", "sizeMultiplier": "1", "symbolType": "perpetual", "minTradeUSDT": "5",
    "maxSymbolOrderNum": "999999", "maxProductOrderNum": "999999", "maxPositionNum": "150",
    "symbolStatus": "normal", "offTime": "-1", "limitOpenTime": "-1", "deliveryTime": "", "deliveryStartTime": "",
    "deliveryPeriod": "", "launchTime": "", "fundInterval": "4", "minLever": "1", "maxLever": "50",
    "posLimit": "0.05", "maintainTime": "", "maxMarketOrderQty": "100000", "maxOrderQty": "1000000",
}


def bitget(data):
    return {"code": "00000", "msg": "success", "requestTime": NOW_MS, "data": data}


def test_bitget_candles_funding_and_snapshot_oi(routes, make_app):
    hour = NOW_MS // H * H
    routes.add("/api/v2/mix/market/contracts", lambda req: bitget(
        [BITGET_CONTRACT] if req.args["productType"] == "USDT-FUTURES" else []))

    def candles(req):
        if req.args["granularity"] == "1H":
            return bitget([[str(hour - H), "0.5", "0.5", "0.5", "0.5", "100", "50"],
                           [str(hour), "0.6", "0.6", "0.6", "0.6", "10", "6"]])
        return bitget([[str(DAY0), "0.5", "0.5", "0.5", "0.5", "400000", "200000"]])

    routes.add("/api/v2/mix/market/candles", candles)
    routes.add("/api/v2/mix/market/history-candles", candles)
    routes.add("/api/v2/mix/market/history-fund-rate", bitget([  # newest-first
        {"symbol": "AIAUSDT", "fundingRate": r, "fundingTime": str(NOW_MS - k * H)}
        for k, r in ((4, "0.0002"), (8, "0.0001"), (16, "0.0001"))]))
    routes.add("/api/v2/mix/market/open-interest", bitget(
        {"openInterestList": [{"symbol": "AIAUSDT", "size": "3000000"}], "ts": str(NOW_MS)}))
    routes.add("/api/v2/mix/market/account-long-short", bitget([
        {"longAccountRatio": "0.6", "shortAccountRatio": "0.4", "longShortAccountRatio": "1.5",
         "ts": str(hour - H)}]))
    app = make_app([venue_token({"bitget": {"perp": "AIA/USDT:USDT"}})], {"bitget": {"ccxt_id": "bitget"}})
    [outcome] = poll(app, sources=["bitget"], tokens=["AIA"], since=SINCE)
    assert outcome.status == "ok", outcome.message
    assert series(app, "AIA", m.PRICE_CLOSE_1H, "bitget") == [(hour - H, 0.5), (hour, 0.6)]
    assert series(app, "AIA", m.PERP_VOLUME_USD, "bitget") == [(DAY0, 200_000.0)]
    assert series(app, "AIA", m.OI_COIN, "bitget") == [(NOW_MS, 3e6)]
    assert series(app, "AIA", m.OI_USD, "bitget") == [(NOW_MS, 3e6 * 0.6)]  # valued at this hour's close
    assert [v for _, v in series(app, "AIA", m.FUNDING_INTERVAL_H, "bitget")] == [8, 8, 4]
    assert series(app, "AIA", m.LONG_SHORT_ACCOUNT_RATIO, "bitget") == [(hour - H, 1.5)]


def test_hyperliquid_info_endpoint_hourly_funding(routes, make_app):
    hour = NOW_MS // H * H

    def info(req):
        body = json.loads(req.data)
        kind = body["type"]
        if kind == "metaAndAssetCtxs":
            return [{"universe": [{"name": "AIA", "szDecimals": 0, "maxLeverage": 5, "marginTableId": 5}],
                     "marginTables": []},
                    [{"funding": "0.0000125", "openInterest": "2000000.0", "prevDayPx": "0.5", "dayNtlVlm": "500000.0",
                      "premium": "0.0", "oraclePx": "0.6", "markPx": "0.6", "midPx": "0.6",
                      "impactPxs": ["0.59", "0.61"], "dayBaseVlm": "1000000.0"}]]
        if kind == "spotMetaAndAssetCtxs":
            return [{"universe": [], "tokens": []}, []]
        if kind == "candleSnapshot":
            step = H if body["req"]["interval"] == "1h" else D
            start = hour if step == H else DAY0
            return [{"t": start, "T": start + step - 1, "s": "AIA", "i": body["req"]["interval"], "o": "0.6",
                     "c": "0.6", "h": "0.6", "l": "0.6", "v": "1000", "n": 10}]
        if kind == "fundingHistory":  # hourly settlements, ms
            return [{"coin": "AIA", "fundingRate": "0.0000125", "premium": "0.0", "time": NOW_MS - k * H}
                    for k in (3, 2, 1)]
        return []

    routes.add("/info", info)
    app = make_app([venue_token({"hyperliquid": {"perp": "AIA/USDC:USDC"}})],
                   {"hyperliquid": {"ccxt_id": "hyperliquid"}})
    [outcome] = poll(app, sources=["hyperliquid"], tokens=["AIA"], since=SINCE)
    assert outcome.status == "ok", outcome.message
    assert [v for _, v in series(app, "AIA", m.FUNDING_INTERVAL_H, "hyperliquid")] == [1, 1, 1]
    assert [round(v, 9) for _, v in series(app, "AIA", m.FUNDING_RATE_8H, "hyperliquid")] == [0.0001] * 3
    assert series(app, "AIA", m.OI_COIN, "hyperliquid") == [(NOW_MS, 2e6)]
    assert series(app, "AIA", m.PERP_VOLUME_USD, "hyperliquid") == [(DAY0, 600.0)]
    assert "hyperliquid: no long/short statistics" in outcome.message
