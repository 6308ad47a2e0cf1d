"""Derivatives venues through ccxt: one shared exchange instance per venue, our own limiter on every
HTTP request (shared by all threads), per-request health rows, and one retry layer per call.

ccxt's own throttle is off: it cannot share one budget across our threads or honour Retry-After.
Instead every request goes through ``VenueSource._request`` (installed over ``exchange.fetch``) and is
charged the weight ccxt's API tables give it (hooked at ``exchange.fetch2``), and a response hook on the
session sees status, headers and body before ccxt does. Retries follow the shared ``retry.py`` policy.
"""

from __future__ import annotations

import logging
import math
import threading
import time
from collections.abc import Callable, Iterator
from datetime import datetime
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

import ccxt

from monitor import model as m
from monitor.errors import ParseError, SourceError, TransientSourceError, UnsupportedError
from monitor.sources import retry as retries
from monitor.sources import transport
from monitor.sources import venue_parsers as vp
from monitor.sources.base import FetchResult, make_frame
from monitor.sources.ccxt_errors import map_ccxt_error
from monitor.sources.http import looks_like_html, parse_json, snippet
from monitor.sources.markets import (
    MarketsCache,
    TermsMemory,
    check_markets,
    iter_urls,
    restrict_market_types,
    rewrite_urls,
)
from monitor.sources.venues import VenueSpec, market_events, published_terms, spec_for
from monitor.timeutil import epoch_ms, parse_duration

if TYPE_CHECKING:
    from monitor.config import VenueConfig
    from monitor.sources.base import SourceContext


log = logging.getLogger(__name__)

_SHAPE_ERRORS = (TypeError, KeyError, ValueError, AttributeError, IndexError, ZeroDivisionError)
H1, D1 = 3_600_000, 86_400_000


def build(name: str, cfg: VenueConfig, ctx: SourceContext) -> VenueSource:
    factory = ctx.factories.get("ccxt")
    options = {"timeout": int(cfg.read_timeout_s * 1000), "enableRateLimit": False}
    if factory is not None:
        exchange = factory(cfg.ccxt_id, options)
    else:
        session = transport.harden(ctx.session_factory(), deadline_s=cfg.deadline_s, max_body_bytes=cfg.max_body_bytes)
        exchange = getattr(ccxt, cfg.ccxt_id)({**options, "session": session})
    return VenueSource(name, cfg, ctx, exchange)


