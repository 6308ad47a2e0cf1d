"""CoinGlass v4 aggregates across venues (needs COINGLASS_API_KEY, header CG-API-KEY).

Units: OI and liquidations in USD; funding in PERCENT per interval (0.01 = 0.01 %), stored as a
fraction like every other source. Timestamps are ms (one doc page says seconds; both are accepted).

Time: a row's ``time`` is its bar's OPEN. A level (OI, OI-weighted funding) bar's close is the value at
the bar's end, so it is stored there (the bar still open: at the poll time), like the venues' OI
snapshots stamped at the instant measured. A flow bar (liquidations summed over it) keeps its start, like
the venues' hourly liquidation buckets. The ratio rows are point values at ``time``.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import TYPE_CHECKING, Any

from monitor import model as m
from monitor.errors import ParseError, PermanentSourceError
from monitor.sources.base import FetchResult, make_frame, require, to_float
from monitor.sources.http import HttpClient
from monitor.sources.venue_parsers import Record, ts_ms
from monitor.timeutil import epoch_ms, parse_duration

if TYPE_CHECKING:
    from monitor.config import CoinGlassConfig
    from monitor.sources.base import SourceContext


PAGE = 1000
MAX_PAGES = 20


def build(name: str, cfg: CoinGlassConfig, ctx: SourceContext) -> CoinGlassSource:
    key = ctx.secrets.get(cfg.api_key_env)
    client = HttpClient.from_config(
        name, cfg, session=ctx.session_factory(), limiter=ctx.limiters.get(name, cfg.rate_limit_per_s, cfg.burst),
        redactor=ctx.redactor, health=ctx.health,
        headers={"accept": "application/json", **({"CG-API-KEY": key} if key else {})},
    )
    return CoinGlassSource(name, cfg, client)


def unwrap(payload: Any, source: str, key_env: str | None) -> list[Any]:
    """``{"code": "0", "msg": ..., "data": [...]}`` -> data; a non-zero code is a permanent error."""
    code = str(require(payload, "code", source=source, where="coinglass envelope"))
    if code != "0":
        msg = str(payload.get("msg") or "")[:160]
        if "key" in msg.lower() or code in ("401", "30001"):
            raise PermanentSourceError(f"code {code}: {msg}; check environment variable {key_env}", source=source,
                                       kind="auth")
        raise PermanentSourceError(f"code {code}: {msg}", source=source)
    data = payload.get("data")
    if data is None:
        return []
    if not isinstance(data, list):
        raise ParseError(f"data: expected a list, got {type(data).__name__}", source=source)
    return data


def ohlc_records(rows: list[Any], source: str, token: str, metric: str, *, bar_ms: int, now_ms: int,
                 scale: float = 1.0, allow_negative: bool = False) -> list[Record]:
    """OHLC rows ``{time (bar open), open, high, low, close}`` (strings) -> the close at the bar's end,
    or at ``now_ms`` while the bar is still open."""
    return [(min(ts_ms(require(r, "time", source=source, where="ohlc row"), "time", source) + bar_ms, now_ms),
             source, token, metric,
             to_float(require(r, "close", source=source, where="ohlc row"), "close", source=source,
                      allow_negative=allow_negative) * scale)
            for r in rows]


def liquidation_records(rows: list[Any], source: str, token: str) -> list[Record]:
    out: list[Record] = []
    for r in rows:
        t = ts_ms(require(r, "time", source=source, where="liquidation row"), "time", source)
        for fld, metric in (("aggregated_long_liquidation_usd", m.LIQ_LONG_USD),
                            ("aggregated_short_liquidation_usd", m.LIQ_SHORT_USD)):
            out.append((t, source, token, metric, to_float(require(r, fld, source=source, where="liquidation row"),
                                                           fld, source=source, allow_negative=False)))
    return out


def ratio_records(rows: list[Any], source: str, token: str) -> list[Record]:
    fld = "global_account_long_short_ratio"
    return [(ts_ms(require(r, "time", source=source, where="ratio row"), "time", source), source, token,
             m.LONG_SHORT_ACCOUNT_RATIO,
             to_float(require(r, fld, source=source, where="ratio row"), fld, source=source, allow_negative=False))
            for r in rows]


class CoinGlassSource:
    concurrency = 1  # plan limits are per key and small (30-1200 requests/min)

    def __init__(self, name: str, cfg: CoinGlassConfig, client: HttpClient):
        self.name, self.cfg, self.client = name, cfg, client

    def fetch(self, token: Any, since: datetime, until: datetime) -> FetchResult:
        coin = token.coinglass_symbol or token.symbol
        start, end = epoch_ms(since), epoch_ms(until)
        bar: dict[str, Any] = {"bar_ms": int(parse_duration(self.cfg.interval).total_seconds() * 1000), "now_ms": end}
        series: list[tuple[str, dict[str, Any], Callable[[list[Any]], list[Record]]]] = [
            ("/api/futures/open-interest/aggregated-history", {"symbol": coin, "unit": "usd"},
             lambda rows: ohlc_records(rows, self.name, token.symbol, m.OI_USD, **bar)),
            # percent -> fraction
            ("/api/futures/funding-rate/oi-weight-history", {"symbol": coin},
             lambda rows: ohlc_records(rows, self.name, token.symbol, m.FUNDING_RATE, scale=0.01,
                                       allow_negative=True, **bar)),
            ("/api/futures/liquidation/aggregated-history",
             {"symbol": coin, "exchange_list": ",".join(self.cfg.exchanges)},
             lambda rows: liquidation_records(rows, self.name, token.symbol)),
            ("/api/futures/global-long-short-account-ratio/history",
             {"symbol": f"{coin}USDT", "exchange": self.cfg.exchanges[0] if self.cfg.exchanges else "Binance"},
             lambda rows: ratio_records(rows, self.name, token.symbol)),
        ]
        records: list[Record] = []
        for path, params, parse in series:
            records += self._paged(path, params, parse, start, end, token.symbol)
        result = FetchResult(self.name, token.symbol, observations=make_frame(r for r in records if start <= r[0] <= end))
        result.notes.append("coinglass: funding is the OI-weighted rate, converted from percent to a fraction")
        return result

    def _paged(self, path: str, params: dict[str, Any], parse: Callable[[list[Any]], list[Record]],
               start: int, end: int, symbol: str) -> list[Record]:
        out: list[Record] = []
        cursor = start
        for _ in range(MAX_PAGES):
            query = {**params, "interval": self.cfg.interval, "limit": PAGE, "start_time": cursor, "end_time": end}
            rows = unwrap(self.client.get_json(path, query, token=symbol), self.name, self.cfg.api_key_env)
            records = parse(rows)
            out += records
            # page by the bars' open time (a level's record sits at the bar's end)
            newest = max((ts_ms(r["time"], "time", self.name) for r in rows), default=None)
            if len(rows) < PAGE or newest is None or newest <= cursor or newest >= end:
                break
            cursor = newest + 1
        return out
