"""DefiLlama ``/protocol/{slug}``: daily TVL in USD and in units of the token itself.

tvl_usd sums ``chainTvls[chain].tvl`` over the plain chain buckets. Buckets that double count
(``Ethereum-staking``, ``borrowed``, ``pool2``, …) are left out unless named in ``include_buckets``.

tvl_token sums the token's own symbol in ``chainTvls[chain].tokens`` (amounts, not USD) over the same
buckets, so TVL growth that is only price shows up as flat here. When the protocol's breakdown does not
list the symbol, no tvl_token is stored (a note says so): dividing USD by a price from another source
would make it depend on that source's errors.

Points are daily at 00:00 UTC. The last point of a series is usually an intraday "now" sample; it is
kept only for a day that has no midnight point yet (stored at that day's start, overwritten by later
polls), so a partial day never replaces a real daily close.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from datetime import datetime
from typing import TYPE_CHECKING, Any

from monitor.errors import ParseError, PermanentSourceError
from monitor.model import TVL_TOKEN, TVL_USD
from monitor.sources.base import FetchResult, Record, make_frame, require, to_float
from monitor.sources.http import HttpClient
from monitor.timeutil import epoch_s

if TYPE_CHECKING:
    from monitor.config import DefiLlamaConfig
    from monitor.sources.base import SourceContext


log = logging.getLogger(__name__)

DAY = 86_400
DOUBLE_COUNTED = ("staking", "borrowed", "pool2", "vesting", "offers", "treasury")


def bucket_kind(name: str) -> str | None:
    """'Ethereum' -> None (a plain chain); 'Ethereum-staking' / 'staking' -> 'staking'."""
    low = name.lower()
    for kind in DOUBLE_COUNTED:
        if low == kind or low.endswith("-" + kind):
            return kind
    return None


def included(name: str, include: list[str]) -> bool:
    kind = bucket_kind(name)
    return kind is None or kind in {k.lower() for k in include}


def _daily(points: list[tuple[int, float]]) -> dict[int, float]:
    """(unix s, value) -> {day start: value}: the midnight point of a day wins over an intraday sample;
    among intraday samples of a day without a midnight point, the latest wins."""
    out: dict[int, tuple[bool, int, float]] = {}
    for ts, value in points:
        day = ts - ts % DAY
        midnight = ts % DAY == 0
        have = out.get(day)
        if have is None or (midnight and not have[0]) or (midnight == have[0] and ts >= have[1]):
            out[day] = (midnight, ts, value)
    return {day: v for day, (_, _, v) in out.items()}


def _dated_rows(series: Any, where: str) -> Iterator[tuple[Any, str, int]]:
    """Each row of a DefiLlama time series with its path (for errors) and its ``date`` in unix seconds."""
    if not isinstance(series, list):
        raise ParseError(f"{where}: expected a list", source="defillama")
    for i, row in enumerate(series):
        w = f"{where}[{i}]"
        date = require(row, "date", source="defillama", where=w)
        yield row, w, int(to_float(date, f"{w}.date", source="defillama", allow_negative=False))


def _tvl_points(series: Any, where: str) -> list[tuple[int, float]]:
    return [
        (ts, to_float(require(row, "totalLiquidityUSD", source="defillama", where=w), f"{w}.totalLiquidityUSD",
                      source="defillama", allow_negative=False))
        for row, w, ts in _dated_rows(series, where)
    ]


def _token_points(series: Any, symbol: str, where: str) -> list[tuple[int, float]]:
    out = []
    for row, w, ts in _dated_rows(series, where):
        tokens = require(row, "tokens", source="defillama", where=w)
        if not isinstance(tokens, dict):
            raise ParseError(f"{w}.tokens: expected an object", source="defillama")
        for name, amount in tokens.items():
            if isinstance(name, str) and name.upper() == symbol.upper():
                out.append((ts, to_float(amount, f"{w}.tokens.{name}", source="defillama", allow_negative=False)))
    return out


def parse_protocol(payload: Any, token: str, symbol: str, *, include_buckets: list[str] | None = None,
                   since: int | None = None, until: int | None = None) -> tuple[list[Record], list[str]]:
    """/protocol/{slug} body -> (observation records, notes). Pure; ParseError on a changed shape."""
    include = include_buckets or []
    chain_tvls = require(payload, "chainTvls", source="defillama", where="protocol")
    if not isinstance(chain_tvls, dict):
        raise ParseError("protocol.chainTvls: expected an object", source="defillama")
    usd: dict[int, float] = {}
    units: dict[int, float] = {}
    token_seen = False
    for name in sorted(chain_tvls):
        if not isinstance(name, str) or not included(name, include):
            continue
        bucket = chain_tvls[name]
        where = f"chainTvls.{name}"
        if not isinstance(bucket, dict):
            raise ParseError(f"{where}: expected an object", source="defillama")
        for day, value in _daily(_tvl_points(bucket.get("tvl") or [], f"{where}.tvl")).items():
            usd[day] = usd.get(day, 0.0) + value
        amounts = _token_points(bucket.get("tokens") or [], symbol, f"{where}.tokens")
        token_seen = token_seen or bool(amounts)
        for day, value in _daily(amounts).items():
            units[day] = units.get(day, 0.0) + value

    def keep(day: int) -> bool:
        return (since is None or day >= since - since % DAY) and (until is None or day <= until)

    records = [(day, "defillama", token, TVL_USD, v) for day, v in sorted(usd.items()) if keep(day)]
    records += [(day, "defillama", token, TVL_TOKEN, v) for day, v in sorted(units.items()) if keep(day)]
    notes = [] if token_seen else [f"tvl_token: {symbol} not in the protocol's token breakdown"]
    return records, notes


class DefiLlamaSource:
    concurrency = 2

    def __init__(self, name: str, cfg: DefiLlamaConfig, ctx: SourceContext):
        self.name = name
        self.cfg = cfg
        self.http = HttpClient.from_config(
            name, cfg, session=ctx.session_factory(), limiter=ctx.limiters.get(name, cfg.rate_limit_per_s, cfg.burst),
            redactor=ctx.redactor, health=ctx.health,
        )

    def fetch(self, token_cfg: Any, since: datetime, until: datetime) -> FetchResult:
        result = FetchResult(self.name, token_cfg.symbol)
        slug = token_cfg.defillama_slug
        if not slug:
            result.unsupported += ["tvl_usd", "tvl_token"]
            result.notes.append("no defillama_slug configured")
            return result
        try:
            payload = self.http.get_json(f"protocol/{slug}", token=token_cfg.symbol)
        except PermanentSourceError as exc:
            if exc.status == 404:
                raise PermanentSourceError(f"unknown protocol slug {slug!r} (tokens[{token_cfg.symbol}]."
                                           "defillama_slug)", source=self.name, status=404) from None
            raise
        records, notes = parse_protocol(payload, token_cfg.symbol, token_cfg.symbol,
                                        include_buckets=self.cfg.include_buckets, since=epoch_s(since),
                                        until=epoch_s(until))
        result.observations = make_frame(records)
        result.notes += notes
        return result


def build(name: str, cfg: DefiLlamaConfig, ctx: SourceContext) -> DefiLlamaSource:
    return DefiLlamaSource(name, cfg, ctx)