class VenueSource:
    max_pages = 200  # per series per fetch (a backfill of a year of 1h OKX candles is 88); stops early when done

    def __init__(self, name: str, cfg: VenueConfig, ctx: SourceContext, exchange: Any, *,
                 clock: Callable[[], float] = time.monotonic, sleep: Callable[[float], None] = time.sleep):
        self.name, self.cfg, self.ctx, self.exchange = name, cfg, ctx, exchange
        self.spec: VenueSpec = spec_for(name, cfg.ccxt_id)
        self.limiter = ctx.limiters.get(name, cfg.rate_limit_per_s, cfg.burst, margin=cfg.rate_limit_margin)
        # enough threads to keep the limiter busy through ~300 ms of latency, never more than 16
        self.concurrency = max(2, min(16, math.ceil(cfg.rate_limit_per_s * 0.3) + 1))
        self.policy = retries.RetryPolicy(cfg.max_retries, clock=clock, sleep=sleep)
        self._clock = clock
        self._local = threading.local()
        self._markets_lock = threading.Lock()
        self._markets_ready = False
        self._unsupported: dict[str, str] = {}  # ccxt symbol -> why (BadSymbol), remembered per process
        self.terms_memory = TermsMemory(ctx.cache_dir, name)
        self._configure()

    # ------------------------------------------------------------ set-up

    def _configure(self) -> None:
        ex = self.exchange
        official = {urlsplit(ex.implode_hostname(u)).netloc for u in iter_urls(ex.urls.get("api"))}
        if urlsplit(self.cfg.base_url).netloc not in official:
            ex.urls["api"] = rewrite_urls(ex.urls["api"], self.cfg.base_url)
        self._symbols = self._wanted_symbols()
        types = [self.spec.perp_type] + (["spot"] if any(s for s in self._symbols["spot"]) else [])
        restrict_market_types(ex, types, self.spec.market_options)
        self._types = types
        session = getattr(ex, "session", None)
        if session is not None and hasattr(session, "hooks"):
            session.hooks.setdefault("response", []).append(self._on_response)
        original = ex.fetch

        def fetch(url: str, method: str = "GET", headers: Any = None, body: Any = None) -> Any:
            return self._request(original, url, method, headers, body)

        ex.fetch = fetch
        fetch2 = ex.fetch2

        def weighed(path: str, api: Any = None, method: str = "GET", params: Any = None, config: Any = None) -> Any:
            # the request weight from ccxt's own API tables (Binance's klines cost 1-10 by limit)
            api, params, config = api or ["public"], params or {}, config or {}
            # ccxt's cost counts its own rateLimit (ms); ours counts 1/rate_limit_per_s: converted, and never
            # below one request, so a venue is paced as configured and a heavy endpoint as ccxt weighs it
            cost = float(ex.calculate_rate_limiter_cost(api, method, path, params, config) or 1)
            self._local.cost = max(1.0, cost * float(ex.rateLimit) / 1000.0 * self.cfg.rate_limit_per_s)
            try:
                return fetch2(path, api, method, params, config)
            finally:
                self._local.cost = None

        ex.fetch2 = weighed
        quote = self.spec.quote_volume
        if quote is not None:  # unified OHLCV drops the venue's quote volume; keep it as a 7th column
            parse = ex.parse_ohlcv
            ex.parse_ohlcv = lambda raw, market=None: [*parse(raw, market)[:6], quote(raw)]

    def _wanted_symbols(self) -> dict[str, set[str]]:
        out: dict[str, set[str]] = {"perp": set(), "spot": set()}
        for token in getattr(self.ctx.config, "tokens", None) or []:
            venue = token.venues.get(self.name)
            if venue is not None:
                out["perp"] |= {venue.perp} if venue.perp else set()
                out["spot"] |= {venue.spot} if venue.spot else set()
        return out

    def _ensure_markets(self) -> None:
        with self._markets_lock:
            if self._markets_ready:
                return
            wanted = self._symbols["perp"] | self._symbols["spot"]
            key = [self.cfg.ccxt_id, self.cfg.base_url, ",".join(self._types), ",".join(sorted(wanted))]
            cache = MarketsCache(self.ctx.cache_dir, self.name, key, parse_duration(self.cfg.markets_cache_ttl))
            markets = cache.load(self.ctx.now())
            if markets is None:
                loaded = check_markets(self.call("markets", self.exchange.fetch_markets), self.name)
                markets = [mk for mk in loaded if not wanted or mk.get("symbol") in wanted]
                cache.save(markets, self.ctx.now())
            self.exchange.set_markets(markets)
            self._markets_ready = True

    # ------------------------------------------------------------ the wire

    def _on_response(self, resp: Any, *args: Any, **kwargs: Any) -> Any:
        st = self._local
        st.status = resp.status_code
        body = resp.content  # a truncated body raises here; ccxt reports it as a NetworkError
        ctype = resp.headers.get("Content-Type", "")
        if looks_like_html(body, ctype):
            st.problem = TransientSourceError(
                f"upstream unavailable: HTTP {resp.status_code} with an HTML page "
                f"({self.ctx.redactor(snippet(body, 600))[:80]!r})", source=self.name, status=resp.status_code)
        elif resp.status_code in (418, 429) or b'"code":-1003' in body.replace(b" ", b""):
            text = body[:400].decode("utf-8", "replace")
            st.retry_after = retries.wait_from_answer(resp.status_code, resp.headers, text,
                                                      cap=self.cfg.max_retry_after_s)
            self.limiter.block_for(st.retry_after)
        elif 200 <= resp.status_code < 300 and body.strip():
            try:
                parse_json(body, source=self.name)
            except ParseError as exc:
                st.problem = TransientSourceError(f"malformed body: {exc}", source=self.name,
                                                  status=resp.status_code, kind="parse")
        return resp

    def _request(self, original: Callable[..., Any], url: str, method: str, headers: Any, body: Any) -> Any:
        st = self._local
        deadline = getattr(st, "deadline", None) or self._clock() + self.cfg.deadline_s
        started, t0 = self.ctx.now(), self._clock()
        endpoint = urlsplit(url).path
        wait = self.limiter.wait_time()
        if self._clock() + wait > deadline:
            kind = "banned" if self.limiter.blocked_for > 0 else "throttled"
            late = TransientSourceError(f"no request slot before the deadline ({wait:.0f}s wait)", source=self.name,
                                        kind=kind, retry_after=wait)
            self._record(started, t0, endpoint, late.kind, None, type(late).__name__, str(late), 0)
            raise late
        self.limiter.acquire(getattr(st, "cost", None) or 1)
        st.status, st.problem, st.retry_after = None, None, None
        started, t0 = self.ctx.now(), self._clock()
        try:
            with transport.within(time.monotonic() + deadline - self._clock()):
                result = original(url, method, headers, body)
        except SourceError as exc:
            self._record(started, t0, endpoint, exc.kind, st.status, type(exc).__name__, str(exc), 0)
            raise
        except Exception as exc:
            err: SourceError
            if (guarded := transport.guard_error(exc)) is not None:
                err = transport.translate(guarded, self.name, st.status, self.ctx.redactor)
            elif st.problem is not None:
                err = st.problem
            elif st.status in (418, 429):  # some venues' body codes make ccxt say ExchangeError here
                kind = "banned" if st.status == 418 else "throttled"
                err = TransientSourceError(f"HTTP {st.status} ({kind}); no request for {st.retry_after:.0f}s",
                                           source=self.name, status=st.status, retry_after=st.retry_after, kind=kind)
            elif isinstance(exc, ccxt.BaseError):
                err = map_ccxt_error(exc, self.name, status=st.status, retry_after=st.retry_after)
            else:
                err = ParseError(f"unreadable response ({type(exc).__name__})", source=self.name)
            self._record(started, t0, endpoint, err.kind, st.status, type(exc).__name__, str(err), 0)
            raise err from None
        if st.problem is not None:
            self._record(started, t0, endpoint, st.problem.kind, st.status, type(st.problem).__name__,
                         str(st.problem), 0)
            raise st.problem
        rows = _count_rows(result)
        # an empty 200 is not data: health tells it apart (status and error class "empty", rows 0)
        self._record(started, t0, endpoint, "ok" if rows else "empty", st.status, None if rows else "empty",
                     None, rows)
        return result

    def _record(self, started: datetime, t0: float, endpoint: str, status: str, http_status: int | None,
                error_class: str | None, message: str | None, rows: int) -> None:
        self.ctx.health.record(self.name, getattr(self._local, "token", None) or "*", endpoint, started,
                               (self._clock() - t0) * 1000, status, http_status=http_status,
                               error_class=error_class, message=message, rows=rows, redact=self.ctx.redactor)

    # ------------------------------------------------------------ calls with retries

    @property
    def backoff_base_s(self) -> float:
        return self.policy.backoff_base_s

    @backoff_base_s.setter
    def backoff_base_s(self, value: float) -> None:
        self.policy.backoff_base_s = value

    def call(self, what: str, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        """One ccxt call under the shared retry policy, inside cfg.deadline_s."""
        deadline = self._clock() + self.cfg.deadline_s
        outer = getattr(self._local, "deadline", None)
        self._local.deadline = min(deadline, outer) if outer else deadline

        def attempt() -> Any:
            try:
                return fn(*args, **kwargs)
            except SourceError:
                raise
            except ccxt.BaseError as exc:  # raised locally by ccxt (BadSymbol, NotSupported)
                err: SourceError = map_ccxt_error(exc, self.name)
            except _SHAPE_ERRORS as exc:  # ccxt choked on a shape it did not expect
                err = ParseError(f"{what}: unexpected payload shape ({type(exc).__name__})", source=self.name)
            raise err  # outside the except: no context carrying ccxt's message (URL, body)

        try:
            return self.policy.run(attempt, deadline=self._local.deadline, limiter=self.limiter, what=self.name,
                                   redact=self.ctx.redactor)
        finally:
            self._local.deadline = outer

    def raw_pages(self, what: str, page: Callable[[int], Any], since_ms: int, until_ms: int, limit: int,
                  ts_of: Callable[[Any], Any]) -> Iterator[Any]:
        """Forward pages of a startTime-style endpoint until short, stale or past ``until``."""
        cursor = since_ms
        for _ in range(self.max_pages):
            rows = self.call(what, page, cursor)
            yield rows
            if not isinstance(rows, list) or len(rows) < limit:
                return
            newest = max((vp.ts_ms(ts_of(r), what, self.name) for r in rows), default=cursor)
            if newest < cursor or newest >= until_ms:
                return
            cursor = newest + 1

    def _unified(self, what: str, method: str, symbol: str, since_ms: int, until_ms: int, limit: int,
                 timeframe: str | None = None) -> list[Any]:
        """A unified ccxt history method, paged forward by ``since``."""
        fn = getattr(self.exchange, method)
        out: list[Any] = []
        cursor = since_ms
        for _ in range(self.max_pages):
            args = (symbol, timeframe, cursor, limit) if timeframe else (symbol, cursor, limit)
            rows = self.call(what, fn, *args)
            if not isinstance(rows, list):
                raise ParseError(f"{what}: expected a list", source=self.name)
            out += rows
            stamps = [_row_ts(r) for r in rows]
            newest = max((s for s in stamps if s is not None), default=None)
            if len(rows) < limit or newest is None or newest < cursor or newest >= until_ms:
                break
            cursor = newest + 1
        return out

    # ------------------------------------------------------------ fetch

    def now_ms(self) -> int:
        return epoch_ms(self.ctx.now())

    def fetch(self, token: Any, since: datetime, until: datetime) -> FetchResult:
        result = FetchResult(self.name, token.symbol)
        venue = token.venues.get(self.name)
        if venue is None or not venue.perp:
            result.notes.append(f"{token.symbol} is not configured on {self.name}")
            result.unsupported.append("*")
            return result
        self._local.token = token.symbol
        try:
            return self._fetch(token.symbol, venue, epoch_ms(since), epoch_ms(until), result)
        finally:
            self._local.token = None

    def _fetch(self, symbol: str, venue: Any, since_ms: int, until_ms: int, result: FetchResult) -> FetchResult:
        if venue.perp in self._unsupported:
            raise UnsupportedError(self._unsupported[venue.perp], source=self.name)
        self._ensure_markets()
        market = self._market(venue.perp)
        ex, has, lim = self.exchange, self.exchange.has, self.spec.limits
        records: list[vp.Record] = []

        def unsupported(metric: str, why: str) -> None:
            result.unsupported.append(metric)
            result.notes.append(why)

        # candles: 1h close (RSI, OI valuation), 1d close and 24h volume
        if has.get("fetchOHLCV"):
            mult = float(market.get("contractSize") or 1.0) if self.spec.volume_in_contracts else 1.0
            hourly = self._unified("ohlcv 1h", "fetch_ohlcv", venue.perp, since_ms, until_ms, lim["ohlcv"], "1h")
            records += vp.candle_records(hourly, self.name, symbol, close_metric=m.PRICE_CLOSE_1H,
                                         volume_metric=None, tf_ms=H1, now_ms=until_ms)
            if not hourly and until_ms - since_ms >= 2 * H1:  # a listed market trades every hour
                result.partial = True
                result.notes.append(f"{self.name}: no hourly candles for {venue.perp} over the window (empty answer)")
            day_since = since_ms // D1 * D1
            daily = self._unified("ohlcv 1d", "fetch_ohlcv", venue.perp, day_since, until_ms, lim["ohlcv"], "1d")
            records += vp.candle_records(daily, self.name, symbol, close_metric=m.PRICE_CLOSE,
                                         volume_metric=m.PERP_VOLUME_USD, tf_ms=D1, now_ms=until_ms,
                                         volume_multiplier=mult)
            if venue.spot:
                spot = self._spot_market(venue.spot)
                if self.spec.spot_daily is not None:
                    records += self.spec.spot_daily(self, spot, symbol, day_since, until_ms)
                else:
                    spot_daily = self._unified("spot ohlcv 1d", "fetch_ohlcv", spot["symbol"], day_since, until_ms,
                                               lim["ohlcv"], "1d")
                    records += [r for r in vp.candle_records(
                        spot_daily, self.name, symbol, close_metric="_spot_close", volume_metric=m.SPOT_VOLUME_USD,
                        tf_ms=D1, now_ms=until_ms) if r[3] == m.SPOT_VOLUME_USD]
        else:
            unsupported(m.PRICE_CLOSE, f"{self.name}: fetchOHLCV not offered")
        if not venue.spot:
            unsupported(m.SPOT_VOLUME_USD, f"{self.name}: no spot symbol configured for {symbol}")

        # funding: raw rate, derived interval, 8h rate, regime changes
        if has.get("fetchFundingRateHistory"):
            rows = self._unified("funding", "fetch_funding_rate_history", venue.perp, since_ms, until_ms,
                                 lim["funding"])
            recs, events = vp.funding_records(vp.funding_points(rows, self.name), self.name, symbol, venue.perp)
            records += recs
            result.events += events
        else:
            unsupported(m.FUNDING_RATE, f"{self.name}: fetchFundingRateHistory not offered")

        hist_since = since_ms
        if self.spec.history_depth_ms:
            hist_since = max(since_ms, self.now_ms() - self.spec.history_depth_ms)
        tf = self.cfg.history_timeframe
        if self.spec.oi == "history" and has.get("fetchOpenInterestHistory"):
            rows = self._unified("open interest", "fetch_open_interest_history", venue.perp, hist_since, until_ms,
                                 lim["oi"], tf)
            records += self._oi(rows, symbol, records, market)
        elif self.spec.oi in ("history", "snapshot") and has.get("fetchOpenInterest"):
            row = self.call("open interest", ex.fetch_open_interest, venue.perp)
            if isinstance(row, dict) and row.get("timestamp") is None:
                row = {**row, "timestamp": self.now_ms()}
            records += self._oi([row], symbol, records, market)
        elif self.spec.oi != "extra":
            unsupported(m.OI_USD, f"{self.name}: no open interest method")

        if self.spec.lsr and has.get("fetchLongShortRatioHistory"):
            rows = self._unified("long/short", "fetch_long_short_ratio_history", venue.perp, hist_since, until_ms,
                                 lim["lsr"], tf)
            records += vp.ratio_records(rows, self.name, symbol, field="longShortRatio",
                                        metric=m.LONG_SHORT_ACCOUNT_RATIO, what="long/short ratio")
        elif self.spec.lsr:
            unsupported(m.LONG_SHORT_ACCOUNT_RATIO, f"{self.name}: fetchLongShortRatioHistory not offered")

        for extra in self.spec.extras:  # one failing extra costs its own series, not the fetch
            records += self._guarded(result, extra.__name__, extra, self, market, symbol, hist_since, until_ms) or []
        if self.spec.terms is not None:
            got = self._guarded(result, "funding terms", published_terms, self, market, symbol)
            if got is not None:
                records += got.records
                result.events += got.events
                result.notes += got.notes
                market = got.market
        for metric, why in self.spec.unsupported.items():
            unsupported(metric, why)
            if metric == m.LIQ_LONG_USD:
                result.unsupported.append(m.LIQ_SHORT_USD)

        result.events += market_events(self.name, market, symbol, self.now_ms())
        result.observations = make_frame(r for r in records if since_ms // D1 * D1 <= r[0] <= until_ms)
        return result

    def _guarded(self, result: FetchResult, what: str, fn: Callable[..., Any], *args: Any) -> Any:
        try:
            return fn(*args)
        except SourceError as exc:
            result.partial = True
            result.notes.append(f"{self.name}: {what.replace('_', ' ')} failed: {self.ctx.redactor(exc)}"[:300])
            return None

    def _oi(self, rows: Any, symbol: str, so_far: list[vp.Record], market: dict[str, Any]) -> list[vp.Record]:
        mult = float(market.get("contractSize") or 1.0) if self.spec.oi_in_contracts else 1.0
        return vp.oi_records(rows, self.name, symbol, coin_multiplier=mult, prices=vp.hourly_closes(so_far))

    def _market(self, ccxt_symbol: str) -> dict[str, Any]:
        if ccxt_symbol not in self.exchange.markets:
            why = f"{ccxt_symbol} is not listed on {self.name}"
            self._unsupported[ccxt_symbol] = why
            raise UnsupportedError(why, source=self.name)
        market: dict[str, Any] = self.exchange.market(ccxt_symbol)
        return market

    def _spot_market(self, ccxt_symbol: str) -> dict[str, Any]:
        # the dict, not exchange.market(): binanceusdm's market() turns BASE/QUOTE into the perp
        market: dict[str, Any] | None = self.exchange.markets.get(ccxt_symbol)
        if not market or not market.get("spot"):
            raise UnsupportedError(f"spot {ccxt_symbol} is not listed on {self.name}", source=self.name)
        return market


def _row_ts(row: Any) -> int | None:
    value = row[0] if isinstance(row, (list, tuple)) and row else row.get("timestamp") if isinstance(row, dict) \
        else None
    return int(value) if isinstance(value, (int, float)) else None


def _count_rows(result: Any) -> int:
    if isinstance(result, list):
        return len(result)
    if isinstance(result, dict):
        inner = result.get("data", result.get("result"))
        if isinstance(inner, dict):
            inner = inner.get("list", inner.get("symbols"))
        if isinstance(inner, list):
            return len(inner)
        return 1 if result else 0
    return 0
