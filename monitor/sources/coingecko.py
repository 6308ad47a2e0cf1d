"""CoinGecko market chart: market cap, aggregate (mostly spot) volume and price, daily at 00:00 UTC.

The last point of /market_chart is "now", not a midnight: it is dropped, so the daily series holds only
whole days (a rolling 24h value at a random hour would sit oddly in a daily series).
"""

from __future__ import annotations

import math
from datetime import datetime
from typing import TYPE_CHECKING, Any

from monitor import model as m
from monitor.errors import ParseError
from monitor.sources.base import FetchResult, make_frame, require, to_float
from monitor.sources.http import HttpClient
from monitor.sources.venue_parsers import Record, ts_ms
from monitor.timeutil import epoch_ms

if TYPE_CHECKING:
    from monitor.config import SourceConfig
    from monitor.sources.base import SourceContext


DAY_MS = 86_400_000
MAX_DAYS = 365  # the demo plan's history depth
FIELDS = (("prices", m.PRICE_CLOSE), ("market_caps", m.MARKET_CAP_USD), ("total_volumes", m.SPOT_VOLUME_USD))


def build(name: str, cfg: SourceConfig, ctx: SourceContext) -> CoinGeckoSource:
    key = ctx.secrets.get(cfg.api_key_env)
    header = "x-cg-pro-api-key" if "pro-api" in cfg.base_url else "x-cg-demo-api-key"
    client = HttpClient.from_config(
        name, cfg, session=ctx.session_factory(), limiter=ctx.limiters.get(name, cfg.rate_limit_per_s, cfg.burst),
        redactor=ctx.redactor, health=ctx.health,
        headers={"accept": "application/json", **({header: key} if key else {})},
    )
    return CoinGeckoSource(name, client)


def parse_market_chart(payload: Any, source: str, token: str) -> list[Record]:
    """``{"prices": [[ms, x]], "market_caps": [...], "total_volumes": [...]}`` -> midnight points only."""
    out: list[Record] = []
    for key, metric in FIELDS:
        rows = require(payload, key, source=source, where="market_chart")
        if not isinstance(rows, list):
            raise ParseError(f"market_chart.{key}: expected a list", source=source)
        for row in rows:
            if not isinstance(row, list) or len(row) != 2:
                raise ParseError(f"market_chart.{key}: expected [ms, value] pairs", source=source)
            t = ts_ms(row[0], f"{key} time", source)
            if t % DAY_MS:
                continue  # the live, non-midnight last point
            if row[1] is None:
                continue  # CoinGecko leaves gaps as null for young coins
            out.append((t, source, token, metric, to_float(row[1], key, source=source, allow_negative=False)))
    return out


class CoinGeckoSource:
    concurrency = 1

    def __init__(self, name: str, client: HttpClient):
        self.name, self.client = name, client

    def fetch(self, token: Any, since: datetime, until: datetime) -> FetchResult:
        result = FetchResult(self.name, token.symbol)
        if not token.coingecko_id:
            result.notes.append(f"{token.symbol}: no coingecko_id configured")
            result.unsupported.append("*")
            return result
        start, end = epoch_ms(since), epoch_ms(until)
        days = min(MAX_DAYS, max(1, math.ceil((end - start) / DAY_MS) + 1))
        payload = self.client.get_json(f"coins/{token.coingecko_id}/market_chart",
                                       {"vs_currency": "usd", "days": days, "interval": "daily"}, token=token.symbol)
        records = parse_market_chart(payload, self.name, token.symbol)
        result.observations = make_frame(r for r in records if start // DAY_MS * DAY_MS <= r[0] <= end)
        return result
