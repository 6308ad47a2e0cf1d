"""Per-source settings: base URL, timeouts, rate limits and the NAME of the key env var."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Literal

from pydantic import Field, ValidationInfo, field_validator, model_validator

from monitor.config.base import ENV_NAME, NetworkConfig, Strict, url_problem
from monitor.config.types import Duration, DurationOrZero


class SourceConfig(Strict):
    enabled: bool = True
    base_url: str
    api_key_env: str | None = None  # name of the env var, never the key itself
    key_required: bool = False  # without the key the source is disabled (with a message)
    connect_timeout_s: float = Field(5.0, gt=0, le=120)
    read_timeout_s: float = Field(20.0, gt=0, le=600)
    deadline_s: float = Field(60.0, gt=0, le=3600)  # whole request, retries included
    rate_limit_per_s: float = Field(5.0, gt=0, le=1000)
    burst: int = Field(1, ge=1, le=1000)
    rate_limit_margin: float = Field(0.1, ge=0, lt=1)  # venues pace at (1 - margin) x rate_limit_per_s
    max_retries: int = Field(4, ge=0, le=20)
    max_retry_after_s: float = Field(900.0, gt=0)  # cap on honoured Retry-After / bans
    max_body_bytes: int = Field(8 * 1024 * 1024, gt=0)  # per answer (per page); the transport stops reading past it
    poll_interval: Duration = "1h"
    overlap: DurationOrZero = "2d"  # incremental polls start at the latest stored ts minus this

    @field_validator("base_url")
    @classmethod
    def _base_url(cls, v: str, info: ValidationInfo) -> str:
        problem = url_problem(v, (info.context or {}).get("network") or NetworkConfig())
        if problem:
            raise ValueError(problem)
        return v

    @field_validator("api_key_env")
    @classmethod
    def _env_name(cls, v: str | None) -> str | None:
        if v is not None and not ENV_NAME.match(v):
            raise ValueError("must be the NAME of an environment variable (A-Z, 0-9, _), not a key")
        return v


class VenueConfig(SourceConfig):
    """A derivatives venue reached through ccxt; base_url replaces the host of every ccxt URL."""

    ccxt_id: str
    history_timeframe: str = "1h"
    markets_cache_ttl: DurationOrZero = "1d"


class CoinGlassConfig(SourceConfig):
    exchanges: list[str] = ["Binance", "OKX", "Bybit", "Gate"]
    interval: str = "4h"


class DuneConfig(SourceConfig):
    max_age: DurationOrZero = "24h"  # prefer the latest stored result younger than this
    execution_deadline_s: float = Field(300.0, gt=0)
    poll_every_s: float = Field(2.0, gt=0)
    performance: Literal["medium", "large"] = "medium"
    days: int = Field(90, ge=1, le=3650)
    query_ids: dict[str, int] = {}  # metric query name -> Dune query id (overrides the ids file)
    ids_file: str | None = None  # where `queries sync` records ids; default <cache_dir>/dune-query-ids.json
    queries_dir: str = "queries"
    failure_backoff: DurationOrZero = "24h"  # a failed (billed) execution is not re-run for this query+params before
    billing_pause: DurationOrZero = "24h"  # after a 402 / credits-exhausted answer no Dune call for this long


class GitHubConfig(SourceConfig):
    stats_attempts: int = Field(4, ge=1, le=20)  # 202 "computing" answers retried at most this often
    stats_wait_s: float = Field(2.0, ge=0)
    exclude_bots: bool = True


class EtherscanConfig(SourceConfig):
    page_size: int = Field(1000, ge=1, le=1000)
    confirmations: int = Field(12, ge=0, le=10_000)  # creations younger than this are left for the next poll
    rate_limit_wait_s: float = Field(1.0, ge=0, le=60)  # pause after "Max calls per sec", grows per retry


class ChainConfig(SourceConfig):
    """A web3 JSON-RPC endpoint per chain; base_url is the default, rpc_urls per chain override it."""

    rpc_urls: dict[str, str] = {}
    confirmations: int = Field(12, ge=0, le=10_000)
    max_block_range: int = Field(10_000, ge=1)
    max_results: int = Field(10_000, ge=1)  # a result of exactly this size is treated as truncated
    # how far back a scan may reach, in time: blocks differ per chain (12 s on Ethereum, 0.75 s on BNB Chain)
    lookback: Duration = "7d"
    lookback_blocks: int | None = Field(None, ge=1)  # the former block count, still honoured as a further cap

    @field_validator("rpc_urls")
    @classmethod
    def _rpc_urls(cls, v: dict[str, str], info: ValidationInfo) -> dict[str, str]:
        network = (info.context or {}).get("network") or NetworkConfig()
        problems = [f"{chain}: {p}" for chain, url in v.items() if (p := url_problem(url, network))]
        if problems:
            raise ValueError("; ".join(problems))
        return v


class DefiLlamaConfig(SourceConfig):
    include_buckets: list[str] = []  # e.g. ["staking"]; double-counted buckets are excluded by default


SOURCE_DEFAULTS: dict[str, dict[str, Any]] = {
    # binance: the USD-M futures client; spot volume comes from the same host root under replay.
    "binance": {"ccxt_id": "binanceusdm", "base_url": "https://fapi.binance.com", "rate_limit_per_s": 20},
    "bybit": {"ccxt_id": "bybit", "base_url": "https://api.bybit.com", "rate_limit_per_s": 20},
    "okx": {"ccxt_id": "okx", "base_url": "https://www.okx.com", "rate_limit_per_s": 2.5},
    "gate": {"ccxt_id": "gate", "base_url": "https://api.gateio.ws", "rate_limit_per_s": 10},
    "bitget": {"ccxt_id": "bitget", "base_url": "https://api.bitget.com", "rate_limit_per_s": 10},
    "hyperliquid": {"ccxt_id": "hyperliquid", "base_url": "https://api.hyperliquid.xyz", "rate_limit_per_s": 5},
    "coinglass": {"base_url": "https://open-api-v4.coinglass.com", "api_key_env": "COINGLASS_API_KEY",
                  "key_required": True, "rate_limit_per_s": 0.5},
    "coingecko": {"base_url": "https://api.coingecko.com/api/v3", "api_key_env": "COINGECKO_API_KEY",
                  "rate_limit_per_s": 0.2},
    "defillama": {"base_url": "https://api.llama.fi", "rate_limit_per_s": 1},
    "dune": {"base_url": "https://api.dune.com", "api_key_env": "DUNE_API_KEY", "key_required": True,
             "rate_limit_per_s": 0.25, "poll_interval": "1d"},
    "github": {"base_url": "https://api.github.com", "api_key_env": "GITHUB_TOKEN", "rate_limit_per_s": 1,
               "poll_interval": "1d"},
    "etherscan": {"base_url": "https://api.etherscan.io/v2/api", "api_key_env": "ETHERSCAN_API_KEY",
                  "key_required": True, "rate_limit_per_s": 3},
    "chain": {"base_url": "https://ethereum-rpc.publicnode.com", "rate_limit_per_s": 5},
}


class SourcesConfig(Strict):
    """Each source's settings; what the file gives is laid over SOURCE_DEFAULTS key by key."""

    binance: VenueConfig
    bybit: VenueConfig
    okx: VenueConfig
    gate: VenueConfig
    bitget: VenueConfig
    hyperliquid: VenueConfig
    coinglass: CoinGlassConfig
    coingecko: SourceConfig
    defillama: DefiLlamaConfig
    dune: DuneConfig
    github: GitHubConfig
    etherscan: EtherscanConfig
    chain: ChainConfig

    @model_validator(mode="before")
    @classmethod
    def _defaults(cls, data: Any) -> Any:
        if data is None:
            data = {}
        if not isinstance(data, Mapping):
            return data
        merged = dict(data)
        for name, defaults in SOURCE_DEFAULTS.items():
            given = data.get(name)
            if given is None:
                merged[name] = dict(defaults)
            elif isinstance(given, Mapping):
                merged[name] = {**defaults, **given}
        return merged

    def items(self) -> list[tuple[str, SourceConfig]]:
        return [(name, getattr(self, name)) for name in type(self).model_fields]

    def venues(self) -> list[tuple[str, VenueConfig]]:
        return [(n, s) for n, s in self.items() if isinstance(s, VenueConfig)]
