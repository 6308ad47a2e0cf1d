"""What differs between venues: which markets to load, page sizes, how open interest is reported,
and the documented public endpoints ccxt has no unified method for (called through ccxt's implicit
API so they share the venue's session, limiter, URL rewrite and error mapping)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from monitor import model as m
from monitor.errors import ParseError
from monitor.model import Event
from monitor.sources import venue_parsers as vp
from monitor.timeutil import from_epoch

Extra = Callable[[Any, dict[str, Any], str, int, int], list[vp.Record]]
# the venue's published funding terms, and the market's raw info where the same call refreshes it (Gate)
Terms = Callable[[Any, dict[str, Any]], tuple["vp.FundingTerms | None", dict[str, Any] | None]]
DAY_MS = 86_400_000
HOUR_MS = 3_600_000
NO_DELIVERY_MS = 4_133_404_800_000  # Binance's deliveryDate of a perpetual with none: 2100-12-25


@dataclass(frozen=True)
class VenueSpec:
    perp_type: str  # ccxt fetchMarkets type holding USDT perps
    limits: dict[str, int]  # rows per request: ohlcv, funding, oi, lsr
    oi: str = "history"  # history | snapshot | extra (an extra fetcher delivers OI)
    lsr: bool = True  # use the unified long/short account ratio when has[] says so
    extras: tuple[Extra, ...] = ()
    unsupported: dict[str, str] = field(default_factory=dict)  # metric -> why
    history_depth_ms: int | None = None  # venue keeps stats this far back only
    market_options: dict[str, Any] = field(default_factory=dict)
    volume_in_contracts: bool = False  # ccxt OHLCV volume counts contracts, not coins (Gate futures 'v')
    oi_in_contracts: bool = False  # ccxt openInterestAmount counts contracts (OKX rubik 'oi')
    spot_daily: Extra | None = None  # spot candles when the unified call cannot reach spot
    quote_volume: Callable[[Any], Any] | None = None  # a raw candle -> its quote (USDT) volume
    terms: Terms | None = None  # the published funding cap and interval


# ------------------------------------------------------------------ binance


def binance_top_and_taker(src: Any, market: dict[str, Any], token: str, since_ms: int, until_ms: int) -> list[vp.Record]:
    since_ms = max(since_ms, src.now_ms() - 29 * DAY_MS)  # /futures/data keeps 30 days
    ex, out = src.exchange, []
    for method, fld, metric in (
        ("fapidata_get_toplongshortpositionratio", "longShortRatio", m.TOP_TRADER_POSITION_RATIO),
        ("fapidata_get_takerlongshortratio", "buySellRatio", m.TAKER_BUY_SELL_RATIO),
    ):
        def page(cursor: int, method: str = method) -> Any:
            return getattr(ex, method)({"symbol": market["id"], "period": "1h", "startTime": cursor, "limit": 500})

        for rows in src.raw_pages(method, page, since_ms, until_ms, 500, lambda r: r.get("timestamp")):
            out += vp.ratio_records(rows, src.name, token, field=fld, metric=metric, what=method)
    return out


def binance_spot_daily(src: Any, market: dict[str, Any], token: str, since_ms: int, until_ms: int) -> list[vp.Record]:
    """binanceusdm maps ``AIA/USDT`` to the perp, so spot klines go through the implicit spot API."""
    ex, out = src.exchange, []

    def page(cursor: int) -> Any:
        return ex.public_get_klines({"symbol": market["id"], "interval": "1d", "startTime": cursor, "limit": 1000})

    for rows in src.raw_pages("spot klines", page, since_ms, until_ms, 1000, lambda r: r[0]):
        rows = [[*r[:6], binance_quote(r)] for r in rows] if isinstance(rows, list) else rows
        out += [r for r in vp.candle_records(rows, src.name, token, close_metric="_spot_close",
                                             volume_metric=m.SPOT_VOLUME_USD, tf_ms=DAY_MS, now_ms=until_ms)
                if r[3] == m.SPOT_VOLUME_USD]
    return out


def binance_quote(raw: Any) -> Any:
    return vp.quote_volume(raw, index=7)  # quoteAssetVolume


def binance_terms(src: Any, market: dict[str, Any]) -> tuple[vp.FundingTerms | None, None]:
    rows = src.call("funding terms", src.exchange.fapipublic_get_fundinginfo)
    return vp.binance_funding_terms(rows, market["id"], src.name), None


# ------------------------------------------------------------------ bybit


def bybit_terms(src: Any, market: dict[str, Any]) -> tuple[vp.FundingTerms | None, None]:
    body = src.call("funding terms", src.exchange.public_get_v5_market_instruments_info,
                    {"category": "linear", "symbol": market["id"]})
    return vp.bybit_funding_terms(body, market["id"], src.name), None


# ------------------------------------------------------------------ okx


def okx_terms(src: Any, market: dict[str, Any]) -> tuple[vp.FundingTerms | None, None]:
    body = src.call("funding terms", src.exchange.public_get_public_funding_rate, {"instId": market["id"]})
    return vp.okx_funding_terms(body, src.name), None



def okx_liquidations(src: Any, market: dict[str, Any], token: str, since_ms: int, until_ms: int) -> list[vp.Record]:
    ex, after = src.exchange, None
    groups: list[Any] = []
    since_ms = since_ms // vp.HOUR_MS * vp.HOUR_MS  # whole hours only: a partial bucket would overwrite a full one
    family = (market.get("info") or {}).get("instFamily") or f"{market['base']}-{market['quote']}"
    ct_val = float(market.get("contractSize") or 1.0)
    for _ in range(src.max_pages):  # newest-first pages, older with `after`
        params = {"instType": "SWAP", "instFamily": family, "state": "filled", "limit": 100}
        if after is not None:
            params["after"] = after
        body = src.call("liquidation-orders", implicit, ex, "public_get_public_liquidation_orders",
                        "public/liquidation-orders", ["public"], params)
        page: Any = body.get("data") if isinstance(body, dict) else None  # checked by the parser below
        _, oldest = vp.okx_liquidation_records(page, src.name, token, ct_val=ct_val, since_ms=since_ms)
        groups += page
        if oldest is None or oldest < since_ms or after == oldest:
            break
        after = oldest
    records, _ = vp.okx_liquidation_records(groups, src.name, token, ct_val=ct_val, since_ms=since_ms)
    return records


def okx_rubik(src: Any, market: dict[str, Any], token: str, since_ms: int, until_ms: int) -> list[vp.Record]:
    ex, out = src.exchange, []
    params = {"instId": market["id"], "period": "1H", "begin": since_ms, "end": until_ms, "limit": 100}
    body = src.call("top-trader ratio",
                    ex.public_get_rubik_stat_contracts_long_short_position_ratio_contract_top_trader, dict(params))
    out += vp.okx_pair_records(_okx_data(body), src.name, token, metric=m.TOP_TRADER_POSITION_RATIO,
                               what="top-trader position ratio")
    body = src.call("taker volume", ex.public_get_rubik_stat_taker_volume_contract, dict(params))
    out += vp.okx_taker_records(_okx_data(body), src.name, token)
    return [r for r in out if r[0] >= since_ms]


def implicit(ex: Any, method: str, path: str, api: Any, params: dict[str, Any]) -> Any:
    """ccxt's implicit method, or its generic request() where a ccxt release dropped the endpoint
    (4.5.x has no OKX liquidation-orders method); both go through sign() and our fetch wrapper."""
    fn = getattr(ex, method, None)
    return fn(params) if fn is not None else ex.request(path, api, "GET", params)


def _okx_data(body: Any) -> Any:
    return body.get("data") if isinstance(body, dict) else body


# ------------------------------------------------------------------ gate


def gate_contract_stats(src: Any, market: dict[str, Any], token: str, since_ms: int, until_ms: int) -> list[vp.Record]:
    ex, out = src.exchange, []
    quanto = float(market.get("contractSize") or 1.0)
    settle = (market.get("settleId") or "usdt").lower()

    def page(cursor: int) -> Any:
        return ex.public_futures_get_settle_contract_stats(
            {"settle": settle, "contract": market["id"], "from": cursor // 1000, "interval": "1h", "limit": 100})

    for rows in src.raw_pages("contract_stats", page, since_ms, until_ms, 100, lambda r: r.get("time")):
        out += vp.gate_stats_records(rows, src.name, token, quanto=quanto)
    return out


def gate_terms(src: Any, market: dict[str, Any]) -> tuple[vp.FundingTerms, dict[str, Any]]:
    """One contract's own object: the funding terms and a delisting fresher than the cached market list."""
    settle = (market.get("settleId") or "usdt").lower()
    body = src.call("funding terms", src.exchange.public_futures_get_settle_contracts_contract,
                    {"settle": settle, "contract": market["id"]})
    if not isinstance(body, dict):
        raise ParseError(f"contract {market['id']}: expected an object", source=src.name)
    return vp.gate_funding_terms(body, src.name), body


