"""Pure parsers for venue payloads: ccxt unified structures and the raw rows of the venue endpoints
ccxt has no unified method for. Each returns observation records ``(ts_ms, source, token, metric,
value)``; a changed shape raises ParseError and nothing of that payload is used."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from monitor import model as m
from monitor.errors import ParseError
from monitor.model import Event
from monitor.sources.base import to_float
from monitor.timeutil import from_epoch

Record = tuple[int, str, str, str, float]
HOUR_MS = 3_600_000
# settlement intervals venues use; a gap that is not one of these is a missed settlement
FUNDING_INTERVALS_H = (1, 2, 3, 4, 6, 8, 12, 24)
_MIN_MS, _MAX_MS = 1_230_768_000_000, 4_102_444_800_000  # 2009 .. 2100


def ts_ms(value: Any, what: str, source: str = "") -> int:
    """Epoch seconds or milliseconds (int or numeric string) -> ms, within 2009..2100."""
    number = to_float(value, what, source=source)
    if abs(number) < 1e11:
        number *= 1000.0
    if not _MIN_MS <= number <= _MAX_MS:
        raise ParseError(f"{what}: timestamp {value!r} out of range", source=source)
    return int(number)


def _rows(payload: Any, what: str, source: str) -> list[Any]:
    if not isinstance(payload, list):
        raise ParseError(f"{what}: expected a list, got {type(payload).__name__}", source=source)
    return payload


def _field(row: Any, key: str | int, what: str, source: str) -> Any:
    if isinstance(key, int):
        if not isinstance(row, (list, tuple)) or len(row) <= key:
            raise ParseError(f"{what}: expected an array with > {key} items", source=source)
        return row[key]
    if not isinstance(row, dict) or row.get(key) is None:
        raise ParseError(f"{what}: missing field {key!r}", source=source)
    return row[key]


# ------------------------------------------------------------------ funding


def funding_points(rows: Any, source: str) -> list[tuple[int, float]]:
    """ccxt FundingRateHistory dicts -> sorted (settlement ms rounded to the hour, rate)."""
    points: dict[int, float] = {}
    for row in _rows(rows, "funding history", source):
        raw_ts = ts_ms(_field(row, "timestamp", "funding history", source), "funding timestamp", source)
        # Binance stamps settlements a few ms late; the settlement is the hour
        hour = (raw_ts + HOUR_MS // 2) // HOUR_MS * HOUR_MS
        points[hour] = to_float(_field(row, "fundingRate", "funding history", source), "fundingRate",
                                source=source)
    return sorted(points.items())


def derive_intervals(times_ms: list[int]) -> list[int | None]:
    """Settlement interval (h) at each point from consecutive timestamps; None when unknown.

    Point i gets the gap to point i-1 (the period the rate paid for); the first point borrows the
    next gap. A gap that is no known interval (a missed settlement) keeps the previous interval.
    """
    out: list[int | None] = []
    for i, t in enumerate(times_ms):
        gap = (t - times_ms[i - 1]) if i > 0 else (times_ms[1] - t if len(times_ms) > 1 else None)
        hours = gap / HOUR_MS if gap else None
        if hours is not None and hours in FUNDING_INTERVALS_H:
            out.append(int(hours))
        else:
            out.append(out[-1] if out else None)
    if out and out[0] is None:  # leading unknowns take the first known interval
        first = next((h for h in out if h is not None), None)
        out = [first if h is None else h for h in out]
    return out


def funding_records(
    points: list[tuple[int, float]], source: str, token: str, symbol: str
) -> tuple[list[Record], list[Event]]:
    """Raw rate, derived interval, 8h-normalised rate; an Event where the interval changes."""
    records: list[Record] = []
    events: list[Event] = []
    intervals = derive_intervals([t for t, _ in points])
    previous: int | None = None
    for (t, rate), hours in zip(points, intervals, strict=True):
        records.append((t, source, token, m.FUNDING_RATE, rate))
        if hours is None:
            continue
        records.append((t, source, token, m.FUNDING_INTERVAL_H, float(hours)))
        records.append((t, source, token, m.FUNDING_RATE_8H, rate * 8.0 / hours))
        if previous is not None and hours != previous:
            events.append(Event(
                ts=from_epoch(t), token=token, chain=f"exchange:{source}", kind="funding_regime_changed",
                address=symbol, tx_hash=f"funding:{source}:{symbol}:{t}", log_index=-1,
                detail={"from_h": previous, "to_h": hours, "symbol": symbol}, source=source,
            ))
        previous = hours
    return records, events


# ------------------------------------------------------------------ candles, open interest, ratios


def candle_records(
    candles: Any, source: str, token: str, *, close_metric: str, volume_metric: str | None,
    tf_ms: int, now_ms: int, volume_multiplier: float = 1.0,
) -> list[Record]:
    """ccxt OHLCV ``[ts, o, h, l, c, v(, quote)]``: close at the candle start. USD volume is the venue's
    own quote volume (index 6, kept by ``VenueSource``'s parse hook) for USDT markets, else base volume ×
    close; kept only for closed candles (a running day would understate the 24h volume)."""
    out: list[Record] = []
    for row in _rows(candles, "ohlcv", source):
        t = ts_ms(_field(row, 0, "ohlcv", source), "candle time", source)
        close = to_float(_field(row, 4, "ohlcv", source), "close", source=source, allow_negative=False)
        out.append((t, source, token, close_metric, close))
        if volume_metric and t + tf_ms <= now_ms:
            if len(row) > 6 and row[6] is not None:
                usd = to_float(row[6], "quote volume", source=source, allow_negative=False)
            else:
                base = to_float(_field(row, 5, "ohlcv", source), "volume", source=source, allow_negative=False)
                usd = base * volume_multiplier * close
            out.append((t, source, token, volume_metric, usd))
    return out


def quote_volume(raw: Any, index: int | None = None, key: str | None = None) -> Any:
    """The quote volume of one raw venue candle: ``raw[index]`` of an array, ``raw[key]`` of an object."""
    if isinstance(raw, (list, tuple)):
        return raw[index] if index is not None and len(raw) > index else None
    if isinstance(raw, dict) and key is not None:
        return raw.get(key)
    return None


def oi_records(
    rows: Any, source: str, token: str, *, coin_multiplier: float = 1.0, prices: dict[int, float] | None = None
) -> list[Record]:
    """ccxt OpenInterest dicts. One-sided USD: the venue's value, else coin amount × hourly close."""
    out: list[Record] = []
    for row in _rows(rows, "open interest", source):
        t = ts_ms(_field(row, "timestamp", "open interest", source), "open interest time", source)
        amount, value = row.get("openInterestAmount"), row.get("openInterestValue")
        if amount is None and value is None:
            raise ParseError("open interest: neither amount nor value", source=source)
        coin = None
        if amount is not None:
            coin = to_float(amount, "openInterestAmount", source=source, allow_negative=False) * coin_multiplier
            out.append((t, source, token, m.OI_COIN, coin))
        if value is not None:
            out.append((t, source, token, m.OI_USD, to_float(value, "openInterestValue", source=source,
                                                               allow_negative=False)))
        elif coin is not None and prices:
            hour = t // HOUR_MS * HOUR_MS
            if hour in prices:
                out.append((t, source, token, m.OI_USD, coin * prices[hour]))
    return out


def ratio_records(rows: Any, source: str, token: str, *, field: str, metric: str, what: str) -> list[Record]:
    """Rows with a timestamp (ms or s, int or string) and one ratio field."""
    out: list[Record] = []
    for row in _rows(rows, what, source):
        t = ts_ms(_field(row, "timestamp", what, source), f"{what} time", source)
        out.append((t, source, token, metric, to_float(_field(row, field, what, source), field, source=source,
                                                       allow_negative=False)))
    return out


# ------------------------------------------------------------------ venue-specific raw payloads


def gate_stats_records(rows: Any, source: str, token: str, *, quanto: float) -> list[Record]:
    """Gate ``/futures/{settle}/contract_stats``: seconds, contracts × quanto_multiplier = coin."""
    out: list[Record] = []
    what = "contract_stats"
    for row in _rows(rows, what, source):
        t = ts_ms(_field(row, "time", what, source), "contract_stats time", source)

        def get(k: str, row: Any = row) -> float:
            return to_float(_field(row, k, what, source), k, source=source, allow_negative=False)

        out += [
            (t, source, token, m.OI_USD, get("open_interest_usd")),
            (t, source, token, m.OI_COIN, get("open_interest") * quanto),
            (t, source, token, m.LIQ_LONG_USD, get("long_liq_usd")),
            (t, source, token, m.LIQ_SHORT_USD, get("short_liq_usd")),
        ]
        # Gate sends "0" for a ratio it has not computed; a real ratio is never 0
        out += [(t, source, token, metric, ratio) for key, metric in GATE_RATIOS if (ratio := get(key)) > 0]
    return out


GATE_RATIOS = (("lsr_account", m.LONG_SHORT_ACCOUNT_RATIO), ("lsr_taker", m.TAKER_BUY_SELL_RATIO),
               ("top_lsr_size", m.TOP_TRADER_POSITION_RATIO))


def okx_liquidation_records(
    data: Any, source: str, token: str, *, ct_val: float, since_ms: int
) -> tuple[list[Record], int | None]:
    """OKX ``liquidation-orders`` ``data[].details[]`` -> hourly long/short USD (sz × ctVal × bkPx).

    Pass every page at once so an hour split across pages is summed whole. Returns the records and the
    oldest detail ts (for paging with ``after``). A long position is
    liquidated by a sell (``posSide`` long, or ``side`` sell in net mode).
    """
    what = "liquidation-orders"
    sums: dict[tuple[int, str], float] = defaultdict(float)
    oldest: int | None = None
    seen: set[tuple[Any, ...]] = set()  # pages may overlap at their edges: count each order once
    for group in _rows(data, what, source):
        for d in _rows(_field(group, "details", what, source), what, source):
            t = ts_ms(_field(d, "ts", what, source), "liquidation ts", source)
            key = (t, str(d.get("posSide")), str(d.get("side")), str(d.get("sz")), str(d.get("bkPx")))
            if key in seen:
                continue
            seen.add(key)
            oldest = t if oldest is None else min(oldest, t)
            pos = str(d.get("posSide") or "").lower()
            side = "long" if pos == "long" or (pos in ("", "net") and d.get("side") == "sell") else "short"
            usd = to_float(_field(d, "sz", what, source), "sz", source=source, allow_negative=False) * ct_val * \
                to_float(_field(d, "bkPx", what, source), "bkPx", source=source, allow_negative=False)
            if t >= since_ms:
                sums[(t // HOUR_MS * HOUR_MS, side)] += usd
    hours = {h for h, _ in sums}
    out: list[Record] = []
    for h in sorted(hours):
        out.append((h, source, token, m.LIQ_LONG_USD, sums.get((h, "long"), 0.0)))
        out.append((h, source, token, m.LIQ_SHORT_USD, sums.get((h, "short"), 0.0)))
    return out, oldest


def okx_pair_records(data: Any, source: str, token: str, *, metric: str, what: str) -> list[Record]:
    """OKX rubik arrays ``[ts, value]`` (strings, newest-first)."""
    return [
        (ts_ms(_field(r, 0, what, source), f"{what} ts", source), source, token, metric,
         to_float(_field(r, 1, what, source), what, source=source, allow_negative=False))
        for r in _rows(data, what, source)
    ]


def okx_taker_records(data: Any, source: str, token: str) -> list[Record]:
    """OKX ``taker-volume-contract`` ``[ts, sellVol, buyVol]`` -> buy/sell ratio (none when nothing sold)."""
    what = "taker volume"
    out: list[Record] = []
    for r in _rows(data, what, source):
        t = ts_ms(_field(r, 0, what, source), "taker volume ts", source)
        sell = to_float(_field(r, 1, what, source), "sellVol", source=source, allow_negative=False)
        buy = to_float(_field(r, 2, what, source), "buyVol", source=source, allow_negative=False)
        if sell > 0:
            out.append((t, source, token, m.TAKER_BUY_SELL_RATIO, buy / sell))
    return out


def hourly_closes(records: Iterable[Record]) -> dict[int, float]:
    return {t // HOUR_MS * HOUR_MS: v for t, _, _, metric, v in records if metric == m.PRICE_CLOSE_1H}


# ------------------------------------------------------------------ published funding terms


@dataclass(frozen=True)
class FundingTerms:
    """What a venue publishes for a perp's funding: the cap (magnitude, fraction per interval) and the
    interval in hours; None where the venue states nothing."""

    cap: float | None
    interval_h: float | None


def _cap(upper: Any, lower: Any, what: str, source: str) -> float:
    return max(abs(to_float(upper, f"{what} cap", source=source)), abs(to_float(lower, f"{what} floor", source=source)))


def binance_funding_terms(rows: Any, market_id: str, source: str) -> FundingTerms | None:
    """``/fapi/v1/fundingInfo`` lists only symbols whose cap, floor or interval were adjusted: None for
    any other symbol (its cap is Binance's default, which no endpoint states)."""
    what = "fundingInfo"
    for row in _rows(rows, what, source):
        if isinstance(row, dict) and row.get("symbol") == market_id:
            return FundingTerms(
                _cap(_field(row, "adjustedFundingRateCap", what, source),
                     _field(row, "adjustedFundingRateFloor", what, source), what, source),
                to_float(_field(row, "fundingIntervalHours", what, source), "fundingIntervalHours", source=source,
                         allow_negative=False))
    return None


def bybit_funding_terms(body: Any, market_id: str, source: str) -> FundingTerms | None:
    """``/v5/market/instruments-info``: ``upperFundingRate`` / ``lowerFundingRate`` (fractions) and
    ``fundingInterval`` in minutes."""
    what = "instruments-info"
    result = _field(body, "result", what, source)
    for row in _rows(_field(result, "list", what, source), what, source):
        if isinstance(row, dict) and row.get("symbol") == market_id:
            minutes = to_float(_field(row, "fundingInterval", what, source), "fundingInterval", source=source,
                               allow_negative=False)
            return FundingTerms(_cap(_field(row, "upperFundingRate", what, source),
                                     _field(row, "lowerFundingRate", what, source), what, source), minutes / 60)
    return None


def okx_funding_terms(body: Any, source: str) -> FundingTerms | None:
    """``/api/v5/public/funding-rate``: ``maxFundingRate`` / ``minFundingRate``; the interval is the gap
    between ``fundingTime`` and ``nextFundingTime``."""
    what = "funding-rate"
    rows = _rows(_field(body, "data", what, source), what, source)
    if not rows:
        return None
    row = rows[0]
    gap = ts_ms(_field(row, "nextFundingTime", what, source), "nextFundingTime", source) - \
        ts_ms(_field(row, "fundingTime", what, source), "fundingTime", source)
    return FundingTerms(_cap(_field(row, "maxFundingRate", what, source), _field(row, "minFundingRate", what, source),
                             what, source), gap / HOUR_MS)


def gate_funding_terms(contract: Any, source: str) -> FundingTerms:
    """``/futures/{settle}/contracts/{contract}``: ``funding_rate_limit`` (fraction; ``funding_cap_ratio``
    is deprecated and is a factor, not a cap) and ``funding_interval`` in seconds."""
    what = "contract"
    limit = contract.get("funding_rate_limit") if isinstance(contract, dict) else None
    cap = abs(to_float(limit, "funding_rate_limit", source=source)) if limit is not None else None
    seconds = to_float(_field(contract, "funding_interval", what, source), "funding_interval", source=source,
                       allow_negative=False)
    return FundingTerms(cap, seconds / 3600)
