"""Builders of venue payloads in their documented shapes (numbers as strings, ms vs s, ordering)."""

from __future__ import annotations

from typing import Any

NO_DELIVERY_MS = 4133404800000  # Binance's deliveryDate of a perpetual with no delivery: 2100-12-25


def binance_exchange_info(symbols: list[tuple[str, str]], now_ms: int, status: str = "TRADING",
                          delivery_ms: int = NO_DELIVERY_MS) -> dict[str, Any]:
    """/fapi/v1/exchangeInfo with one PERPETUAL per (base, quote); a delisting sets ``deliveryDate``."""
    return {
        "timezone": "UTC", "serverTime": now_ms, "futuresType": "U_MARGINED",
        "rateLimits": [{"rateLimitType": "REQUEST_WEIGHT", "interval": "MINUTE", "intervalNum": 1, "limit": 2400}],
        "exchangeFilters": [], "assets": [{"asset": "USDT", "marginAvailable": True, "autoAssetExchange": "-10000"}],
        "symbols": [{
            "symbol": f"{b}{q}", "pair": f"{b}{q}", "contractType": "PERPETUAL", "deliveryDate": delivery_ms,
            "onboardDate": 1700000000000, "status": status, "maintMarginPercent": "2.5000",
            "requiredMarginPercent": "5.0000", "baseAsset": b, "quoteAsset": q, "marginAsset": q,
            "pricePrecision": 5, "quantityPrecision": 0, "baseAssetPrecision": 8, "quotePrecision": 8,
            "underlyingType": "COIN", "underlyingSubType": ["AI"], "settlePlan": 0, "triggerProtect": "0.1000",
            "liquidationFee": "0.020000", "marketTakeBound": "0.10",
            "filters": [
                {"filterType": "PRICE_FILTER", "minPrice": "0.00010", "maxPrice": "2000", "tickSize": "0.00010"},
                {"filterType": "LOT_SIZE", "stepSize": "1", "maxQty": "5000000", "minQty": "1"},
                {"filterType": "MARKET_LOT_SIZE", "stepSize": "1", "maxQty": "500000", "minQty": "1"},
                {"filterType": "MAX_NUM_ORDERS", "limit": 200},
                {"filterType": "MIN_NOTIONAL", "notional": "5"},
                {"filterType": "PERCENT_PRICE", "multiplierUp": "1.1000", "multiplierDown": "0.9000",
                 "multiplierDecimal": "4"},
            ],
            "orderTypes": ["LIMIT", "MARKET", "STOP", "STOP_MARKET", "TAKE_PROFIT", "TAKE_PROFIT_MARKET",
                           "TRAILING_STOP_MARKET"],
            "timeInForce": ["GTC", "IOC", "FOK", "GTX", "GTD"],
        } for b, q in symbols],
    }


def binance_spot_exchange_info(symbols: list[tuple[str, str]], now_ms: int) -> dict[str, Any]:
    return {
        "timezone": "UTC", "serverTime": now_ms, "rateLimits": [], "exchangeFilters": [],
        "symbols": [{
            "symbol": f"{b}{q}", "status": "TRADING", "baseAsset": b, "baseAssetPrecision": 8, "quoteAsset": q,
            "quotePrecision": 8, "quoteAssetPrecision": 8, "baseCommissionPrecision": 8,
            "quoteCommissionPrecision": 8, "orderTypes": ["LIMIT", "MARKET"], "icebergAllowed": True,
            "ocoAllowed": True, "quoteOrderQtyMarketAllowed": True, "allowTrailingStop": True,
            "cancelReplaceAllowed": True, "isSpotTradingAllowed": True, "isMarginTradingAllowed": False,
            "filters": [
                {"filterType": "PRICE_FILTER", "minPrice": "0.00010000", "maxPrice": "1000.00000000",
                 "tickSize": "0.00010000"},
                {"filterType": "LOT_SIZE", "minQty": "0.10000000", "maxQty": "9000000.00000000",
                 "stepSize": "0.10000000"},
            ],
            "permissions": [], "permissionSets": [["SPOT"]], "defaultSelfTradePreventionMode": "EXPIRE_MAKER",
            "allowedSelfTradePreventionModes": ["EXPIRE_TAKER", "EXPIRE_MAKER", "EXPIRE_BOTH"],
        } for b, q in symbols],
    }


def binance_kline(open_ms: int, close: str, volume: str, tf_ms: int, quote: str | None = None) -> list[Any]:
    """``[openTime, o, h, l, c, volume (base), closeTime, quoteAssetVolume, trades, takerBase, takerQuote, "0"]``;
    the quote volume defaults to volume × close (a flat candle)."""
    quote = f"{float(volume) * float(close):.8f}" if quote is None else quote
    return [open_ms, close, close, close, close, volume, open_ms + tf_ms - 1, quote, 10, "0", "0", "0"]


def binance_funding_info(entries: list[tuple[str, str, int]], floor: str | None = None) -> list[dict[str, Any]]:
    """/fapi/v1/fundingInfo: only symbols whose cap, floor or interval were adjusted (symbol, cap, hours);
    the floor is minus the cap unless given."""
    return [{"symbol": sym, "adjustedFundingRateCap": cap, "adjustedFundingRateFloor": floor or f"-{cap}",
             "fundingIntervalHours": hours, "disclaimer": False} for sym, cap, hours in entries]


