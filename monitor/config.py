"""Configuration: pydantic models over config.yaml, loaded with YAML safe loading only.

Secrets never live in the file: a source names the env var that holds its key (``api_key_env``) and
``Secrets`` reads it at start-up. Every problem is reported at once with its YAML path.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, ValidationInfo, field_validator, model_validator

from monitor import netpolicy
from monitor.errors import ConfigError

ENV_CONFIG = "DIVMON_CONFIG"
_ENV_NAME = re.compile(r"^[A-Z_][A-Z0-9_]*$")
_ADDRESS = re.compile(r"^0x[0-9a-fA-F]{40}$")


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


# ---------------------------------------------------------------- sources


class NetworkConfig(Strict):
    allow_loopback: bool = False  # only for recorded replay, the demo and tests
    allow_plain_http: bool = False




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
    max_retries: int = Field(4, ge=0, le=20)
    max_retry_after_s: float = Field(900.0, gt=0)  # cap on honoured Retry-After / bans
    max_body_bytes: int = Field(32 * 1024 * 1024, gt=0)
    poll_interval: str = "1h"
    overlap: str = "2d"  # incremental polls start at the latest stored ts minus this

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
        if v is not None and not _ENV_NAME.match(v):
            raise ValueError("must be the NAME of an environment variable (A-Z, 0-9, _), not a key")
        return v


class VenueConfig(SourceConfig):
    """A derivatives venue reached through ccxt; base_url replaces the host of every ccxt URL."""

    ccxt_id: str
    history_timeframe: str = "1h"
    markets_cache_ttl: str = "1d"


class CoinGlassConfig(SourceConfig):
    exchanges: list[str] = ["Binance", "OKX", "Bybit", "Gate"]
    interval: str = "4h"


class DuneConfig(SourceConfig):
    max_age: str = "24h"  # prefer the latest stored result younger than this
    execution_deadline_s: float = Field(300.0, gt=0)
    poll_every_s: float = Field(2.0, gt=0)
    performance: Literal["medium", "large"] = "medium"
    days: int = Field(90, ge=1, le=3650)
    query_ids: dict[str, int] = {}  # metric query name -> Dune query id (overrides the ids file)
    ids_file: str | None = None  # where `queries sync` records ids; default <cache_dir>/dune-query-ids.json
    queries_dir: str = "queries"
    failure_backoff: str = "24h"  # a failed (billed) execution is not re-run for this query+params before
    billing_pause: str = "24h"  # after a 402 / credits-exhausted answer no Dune call for this long


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
    lookback_blocks: int = Field(50_000, ge=1)

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


# ---------------------------------------------------------------- tokens


class VenueSymbols(Strict):
    perp: str | None = None  # ccxt unified symbol, e.g. AIA/USDT:USDT
    spot: str | None = None  # e.g. AIA/USDT


class ChainWatch(Strict):
    chain: str = "ethereum"
    chain_id: int = 1
    token_address: str | None = None
    proxies: list[str] = []  # EIP-1967 proxies whose upgrades/admin changes we watch
    deployers: list[str] = []  # contract creations by these addresses are events
    owned: list[str] = []  # OwnershipTransferred on these contracts
    start_block: int = Field(0, ge=0)

    @field_validator("token_address", "proxies", "deployers", "owned")
    @classmethod
    def _addresses(cls, v: Any) -> Any:
        if v is None:
            return None
        for addr in [v] if isinstance(v, str) else v:
            if not _ADDRESS.match(addr):
                raise ValueError(f"{addr!r} is not a 0x-prefixed 20-byte hex address")
        return v.lower() if isinstance(v, str) else [a.lower() for a in v]


class Migration(Strict):
    """A token migration known from announcements; it becomes a `token_migration` event."""

    id: str
    ts: str
    chain: str = "ethereum"
    old_address: str | None = None
    new_address: str | None = None
    note: str = ""


class TokenConfig(Strict):
    symbol: str = Field(min_length=1, max_length=32)
    name: str = ""
    venues: dict[str, VenueSymbols] = {}
    coingecko_id: str | None = None
    defillama_slug: str | None = None
    coinglass_symbol: str | None = None  # defaults to symbol
    chains: list[ChainWatch] = []
    github_repos: list[str] = []
    dune_params: dict[str, str] = {}  # extra Dune query parameters
    migrations: list[Migration] = []

    @field_validator("symbol")
    @classmethod
    def _symbol(cls, v: str) -> str:
        if not re.fullmatch(r"[A-Za-z0-9._-]+", v):
            raise ValueError("symbol may hold letters, digits, '.', '_' and '-' only")
        return v.upper()

    @field_validator("github_repos")
    @classmethod
    def _repos(cls, v: list[str]) -> list[str]:
        for repo in v:
            if not re.fullmatch(r"[A-Za-z0-9_.-]+/[A-Za-z0-9_.-]+", repo):
                raise ValueError(f"{repo!r} is not owner/name")
        return v


# ---------------------------------------------------------------- signals


class SignalsConfig(Strict):
    window: str = "7d"
    confirm_window: str = "3d"  # a rule that also fires on this window counts more
    oi_surge_pct: float = 100.0
    onchain_flat_pct: float = 20.0
    dev_window: str = "28d"
    redeploy_oi_pct: float = 50.0
    redeploy_days: float = 3.0
    perp_spot_warn: float = 10.0
    perp_spot_high: float = 100.0
    perp_spot_critical: float = 1000.0
    oi_mcap_warn: float = 0.5
    oi_mcap_high: float = 1.0
    oi_tvl_warn: float = 1.0
    crowded_funding_8h: float = 0.0005  # 0.05 % per 8h, as a fraction
    crowded_long_short: float = 2.0
    rsi_tiers: list[float] = [70.0, 80.0, 90.0]
    rsi_period: int = 14
    liq_sigma: float = 3.0
    liq_oi_pct: float = 5.0
    liq_baseline: str = "30d"
    disagreement_pct: float = 25.0
    mirror_tolerance_pct: float = 2.0
    stale_after: str = "6h"  # a series older than this (relative to its poll interval) is stale
    min_points: int = 3
    trend_window: str = "30d"  # adoption is judged on a longer window than a surge
    adoption_growth_pct: float = 20.0
    lookback: str = "37d"  # what evaluate reads: the 30-day baseline plus a 7-day window
    regime_window: str = "1d"
    regime_oi_pct: float = 5.0  # |OI change| that makes an OI/price regime
    regime_price_pct: float = 3.0
    short_oi_pct: float = 10.0  # short_buildup: OI up at least this while price falls
    event_window: str = "7d"  # exchange events this recent are reported
    mirror_min_points: int = 12
    mirror_share: float = 0.9  # share of overlapping bars within mirror_tolerance_pct
    move_oi_pct: float = 15.0  # a move during which dark data is "data degraded"
    volume_day_max_age: str = "36h"  # daily volume bars: the latest complete day must have ended this recently
    workers: int = Field(2, ge=1, le=64)  # processes judging tokens (evaluate_all) once there are enough of them
    parallel_min_tokens: int = Field(200, ge=1)


class VerdictConfig(Strict):
    speculation_score: float = 60.0
    adoption_score: float = 30.0
    min_confidence: float = 0.35  # below this the label is "insufficient data"
    base_score: float = 35.0  # a token with no flag and no adoption evidence
    confirm_bonus: float = 1.5  # a rule confirmed on two windows counts this much more
    adoption_points: float = 30.0  # taken off when on-chain growth leads OI over signals.trend_window
    weights: dict[str, float] = {
        "oi_surge_unsupported": 40.0, "oi_surge_with_redeployment": 25.0, "perp_spot_ratio": 10.0,
        "oi_exceeds_economy": 16.0, "crowded_longs": 10.0, "short_buildup": 8.0, "oi_price_regime": 0.0,
        "liquidation_spike": 8.0, "exchange_event": 6.0, "data_blind_spot": 0.0, "source_disagreement": 0.0,
    }
    severity_factor: dict[str, float] = {"info": 0.0, "warn": 1.0, "high": 1.5, "critical": 2.0}
    stale_penalty: float = 0.12  # confidence lost per dark or stale market source
    degraded_penalty: float = 0.2  # extra loss when sources go dark during a move
    disagreement_penalty: float = 0.1
    missing_onchain_penalty: float = 0.3
    venues_dark_penalty: float = 0.25  # extra loss when every venue configured for the token is dark


# ---------------------------------------------------------------- outputs


class EmailConfig(Strict):
    enabled: bool = False
    host: str = "127.0.0.1"
    port: int = Field(587, ge=1, le=65535)
    security: Literal["starttls", "ssl", "none"] = "starttls"
    username_env: str | None = None
    password_env: str | None = None
    ca_file: str | None = None
    sender: str = "divmon@localhost"
    recipients: list[str] = []
    timeout_s: float = Field(30.0, gt=0)
    subject_prefix: str = "[divmon]"

    @field_validator("host", "sender", "subject_prefix")
    @classmethod
    def _one_line(cls, v: str) -> str:
        if any(ch in v for ch in "\r\n\x00\x85\u2028\u2029"):
            raise ValueError("must not contain a line break (it would end up in a mail header)")
        return v

    @field_validator("recipients")
    @classmethod
    def _addresses(cls, v: list[str]) -> list[str]:
        for addr in v:
            if not re.fullmatch(r"[A-Za-z0-9._%+\-]+@[A-Za-z0-9.\-]+", addr):
                raise ValueError(f"{addr!r} is not a plain address like name@example.org")
        return v

    @field_validator("username_env", "password_env")
    @classmethod
    def _env_names(cls, v: str | None) -> str | None:
        if v is not None and not _ENV_NAME.match(v):
            raise ValueError("must be the NAME of an environment variable (A-Z, 0-9, _), not the secret")
        return v


class WebhookConfig(Strict):
    enabled: bool = False
    url_env: str = "DIVMON_WEBHOOK_URL"  # the URL often embeds a token, so it is a secret too
    style: Literal["slack", "discord", "telegram", "generic"] = "generic"
    timeout_s: float = Field(10.0, gt=0)

    @field_validator("url_env")
    @classmethod
    def _env_name(cls, v: str) -> str:
        if not _ENV_NAME.match(v):
            raise ValueError("must be the NAME of an environment variable holding the URL, not the URL")
        return v


class ScheduleConfig(Strict):
    evaluate: str = "*/15 * * * *"  # cron, UTC
    report: str = "0 * * * *"
    digest: str = "0 8 * * *"
    digest_period: Literal["hour", "day", "week"] = "day"
    misfire_grace_s: int = Field(300, ge=1)
    heartbeat_s: int = Field(30, ge=1)
    metrics_port: int | None = Field(None, ge=0, le=65535)  # Prometheus endpoint on 127.0.0.1 when set
    shutdown_grace_s: int = Field(10, ge=1, le=600)  # SIGTERM: wait this long for running jobs

    @field_validator("evaluate", "report", "digest")
    @classmethod
    def _cron(cls, v: str) -> str:
        from apscheduler.triggers.cron import CronTrigger

        try:
            CronTrigger(**cls.cron_fields(v), timezone="UTC")
        except ValueError as exc:
            raise ValueError(f"not a 5-field cron expression: {exc}") from None
        return v

    @staticmethod
    def cron_fields(expr: str) -> dict[str, str]:
        """Standard crontab -> APScheduler CronTrigger fields. Day-of-week numbers follow crontab
        (0 or 7 = Sunday); APScheduler's from_crontab would read 0 as Monday, so they become names."""
        parts = expr.split()
        if len(parts) != 5:
            raise ValueError(f"expected 5 fields, got {len(parts)}")
        names = ["sun", "mon", "tue", "wed", "thu", "fri", "sat", "sun"]
        days = []
        for item in parts[4].split(","):
            spec, _, step = item.partition("/")
            if not re.fullmatch(r"\*|\d+(-\d+)?", spec):
                days.append(item)  # names such as mon-fri pass through unchanged
                continue
            lo, _, hi = ("0-7" if spec == "*" else spec).partition("-")
            if spec != "*" and not hi and not step:
                hi = lo
            hi = hi or "7"
            if int(lo) > 7 or int(hi) > 7:
                raise ValueError(f"day of week {item!r} out of range 0-7")
            if spec == "*" and not step:
                days.append("*")
                continue
            days += [names[d] for d in range(int(lo), int(hi) + 1, int(step or 1))]
        dow = "*" if "*" in days else ",".join(dict.fromkeys(days))
        minute, hour, day, month = parts[:4]
        return {"minute": minute, "hour": hour, "day": day, "month": month, "day_of_week": dow}


