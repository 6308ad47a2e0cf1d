"""Configuration: pydantic models over config.yaml, loaded with YAML safe loading only.

Secrets never live in the file: a source names the env var that holds its key (``api_key_env``) and
``Secrets`` reads it at start-up. Every problem is reported at once with its YAML path.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml
from pydantic import Field, PrivateAttr, ValidationError, model_validator

from monitor.config.base import ADDRESS, ENV_NAME, NetworkConfig, Strict, url_problem
from monitor.config.outputs import (
    DigestConfig,
    EmailConfig,
    ReportConfig,
    ScheduleConfig,
    ServeConfig,
    StorageConfig,
    WebhookConfig,
)
from monitor.config.paths import resolve_paths
from monitor.config.sources import (
    SOURCE_DEFAULTS,
    ChainConfig,
    CoinGlassConfig,
    DefiLlamaConfig,
    DuneConfig,
    EtherscanConfig,
    GitHubConfig,
    SourceConfig,
    SourcesConfig,
    VenueConfig,
)
from monitor.config.thresholds import SignalsConfig, VerdictConfig
from monitor.config.tokens import ChainWatch, Migration, TokenConfig, VenueSymbols
from monitor.errors import ConfigError

ENV_CONFIG = "DIVMON_CONFIG"
# libyaml's safe loader when PyYAML was built with it: the same documents, ~5x faster than pure Python
SAFE_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)

__all__ = [
    "ADDRESS", "ENV_CONFIG", "ENV_NAME", "SOURCE_DEFAULTS", "ChainConfig", "ChainWatch", "CoinGlassConfig", "Config",
    "DefiLlamaConfig", "DuneConfig", "EmailConfig", "EtherscanConfig", "GitHubConfig", "Migration", "NetworkConfig",
    "ReportConfig", "ScheduleConfig", "Secrets", "ServeConfig", "SignalsConfig", "SourceConfig", "SourcesConfig", "StorageConfig",
    "Strict", "TokenConfig", "VenueConfig", "VenueSymbols", "VerdictConfig", "WebhookConfig", "disabled_sources",
    "find_config", "load_config", "mask", "parse_config", "render_config", "url_problem",
]


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
    digest: DigestConfig = DigestConfig()
    serve: ServeConfig = ServeConfig()
    _token_index: tuple[list[TokenConfig], dict[str, TokenConfig]] | None = PrivateAttr(default=None)

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
        index = self._token_index
        if index is None or index[0] is not self.tokens:  # built once per token list (a copy may swap it)
            index = self._token_index = (self.tokens, {t.symbol: t for t in self.tokens})
        found = index[1].get(symbol.upper())
        if found is not None:
            return found
        known = ", ".join(t.symbol for t in self.tokens) or "none"
        raise ConfigError(f"token {symbol!r} is not configured (configured: {known})")


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


def find_config(path: str | os.PathLike[str] | None = None) -> Path | None:
    """The config file to read: ``path``, else $DIVMON_CONFIG, else ./config.yaml if there is one."""
    if path is None:
        path = os.environ.get(ENV_CONFIG) or ("config.yaml" if Path("config.yaml").is_file() else None)
    return None if path is None else Path(path)


def load_config(path: str | os.PathLike[str] | None = None) -> Config:
    """Read a YAML config (safe loading); with no path, $DIVMON_CONFIG, then ./config.yaml, else the
    embedded defaults (no tokens, SQLite file divmon.db in the current folder). Relative paths in a
    file are relative to the file's folder."""
    path = find_config(path)
    if path is None:
        return Config()
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise ConfigError(f"cannot read config file {path}: {exc.strerror}") from None
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = raw[:exc.start].count(b"\n") + 1
        raise ConfigError(f"{path}: not UTF-8 text (byte 0x{raw[exc.start]:02x} at line {line}); "
                          "save the file as UTF-8") from None
    try:
        data = yaml.load(text, Loader=SAFE_LOADER)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        raise ConfigError(f"{path}: not valid YAML{where}: {problem}") from None
    except ValueError as exc:  # YAML's own scalars, e.g. an unquoted 2025-02-30 timestamp
        raise ConfigError(f"{path}: not valid YAML: {exc}") from None
    return resolve_paths(parse_config(data, origin=str(path)), path.resolve().parent)


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
        names += [config.email.username_env, config.email.password_env, config.webhook.url_env,
                  config.serve.auth_token_env]
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
    if config.serve.auth_token_env:
        data["serve"]["auth_token"] = mask(secrets.get(config.serve.auth_token_env))
    return yaml.safe_dump(data, sort_keys=False, default_flow_style=False)
