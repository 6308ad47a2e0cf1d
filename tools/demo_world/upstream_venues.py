"""Scenario answers for the derivatives venues, in each venue's documented format (numbers as
strings, ms timestamps, Binance oldest-first, Bybit/OKX newest-first, envelopes), including the
market-loading calls ccxt makes. Used only to build the bundled recording."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from tools.demo_world.scenarios import HOUR, SCENARIOS, T_S, Scenario, by_venue_id, venue_id

Answer = tuple[int, dict[str, str], Any]
DAY_MS = 86_400_000
JSON = {"Content-Type": "application/json"}
T_MS = T_S * 1000


def _num(x: float, digits: int = 8) -> str:
    return f"{x:.{digits}f}".rstrip("0").rstrip(".") if "." in f"{x:.{digits}f}" else f"{x:.{digits}f}"


def bars(tf_ms: int, q: dict[str, str], *, start_keys=("startTime", "start", "begin"), end_keys=("endTime", "end"),
         default_limit: int = 500, max_limit: int = 1000, include_open: bool = True) -> list[int]:
    """Bar open times (ms, oldest first) a venue returns for a window query: from the start (or the last
    ``limit`` bars before the end), capped at ``limit`` and at the scenario clock."""
    limit = min(int(q.get("limit") or default_limit), max_limit)
    start = next((int(q[k]) for k in start_keys if q.get(k)), None)
    end = next((int(q[k]) for k in end_keys if q.get(k)), None)
    now_open = T_MS - T_MS % tf_ms if include_open else T_MS - T_MS % tf_ms - tf_ms
    last = min(end - end % tf_ms if end is not None else now_open, now_open)
    if start is not None:
        first = start + (-start) % tf_ms
        return [t for t in range(first, last + 1, tf_ms)][:limit]
    first = last - (limit - 1) * tf_ms
    return list(range(first, last + 1, tf_ms))


def candle(s: Scenario, venue: str, t_ms: int, tf_ms: int, *, spot: bool) -> tuple[float, float, float, float, float]:
    """(open, high, low, close, quote volume) of a bar."""
    hours = [t_ms // 1000 + h * HOUR for h in range(max(1, tf_ms // (HOUR * 1000)))]
    closes = [s.price(h + HOUR) for h in hours]
    opened = s.price(t_ms // 1000)
    per_hour = s.spot_volume_hour if spot else (lambda h: s.venue_perp_volume(venue, h))
    vol = sum(per_hour(h) for h in hours)
    # the still-open bar has only part of its volume
    if t_ms + tf_ms > T_MS:
        vol *= max(0.05, (T_MS - t_ms) / tf_ms)
    return opened, max([*closes, opened]) * 1.004, min([*closes, opened]) * 0.996, closes[-1], vol


def funding_times(s: Scenario, start_s: int, end_s: int) -> list[int]:
    out = []
    t = start_s + (-start_s) % HOUR
    while t <= min(end_s, T_S):
        interval, _ = s.funding(t - 1)
        if t % (interval * HOUR) == 0:
            out.append(t)
        t += HOUR
    return out


TF_MS = {"5m": 300_000, "15m": 900_000, "30m": 1_800_000, "1h": 3_600_000, "2h": 7_200_000, "4h": 14_400_000,
         "6h": 21_600_000, "12h": 43_200_000, "1d": DAY_MS, "60": 3_600_000, "240": 14_400_000, "D": DAY_MS,
         "1H": 3_600_000, "4H": 14_400_000, "1D": DAY_MS, "5min": 300_000, "15min": 900_000, "30min": 1_800_000,
         "1hutc": 3_600_000, "1Dutc": DAY_MS}


# ------------------------------------------------------------------ binance


def _binance_symbols(spot: bool) -> list[dict[str, Any]]:
    out = []
    for s in SCENARIOS.values():
        if "binance" not in s.venues or (spot and s.spot_venue != "binance"):
            continue
        common = {"symbol": f"{s.symbol}USDT", "status": "TRADING", "baseAsset": s.symbol, "quoteAsset": "USDT",
                  "baseAssetPrecision": 8, "quotePrecision": 8,
                  "filters": [
                      {"filterType": "PRICE_FILTER", "minPrice": "0.00001", "maxPrice": "2000", "tickSize": "0.00001"},
                      {"filterType": "LOT_SIZE", "stepSize": "1", "maxQty": "50000000", "minQty": "1"},
                      {"filterType": "MARKET_LOT_SIZE", "stepSize": "1", "maxQty": "5000000", "minQty": "1"},
                      {"filterType": "MIN_NOTIONAL", "notional": "5"},
                  ]}
        if spot:
            common.update({"quoteAssetPrecision": 8, "orderTypes": ["LIMIT", "MARKET"], "isSpotTradingAllowed": True,
                           "isMarginTradingAllowed": False, "permissions": [], "permissionSets": [["SPOT"]]})
        else:
            common.update({"pair": f"{s.symbol}USDT", "contractType": "PERPETUAL", "deliveryDate": 4133404800000,
                           "onboardDate": T_MS - 200 * DAY_MS, "maintMarginPercent": "2.5000",
                           "requiredMarginPercent": "5.0000", "marginAsset": "USDT", "pricePrecision": 5,
                           "quantityPrecision": 0, "underlyingType": "COIN", "underlyingSubType": ["AI"],
                           "triggerProtect": "0.1000", "liquidationFee": "0.020000", "marketTakeBound": "0.10",
                           "orderTypes": ["LIMIT", "MARKET"], "timeInForce": ["GTC", "IOC", "FOK", "GTX"]})
        out.append(common)
    return out


def binance(path: str, q: dict[str, str], body: bytes) -> Answer | None:
    if path == "/fapi/v1/exchangeInfo":
        return 200, JSON, {"timezone": "UTC", "serverTime": T_MS, "futuresType": "U_MARGINED", "rateLimits": [],
                           "exchangeFilters": [], "assets": [{"asset": "USDT", "marginAvailable": True}],
                           "symbols": _binance_symbols(spot=False)}
    if path == "/api/v3/exchangeInfo":
        return 200, JSON, {"timezone": "UTC", "serverTime": T_MS, "rateLimits": [], "exchangeFilters": [],
                           "symbols": _binance_symbols(spot=True)}
    if path == "/fapi/v1/fundingInfo":  # only the symbols whose funding terms were adjusted
        return 200, JSON, [{"symbol": f"{s.symbol}USDT", "adjustedFundingRateCap": "0.02000000",
                            "adjustedFundingRateFloor": "-0.02000000", "fundingIntervalHours": s.funding(T_S)[0],
                            "disclaimer": False}
                           for s in SCENARIOS.values() if "binance" in s.venues and s.funding(T_S)[0] != 8]
    s = by_venue_id("binance", q.get("symbol", ""))
    if s is None:
        return 400, JSON, {"code": -1121, "msg": "Invalid symbol."}
    if path in ("/fapi/v1/klines", "/api/v3/klines"):
        tf = TF_MS[q["interval"]]
        rows = []
        for t in bars(tf, q, default_limit=500, max_limit=1500):
            o, h, lo, c, qv = candle(s, "binance", t, tf, spot=path.startswith("/api/"))
            base = qv / c
            rows.append([t, _num(o), _num(h), _num(lo), _num(c), _num(base, 2), t + tf - 1, _num(qv, 4),
                         int(base / 50) + 1, _num(base * 0.5, 2), _num(qv * 0.5, 4), "0"])
        return 200, JSON, rows
    if path == "/fapi/v1/fundingRate":
        start = int(q.get("startTime") or T_MS - 100 * 8 * HOUR * 1000) // 1000
        end = int(q.get("endTime") or T_MS) // 1000
        times = funding_times(s, start, end)[: int(q.get("limit") or 100)]
        return 200, JSON, [{"symbol": f"{s.symbol}USDT", "fundingRate": _num(s.funding(t - 1)[1], 8),
                            "fundingTime": t * 1000 + 3, "markPrice": _num(s.price(t))} for t in times]
    if path.startswith("/futures/data/"):
        tf = TF_MS[q.get("period", "1h")]
        q = dict(q)
        if q.get("startTime"):  # only the last 30 days are kept
            q["startTime"] = str(max(int(q["startTime"]), T_MS - 30 * DAY_MS))
        times = bars(tf, q, default_limit=30, max_limit=500, include_open=False)
        sym = f"{s.symbol}USDT"
        kind = path.rsplit("/", 1)[1]
        if kind == "openInterestHist":
            return 200, JSON, [{"symbol": sym, "sumOpenInterest": _num(s.venue_oi("binance", t / 1000) /
                                                                       s.price(t / 1000), 2),
                                "sumOpenInterestValue": _num(s.venue_oi("binance", t / 1000), 4),
                                "CMCCirculatingSupply": _num(s.supply, 0), "timestamp": t} for t in times]
        if kind in ("globalLongShortAccountRatio", "topLongShortPositionRatio", "topLongShortAccountRatio"):
            rows = []
            for t in times:
                ratio = s.long_short(t / 1000) if kind == "globalLongShortAccountRatio" else s.top_ratio(t / 1000)
                long = ratio / (1 + ratio)
                rows.append({"symbol": sym, "longShortRatio": _num(ratio, 4), "longAccount": _num(long, 4),
                             "shortAccount": _num(1 - long, 4), "timestamp": t})
            return 200, JSON, rows
        if kind == "takerlongshortRatio":
            rows = []
            for t in times:
                ratio = s.taker_ratio(t / 1000)
                sell = s.venue_perp_volume("binance", t / 1000) / s.price(t / 1000) / (1 + ratio)
                rows.append({"buySellRatio": _num(ratio, 4), "buyVol": _num(sell * ratio, 2), "sellVol": _num(sell, 2),
                             "timestamp": t})
            return 200, JSON, rows
    return None


# ------------------------------------------------------------------ bybit


def _bybit(result: dict[str, Any]) -> Answer:
    return 200, JSON, {"retCode": 0, "retMsg": "OK", "result": result, "retExtInfo": {}, "time": T_MS}


def bybit(path: str, q: dict[str, str], body: bytes) -> Answer | None:
    if path == "/v5/market/instruments-info":
        rows = []
        if q.get("status") != "PreLaunch" and q.get("category") == "linear":
            for s in SCENARIOS.values():
                if "bybit" not in s.venues:
                    continue
                rows.append({
                    "symbol": f"{s.symbol}USDT", "contractType": "LinearPerpetual", "status": "Trading",
                    "baseCoin": s.symbol, "quoteCoin": "USDT", "launchTime": str(T_MS - 200 * DAY_MS),
                    "deliveryTime": "0", "deliveryFeeRate": "", "priceScale": "5",
                    "leverageFilter": {"minLeverage": "1", "maxLeverage": "50.00", "leverageStep": "0.01"},
                    "priceFilter": {"minPrice": "0.00001", "maxPrice": "199.99998", "tickSize": "0.00001"},
                    "lotSizeFilter": {"maxOrderQty": "5000000", "minOrderQty": "1", "qtyStep": "1",
                                      "postOnlyMaxOrderQty": "5000000", "maxMktOrderQty": "1000000",
                                      "minNotionalValue": "5"},
                    "unifiedMarginTrade": True, "fundingInterval": s.funding(T_S)[0] * 60, "settleCoin": "USDT", "copyTrading": "both",
                    "upperFundingRate": "0.02", "lowerFundingRate": "-0.02", "isPreListing": False,
                    "preListingInfo": None, "riskParameters": {"priceLimitRatioX": "0.05", "priceLimitRatioY": "0.1"},
                    "displayName": "",
                })
        return _bybit({"category": q.get("category", "linear"), "list": rows, "nextPageCursor": ""})
    s = by_venue_id("bybit", q.get("symbol", ""))
    if s is None:
        return 200, JSON, {"retCode": 10001, "retMsg": "params error: symbol invalid", "result": {},
                           "retExtInfo": {}, "time": T_MS}
    if path == "/v5/market/kline":
        tf = TF_MS[q["interval"]]
        rows = []
        for t in reversed(bars(tf, q, start_keys=("start",), end_keys=("end",), default_limit=200, max_limit=1000)):
            o, h, lo, c, qv = candle(s, "bybit", t, tf, spot=q.get("category") == "spot")
            rows.append([str(t), _num(o), _num(h), _num(lo), _num(c), _num(qv / c, 2), _num(qv, 4)])
        return _bybit({"symbol": s.symbol + "USDT", "category": q.get("category", "linear"), "list": rows})
    if path == "/v5/market/funding/history":
        end = int(q.get("endTime") or T_MS) // 1000
        start = int(q.get("startTime") or 0) // 1000 or end - 200 * 8 * HOUR
        times = funding_times(s, start, end)[-int(q.get("limit") or 200):]
        return _bybit({"category": "linear", "list": [
            {"symbol": s.symbol + "USDT", "fundingRate": _num(s.funding(t - 1)[1], 8),
             "fundingRateTimestamp": str(t * 1000)} for t in reversed(times)]})
    if path in ("/v5/market/open-interest", "/v5/market/account-ratio"):
        key = "intervalTime" if path.endswith("open-interest") else "period"
        tf = TF_MS[q.get(key, "1h")]
        q = dict(q)
        times = bars(tf, q, default_limit=50, max_limit=200 if key == "intervalTime" else 500, include_open=False)
        if q.get("startTime") and q.get("endTime") and len(times) == int(q.get("limit") or 50):
            # bybit pages newest-first from the end of the window
            all_times = bars(tf, {**q, "limit": "100000"}, default_limit=50, max_limit=100000, include_open=False)
            times = all_times[-int(q.get("limit") or 50):]
        if key == "intervalTime":
            rows = [{"openInterest": _num(s.venue_oi("bybit", t / 1000) / s.price(t / 1000), 2),
                     "timestamp": str(t)} for t in reversed(times)]
        else:
            rows = []
            for t in reversed(times):
                ratio = s.long_short(t / 1000) * 0.97
                buy = ratio / (1 + ratio)
                rows.append({"symbol": s.symbol + "USDT", "buyRatio": _num(buy, 4), "sellRatio": _num(1 - buy, 4),
                             "timestamp": str(t)})
        return _bybit({"symbol": s.symbol + "USDT", "category": "linear", "list": rows, "nextPageCursor": ""})
    return None


# ------------------------------------------------------------------ okx and gate (markets; data throttled)


def okx(path: str, q: dict[str, str], body: bytes) -> Answer | None:
    if path == "/api/v5/public/instruments":
        data = []
        if q.get("instType") == "SWAP":
            for s in SCENARIOS.values():
                if "okx" in s.venues:
                    data.append({
                        "instType": "SWAP", "instId": venue_id("okx", s.symbol), "uly": f"{s.symbol}-USDT",
                        "instFamily": f"{s.symbol}-USDT", "baseCcy": "", "quoteCcy": "", "settleCcy": "USDT",
                        "ctValCcy": s.symbol, "ctVal": "10", "ctMult": "1", "ctType": "linear", "lotSz": "1",
                        "tickSz": "0.0001", "minSz": "1", "lever": "50", "state": "live",
                        "listTime": str(T_MS - 300 * DAY_MS), "expTime": "", "alias": "", "category": "1",
                        "maxLmtSz": "100000000", "maxMktSz": "10000", "maxTwapSz": "", "maxIcebergSz": "",
                        "maxTriggerSz": "", "maxStopSz": "", "optType": "", "stk": "", "settleExpTime": "",
                        "ruleType": "normal", "instIdCode": 100,
                    })
        return 200, JSON, {"code": "0", "msg": "", "data": data}
    throttled = _throttle("okx", q.get("instId") or q.get("instFamily") or q.get("ccy") or "")
    s = by_venue_id("okx", q.get("instId", ""))
    if throttled is None and path == "/api/v5/public/funding-rate" and s is not None:
        hours = s.funding(T_S)[0]
        t = (T_S - T_S % (hours * HOUR) + hours * HOUR) * 1000
        return 200, JSON, {"code": "0", "msg": "", "data": [{
            "instType": "SWAP", "instId": venue_id("okx", s.symbol), "method": "current_period",
            "formulaType": "withRate", "fundingRate": _num(s.funding(T_S)[1]), "nextFundingRate": "",
            "fundingTime": str(t), "nextFundingTime": str(t + hours * HOUR * 1000), "minFundingRate": "-0.015",
            "maxFundingRate": "0.015", "interestRate": "0.0001", "impactValue": "20000", "settState": "settled",
            "settFundingRate": _num(s.funding(T_S)[1]), "premium": "0.0001", "ts": str(T_MS)}]}
    return throttled


def _gate_contract(s: Scenario) -> dict[str, Any]:
    return {
        "name": venue_id("gate", s.symbol), "type": "direct", "quanto_multiplier": "10",
        "ref_discount_rate": "0", "order_price_deviate": "0.5", "maintenance_rate": "0.01",
        "mark_type": "index", "last_price": _num(s.price(T_S)), "mark_price": _num(s.price(T_S)),
        "index_price": _num(s.price(T_S)), "funding_rate_indicative": "0.0001",
        "mark_price_round": "0.0001", "funding_offset": 0, "in_delisting": False,
        "risk_limit_base": "100000", "interest_rate": "0.0003", "order_price_round": "0.0001",
        "order_size_min": 1, "ref_rebate_rate": "0.2", "funding_interval": s.funding(T_S)[0] * HOUR,
        "risk_limit_step": "100000", "leverage_min": "1", "leverage_max": "50",
        "risk_limit_max": "1000000", "maker_fee_rate": "-0.00025", "taker_fee_rate": "0.00075",
        "funding_rate": "0.0001", "order_size_max": 1000000, "funding_next_apply": T_S + 2 * HOUR,
        "short_users": 300, "config_change_time": T_S - 50 * 86400, "trade_size": 100000000,
        "position_size": 1000000, "long_users": 500, "funding_impact_value": "5000",
        "orders_limit": 100, "trade_id": 1000, "orderbook_id": 2000, "enable_bonus": True,
        "enable_credit": True, "create_time": T_S - 300 * 86400, "funding_cap_ratio": "0.75",
        "funding_rate_limit": "0.003", "status": "trading", "launch_time": T_S - 300 * 86400,
        "delisting_time": 0, "delisted_time": 0,
    }


def gate(path: str, q: dict[str, str], body: bytes) -> Answer | None:
    if path == "/api/v4/futures/usdt/contracts":
        return 200, JSON, [_gate_contract(s) for s in SCENARIOS.values() if "gate" in s.venues]
    contract = q.get("contract") or path.rsplit("/", 1)[-1]
    throttled = _throttle("gate", contract)
    s = by_venue_id("gate", contract)
    if throttled is None and path.startswith("/api/v4/futures/usdt/contracts/") and s is not None:
        return 200, JSON, _gate_contract(s)
    return throttled


def _throttle(venue: str, instrument: str) -> Answer | None:
    """The DARK token's venues during the cascade: OKX answers 429 with Retry-After, Gate 418 (banned)."""
    vid = instrument.replace("-SWAP", "")
    scenario = next((s for s in SCENARIOS.values() if venue in s.venues and s.symbol in vid), None)
    if scenario is None:
        return None
    code = scenario.throttled.get(venue)
    if code == 429:
        return 429, {**JSON, "Retry-After": "120"}, {"code": "50011", "msg": "Too Many Requests", "data": []}
    if code == 418:
        until = T_MS + 600_000
        return 418, {**JSON, "Retry-After": "600"}, {
            "label": "TOO_MANY_REQUESTS", "message": f"Way too many requests; IP banned until {until}."}
    return None


VENUES: dict[str, Callable[[str, dict[str, str], bytes], Answer | None]] = {
    "binance": binance, "bybit": bybit, "okx": okx, "gate": gate,
}