class ReportConfig(Strict):
    out_dir: str = "reports"
    formats: list[Literal["html", "md", "json"]] = ["html", "md", "json"]
    chart_days: int = Field(30, ge=1, le=3650)


class StorageConfig(Strict):
    url: str = "sqlite:///divmon.db"
    busy_timeout_s: float = Field(30.0, gt=0)
    health_retention: str = "35d"  # request health older than this is pruned after each poll


class Config(Strict):
    storage: StorageConfig = StorageConfig()
    network: NetworkConfig = NetworkConfig()
    tokens: list[TokenConfig] = []
    sources: SourcesConfig = Field(default_factory=lambda: SourcesConfig.model_validate({}))
    signals: SignalsConfig = SignalsConfig()
    verdict: VerdictConfig = VerdictConfig()
    schedule: ScheduleConfig = ScheduleConfig()
    report: ReportConfig = ReportConfig()
    email: EmailConfig = EmailConfig()
    webhook: WebhookConfig = WebhookConfig()

    @model_validator(mode="after")
    def _checks(self) -> Config:
        seen: set[str] = set()
        for token in self.tokens:
            if token.symbol in seen:
                raise ValueError(f"token {token.symbol} is listed twice")
            seen.add(token.symbol)
            for venue in token.venues:
                if venue not in SourcesConfig.model_fields or not isinstance(
                    getattr(self.sources, venue), VenueConfig
                ):
                    raise ValueError(f"token {token.symbol}: unknown venue {venue!r}")
        return self

    def token(self, symbol: str) -> TokenConfig:
        for token in self.tokens:
            if token.symbol == symbol.upper():
                return token
        known = ", ".join(t.symbol for t in self.tokens) or "none"
        raise ConfigError(f"token {symbol!r} is not configured (configured: {known})")