def okx_funding_rate(inst_id: str, now_ms: int, interval_h: int = 8, cap: str = "0.0075") -> dict[str, Any]:
    """/api/v5/public/funding-rate: the current period, with the published min/max rate."""
    t = now_ms // (interval_h * 3_600_000) * (interval_h * 3_600_000) + interval_h * 3_600_000
    return okx([{
        "formulaType": "withRate", "fundingRate": "0.0001", "fundingTime": str(t), "impactValue": "20000",
        "instId": inst_id, "instType": "SWAP", "interestRate": "0.0001", "maxFundingRate": cap,
        "method": "current_period", "minFundingRate": f"-{cap}", "nextFundingRate": "",
        "nextFundingTime": str(t + interval_h * 3_600_000), "premium": "0.0001", "settFundingRate": "0.0001",
        "settState": "settled", "ts": str(now_ms),
    }])


def bybit(result: Any, now_ms: int) -> dict[str, Any]:
    """Bybit v5 envelope; everything inside ``result`` is a string."""
    return {"retCode": 0, "retMsg": "OK", "result": result, "retExtInfo": {}, "time": now_ms}


def bybit_instruments(bases: list[str], now_ms: int) -> dict[str, Any]:
    return bybit({"category": "linear", "nextPageCursor": "", "list": [{
        "symbol": f"{b}USDT", "contractType": "LinearPerpetual", "status": "Trading", "baseCoin": b,
        "quoteCoin": "USDT", "launchTime": "1700000000000", "deliveryTime": "0", "deliveryFeeRate": "",
        "priceScale": "5", "leverageFilter": {"minLeverage": "1", "maxLeverage": "25.00", "leverageStep": "0.01"},
        "priceFilter": {"minPrice": "0.00010", "maxPrice": "199.99980", "tickSize": "0.00010"},
        "lotSizeFilter": {"maxOrderQty": "1000000", "minOrderQty": "1", "qtyStep": "1",
                          "postOnlyMaxOrderQty": "1000000", "maxMktOrderQty": "100000", "minNotionalValue": "5"},
        "unifiedMarginTrade": True, "fundingInterval": 240, "settleCoin": "USDT", "copyTrading": "none",
        "upperFundingRate": "0.02", "lowerFundingRate": "-0.02", "isPreListing": False, "preListingInfo": None,
    } for b in bases]}, now_ms)


def okx(data: list[Any]) -> dict[str, Any]:
    return {"code": "0", "msg": "", "data": data}


def okx_instruments(bases: list[str], ct_val: str = "10", state: str = "live") -> dict[str, Any]:
    return okx([{
        "alias": "", "baseCcy": "", "category": "1", "ctMult": "1", "ctType": "linear", "ctVal": ct_val,
        "ctValCcy": b, "expTime": "", "instFamily": f"{b}-USDT", "instId": f"{b}-USDT-SWAP", "instType": "SWAP",
        "lever": "50", "listTime": "1700000000000", "lotSz": "1", "maxIcebergSz": "100000000.0000000000000000",
        "maxLmtAmt": "20000000", "maxLmtSz": "100000000", "maxMktAmt": "", "maxMktSz": "10000", "maxStopSz": "10000",
        "maxTriggerSz": "100000000", "maxTwapSz": "100000000", "minSz": "1", "optType": "", "quoteCcy": "",
        "settleCcy": "USDT", "state": state, "stk": "", "tickSz": "0.0001", "uly": f"{b}-USDT", "ruleType": "normal",
    } for b in bases])


def gate_contract(name: str, quanto: str = "10", **overrides: Any) -> dict[str, Any]:
    """One ``/futures/usdt/contracts`` item: no envelope, prices as strings, sizes and times as ints."""
    item = {
        "name": name, "type": "direct", "quanto_multiplier": quanto, "ref_discount_rate": "0",
        "order_price_deviate": "0.5", "maintenance_rate": "0.01", "mark_type": "index", "last_price": "0.5",
        "mark_price": "0.5", "index_price": "0.5", "funding_rate_indicative": "0.0001", "mark_price_round": "0.0001",
        "funding_offset": 0, "in_delisting": False, "risk_limit_base": "1000000", "interest_rate": "0.0003",
        "order_price_round": "0.0001", "order_size_min": 1, "ref_rebate_rate": "0.2", "funding_interval": 14400,
        "risk_limit_step": "1000000", "leverage_min": "1", "leverage_max": "50", "risk_limit_max": "8000000",
        "maker_fee_rate": "-0.00025", "taker_fee_rate": "0.00075", "funding_rate": "0.0001",
        "order_size_max": 1000000, "funding_next_apply": 1795608000, "short_users": 120, "config_change_time": 0,
        "trade_size": 5000000, "position_size": 300000, "long_users": 240, "funding_impact_value": "5000",
        "orders_limit": 50, "trade_id": 1, "orderbook_id": 1, "enable_bonus": True, "enable_credit": True,
        "create_time": 1700000000, "funding_cap_ratio": "0.75", "status": "trading", "launch_time": 1700000000,
        "delisting_time": 0, "delisted_time": 0, "funding_rate_limit": "0.003",
    }
    item.update(overrides)
    return item