def gate_quote(raw: Any) -> Any:
    return vp.quote_volume(raw, index=1, key="sum")  # futures {sum}; spot [t, quote volume, ...]


NO_LIQ = "no public liquidation history"
SPECS: dict[str, VenueSpec] = {
    "binance": VenueSpec(
        "linear", {"ohlcv": 1000, "funding": 1000, "oi": 500, "lsr": 500},
        extras=(binance_top_and_taker,), history_depth_ms=29 * DAY_MS, spot_daily=binance_spot_daily,
        quote_volume=binance_quote, terms=binance_terms,
        unsupported={
            m.LIQ_LONG_USD: "binance: no public liquidation history (allForceOrders retired 2021-04-27; "
                            "forceOrders is USER_DATA; the websocket sends one order per second)",
        },
    ),
    "bybit": VenueSpec(
        "linear", {"ohlcv": 1000, "funding": 200, "oi": 200, "lsr": 500},
        quote_volume=lambda raw: vp.quote_volume(raw, index=6), terms=bybit_terms,  # turnover
        unsupported={m.LIQ_LONG_USD: f"bybit: {NO_LIQ} (websocket only)",
                     m.TOP_TRADER_POSITION_RATIO: "bybit: no top-trader ratio endpoint",
                     m.TAKER_BUY_SELL_RATIO: "bybit: no taker buy/sell ratio endpoint"},
    ),
    "okx": VenueSpec(
        "swap", {"ohlcv": 100, "funding": 100, "oi": 100, "lsr": 100},
        extras=(okx_liquidations, okx_rubik), oi_in_contracts=True,
        quote_volume=lambda raw: vp.quote_volume(raw, index=7), terms=okx_terms,  # volCcyQuote
    ),
    "gate": VenueSpec(
        "swap", {"ohlcv": 1000, "funding": 1000, "oi": 100, "lsr": 100}, oi="extra", lsr=False,
        extras=(gate_contract_stats,), volume_in_contracts=True, quote_volume=gate_quote, terms=gate_terms,
        market_options={"swap": {"fetchMarkets": {"settlementCurrencies": ["usdt"]}}},
    ),
    "bitget": VenueSpec(
        "swap", {"ohlcv": 200, "funding": 100, "oi": 100, "lsr": 100}, oi="snapshot",
        unsupported={m.LIQ_LONG_USD: f"bitget: {NO_LIQ}",
                     m.TOP_TRADER_POSITION_RATIO: "bitget: not fetched",
                     m.TAKER_BUY_SELL_RATIO: "bitget: not fetched"},
    ),
    "hyperliquid": VenueSpec(
        "swap", {"ohlcv": 500, "funding": 500, "oi": 100, "lsr": 100}, oi="snapshot", lsr=False,
        unsupported={m.LIQ_LONG_USD: f"hyperliquid: {NO_LIQ}",
                     m.LONG_SHORT_ACCOUNT_RATIO: "hyperliquid: no long/short statistics",
                     m.TOP_TRADER_POSITION_RATIO: "hyperliquid: no top-trader statistics",
                     m.TAKER_BUY_SELL_RATIO: "hyperliquid: no taker statistics"},
    ),
}


