"""The data contract: observations, events, poll outcomes, flags and verdicts.

Observations travel as a long pandas frame with OBS_COLUMNS; the dataclasses here are for the
smaller things (events, health rows, flags, verdicts).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

# Long frame columns. ts is tz-aware UTC, the start of the period; value is float.
OBS_COLUMNS = ("ts", "source", "token", "metric", "value")

# Metric names (snake_case with a unit suffix), DESIGN.md §3.
OI_USD = "oi_usd"
OI_COIN = "oi_coin"
FUNDING_RATE = "funding_rate"
FUNDING_INTERVAL_H = "funding_interval_h"
FUNDING_RATE_8H = "funding_rate_8h"
FUNDING_CAP = "funding_cap"
LONG_SHORT_ACCOUNT_RATIO = "long_short_account_ratio"
TOP_TRADER_POSITION_RATIO = "top_trader_position_ratio"
TAKER_BUY_SELL_RATIO = "taker_buy_sell_ratio"
LIQ_LONG_USD = "liq_long_usd"
LIQ_SHORT_USD = "liq_short_usd"
PERP_VOLUME_USD = "perp_volume_usd"
SPOT_VOLUME_USD = "spot_volume_usd"
PRICE_CLOSE = "price_close"
PRICE_CLOSE_1H = "price_close_1h"
MARKET_CAP_USD = "market_cap_usd"
TVL_USD = "tvl_usd"
TVL_TOKEN = "tvl_token"
ACTIVE_ADDRESSES = "active_addresses"
TRANSFER_COUNT = "transfer_count"
HOLDERS = "holders"
DEX_VOLUME_USD = "dex_volume_usd"
DEV_COMMITS = "dev_commits"
DEV_CONTRIBUTORS = "dev_contributors"

METRICS = frozenset(
    v for k, v in dict(globals()).items() if k.isupper() and isinstance(v, str) and k != "OBS_COLUMNS"
)

# Event kinds, DESIGN.md §2.
EVENT_KINDS = frozenset(
    {
        "proxy_upgraded",
        "admin_changed",
        "beacon_upgraded",
        "contract_created",
        "ownership_transferred",
        "liquidity_migrated",
        "token_migration",
        "perp_delisted",
        "perp_settled",
        "funding_regime_changed",
    }
)
CONTRACT_EVENT_KINDS = frozenset(EVENT_KINDS - {"perp_delisted", "perp_settled", "funding_regime_changed"})


@dataclass(frozen=True)
class Event:
    """Something that happened to a token's contracts or markets.

    (chain, tx_hash, log_index, token) identifies it; events without a transaction (configured
    migrations, exchange notices) use a stable synthetic tx_hash such as ``config:<id>`` and
    log_index -1.
    """

    ts: datetime
    token: str
    chain: str
    kind: str
    address: str
    tx_hash: str
    log_index: int
    block: int | None = None
    detail: dict[str, Any] = field(default_factory=dict)
    source: str = ""


@dataclass(frozen=True)
class PollRun:
    """One request's (or one source-token fetch's) outcome, for source health."""

    source: str
    token: str
    started_at: datetime
    finished_at: datetime
    status: str  # ok | empty | error | throttled | banned | timeout | parse | auth | unsupported | partial
    http_status: int | None = None
    error_class: str | None = None
    message: str | None = None  # already redacted
    latency_ms: float | None = None
    rows: int = 0
    endpoint: str | None = None


@dataclass(frozen=True)
class Flag:
    """A fired signal with the numbers that made it fire."""

    rule: str
    severity: str  # info | warn | high | critical
    message: str
    evidence: dict[str, Any] = field(default_factory=dict)
    window: str = ""
    confirmed: bool = False  # also fired on the confirmation window (counts more)
    lowers_confidence: bool = False  # a data-quality flag rather than a market signal


SEVERITY_ORDER = {"info": 0, "warn": 1, "high": 2, "critical": 3}


@dataclass(frozen=True)
class SourceHealth:
    source: str
    last_ok: datetime | None
    last_ts: datetime | None
    failures: int
    throttled: int
    stale: bool
    dark: bool
    detail: str = ""
    status: str = ""  # ok | stale | failing | throttled | missing
    age_s: float | None = None  # age of the newest observation at judgement time
    poll_interval_s: float | None = None
    expected: bool = False  # configured to report for this token


@dataclass(frozen=True)
class Verdict:
    token: str
    label: str  # adoption | mixed | speculation | insufficient data
    score: float  # 0-100 speculation score
    confidence: float  # 0-1
    flags: tuple[Flag, ...]
    as_of: datetime
    reasons: tuple[str, ...] = ()
    health: tuple[SourceHealth, ...] = ()
    data_as_of: dict[str, str] = field(default_factory=dict)  # series -> latest ts used
    degraded: bool = False  # part of the data was dark or disagreeing: not a clean bill
    evidence: dict[str, Any] = field(default_factory=dict)  # score breakdown and headline numbers

    @property
    def max_severity(self) -> str | None:
        if not self.flags:
            return None
        return max(self.flags, key=lambda f: SEVERITY_ORDER.get(f.severity, 0)).severity