def url_problem(url: str, network: NetworkConfig) -> str | None:
    """Why a base URL is refused under this network policy, or None (see monitor.netpolicy)."""
    return netpolicy.url_problem(url, allow_loopback=network.allow_loopback,
                                 allow_plain_http=network.allow_plain_http)


# ---------------------------------------------------------------- loading


def _yaml_path(loc: tuple[Any, ...]) -> str:
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        elif part in ("function-after", "function-before") or str(part).startswith("function-"):
            continue
        else:
            out += ("." if out else "") + str(part)
    return out or "(top level)"


def parse_config(data: Any, *, origin: str = "config") -> Config:
    if data is None:
        data = {}
    if not isinstance(data, Mapping):
        raise ConfigError(f"{origin}: the top level must be a mapping, not {type(data).__name__}")
    try:
        network = NetworkConfig.model_validate(data.get("network") or {})
    except ValidationError:
        network = NetworkConfig()  # its own problems are reported below
    try:
        return Config.model_validate(data, context={"network": network})
    except ValidationError as exc:
        problems = []
        for err in exc.errors():
            msg = err["msg"].removeprefix("Value error, ")
            if err["type"] == "extra_forbidden":
                msg = "unknown key"
            problems.append(f"{_yaml_path(err['loc'])}: {msg}")
        raise ConfigError(f"{origin}: {len(problems)} problem(s)", problems) from None