def market_events(venue: str, market: dict[str, Any], token: str, now_ms: int) -> list[Event]:
    """Delisting notices from the market itself.

    Announced (``perp_delisted``): ccxt ``active`` False, Gate ``in_delisting`` or a delisting time set,
    Binance a ``deliveryDate`` other than its no-delivery date. Stamped when seen (the store keeps an
    event's earliest ts, so the first sighting stays), the scheduled time in ``detail``. Settled
    (``perp_settled``): Gate ``delisted_time`` or Binance ``deliveryDate`` passed, stamped at that time.
    The tx_hash is stable per market, so a re-poll never adds another.
    """
    info: dict[str, Any] = market["info"] if isinstance(market.get("info"), dict) else {}
    reduce_only = _positive_int(info.get("delisting_time"))  # Gate: reduce-only from then
    delivery = _positive_int(info.get("deliveryDate"))
    ends = _positive_int(info.get("delisted_time")) or (
        delivery // 1000 if delivery and delivery != NO_DELIVERY_MS else None)
    now_s = now_ms // 1000
    detail: dict[str, Any] = {"symbol": market["symbol"], "market_id": market.get("id")}
    if ends and ends <= now_s:
        kind, ts = "perp_settled", ends
    elif ends or reduce_only or market.get("active") is False or info.get("in_delisting") is True:
        kind, ts = "perp_delisted", now_s
        if scheduled := ends or reduce_only:
            detail["scheduled_at"] = from_epoch(scheduled).isoformat()
    else:
        return []
    return [Event(ts=from_epoch(ts), token=token, chain=f"exchange:{venue}", kind=kind, address=market["symbol"],
                  tx_hash=f"{kind}:{venue}:{market['symbol']}", log_index=-1, detail=detail, source=venue)]


@dataclass
class Published:
    records: list[vp.Record]
    events: list[Event]
    notes: list[str]
    market: dict[str, Any]  # with the fresher raw info where the terms call carries it (Gate)


def published_terms(src: Any, market: dict[str, Any], token: str) -> Published:
    """The published funding cap (metric funding_cap at the poll hour, a fraction per interval) and, as
    an event, a change of cap or interval since the previous poll."""
    terms, info = src.spec.terms(src, market)
    out = Published([], [], [], {**market, "info": info} if info is not None else market)
    if terms is None:
        out.notes.append(f"{src.name}: no funding cap published for {market['symbol']} (the venue default)")
        return out
    now = src.now_ms()
    before = src.terms_memory.swap(market["symbol"], {"cap": terms.cap, "interval_h": terms.interval_h})
    out.events += terms_events(src.name, market["symbol"], token, before, terms, now)
    if terms.cap is not None:
        out.records.append((now // HOUR_MS * HOUR_MS, src.name, token, m.FUNDING_CAP, terms.cap))
    return out


def terms_events(venue: str, symbol: str, token: str, before: dict[str, Any] | None, terms: vp.FundingTerms,
                 now_ms: int) -> list[Event]:
    """A published cap or interval that differs from the one seen at the previous poll."""
    after = {"cap": terms.cap, "interval_h": terms.interval_h}
    if before is None or before == after:
        return []
    now_s = now_ms // 1000
    return [Event(ts=from_epoch(now_s), token=token, chain=f"exchange:{venue}", kind="funding_regime_changed",
                  address=symbol, tx_hash=f"funding_terms:{venue}:{symbol}:{now_s}", log_index=-1, source=venue,
                  detail={"symbol": symbol, "published": True, "cap_from": before.get("cap"), "cap_to": terms.cap,
                          "from_h": before.get("interval_h"), "to_h": terms.interval_h})]


def _positive_int(value: Any) -> int | None:
    try:
        number = int(value)
    except (TypeError, ValueError):
        return None
    return number if number > 0 else None


def spec_for(name: str, ccxt_id: str) -> VenueSpec:
    """By source name, else by ccxt id (a renamed source keeps its venue's rules)."""
    if name in SPECS:
        return SPECS[name]
    base = "binance" if ccxt_id.startswith("binance") else ccxt_id
    return SPECS.get(base, VenueSpec("swap", {"ohlcv": 200, "funding": 100, "oi": 100, "lsr": 100}))