def load_config(path: str | os.PathLike[str] | None = None) -> Config:
    """Read a YAML config (safe loading); with no path, $DIVMON_CONFIG, then ./config.yaml, else the
    embedded defaults (no tokens, SQLite file divmon.db)."""
    if path is None:
        path = os.environ.get(ENV_CONFIG) or ("config.yaml" if Path("config.yaml").is_file() else None)
        if path is None:
            return Config()
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"cannot read config file {path}: {exc.strerror}") from None
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        raise ConfigError(f"{path}: not valid YAML{where}: {problem}") from None
    return parse_config(data, origin=str(path))


# ---------------------------------------------------------------- secrets


def mask(value: str | None) -> str:
    return "(not set)" if not value else "****"


class Secrets:
    """Reads secret env vars named by the config; never renders a value."""

    def __init__(self, environ: Mapping[str, str] | None = None):
        self._env = dict(os.environ if environ is None else environ)

    def get(self, env_name: str | None) -> str | None:
        if not env_name:
            return None
        value = self._env.get(env_name, "").strip()
        return value or None

    def values(self, config: Config) -> list[str]:
        """Every secret value in use, for redaction."""
        names = [s.api_key_env for _, s in config.sources.items()]
        names += [config.email.username_env, config.email.password_env, config.webhook.url_env]
        return [v for v in (self.get(n) for n in names) if v]

    def __repr__(self) -> str:
        return "Secrets(****)"


def disabled_sources(config: Config, secrets: Secrets) -> dict[str, str]:
    """Sources that cannot run, each with a message naming what to fix (never a value)."""
    out: dict[str, str] = {}
    for name, source in config.sources.items():
        if not source.enabled:
            out[name] = f"disabled in config (sources.{name}.enabled: false)"
        elif source.key_required and not secrets.get(source.api_key_env):
            out[name] = f"disabled: environment variable {source.api_key_env} is not set"
    return out


def render_config(config: Config, secrets: Secrets) -> str:
    """The resolved config as YAML with each secret shown as set/not set."""
    data = config.model_dump(mode="json")
    for name, source in config.sources.items():
        if source.api_key_env:
            data["sources"][name]["api_key"] = mask(secrets.get(source.api_key_env))
    for key in ("username_env", "password_env"):
        env = getattr(config.email, key)
        if env:
            data["email"][key.replace("_env", "")] = mask(secrets.get(env))
    data["webhook"]["url"] = mask(secrets.get(config.webhook.url_env))
    return yaml.safe_dump(data, sort_keys=False, default_flow_style=False)
