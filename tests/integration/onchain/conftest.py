"""An App wired to one loopback server for the on-chain sources (the others disabled)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from monitor.app import App
from monitor.config import Secrets, parse_config
from monitor.store import Store

NOW = datetime(2026, 11, 20, 0, 0, tzinfo=UTC)
TOKEN_ADDR = "0x" + "11" * 20
PROXY = "0x" + "aa" * 20
OWNED = "0x" + "bb" * 20
DEPLOYER = "0x" + "dd" * 20
IMPL_V1 = "0x" + "01" * 20
IMPL_V2 = "0x" + "02" * 20
ETHERSCAN_KEY = "SECRETKEY123456789"
DUNE_KEY = "DUNEKEY987654321"
OTHERS = ("binance", "bybit", "okx", "gate", "bitget", "hyperliquid", "coinglass", "coingecko")


def token_config(**extra: Any) -> dict[str, Any]:
    token = {
        "symbol": "AIA",
        "defillama_slug": "deagentai",
        "github_repos": ["DeAgentAI/core"],
        "chains": [{"chain": "ethereum", "chain_id": 1, "token_address": TOKEN_ADDR, "proxies": [PROXY],
                    "owned": [OWNED], "deployers": [DEPLOYER]}],
        "migrations": [{"id": "v2", "ts": "2026-11-15T00:00:00Z", "old_address": "0x" + "33" * 20,
                        "new_address": TOKEN_ADDR, "note": "v1 to v2 swap"}],
    }
    token.update(extra)
    return token


def build_app(httpserver: Any, db_url: str, *, sources: dict[str, dict[str, Any]] | None = None,
              token: dict[str, Any] | None = None, env: dict[str, str] | None = None,
              factories: dict[str, Any] | None = None, cache_dir: Any = None) -> App:
    base = httpserver.url_for("").rstrip("/")
    cfg_sources: dict[str, Any] = {name: {"enabled": False} for name in OTHERS}
    cfg_sources.update({
        "defillama": {"base_url": base + "/llama", "max_retries": 1, "rate_limit_per_s": 1000},
        "dune": {"base_url": base + "/dune", "poll_every_s": 0.01, "execution_deadline_s": 5, "rate_limit_per_s": 1000},
        "github": {"base_url": base + "/gh", "stats_wait_s": 0.0, "stats_attempts": 3, "max_retries": 1,
                   "rate_limit_per_s": 1000},
        "etherscan": {"base_url": base + "/v2/api", "rate_limit_per_s": 1000, "rate_limit_wait_s": 0.01,
                      "max_retries": 2},
        "chain": {"base_url": base + "/rpc", "rate_limit_per_s": 1000, "confirmations": 12,
                  "max_block_range": 20_000, "lookback": "34d", "max_results": 1000},
    })
    for name, values in (sources or {}).items():
        cfg_sources[name] = {**cfg_sources.get(name, {}), **values}
    config = parse_config({
        "network": {"allow_loopback": True},
        "tokens": [token or token_config()],
        "sources": cfg_sources,
    })
    secrets = Secrets({"ETHERSCAN_API_KEY": ETHERSCAN_KEY, "DUNE_API_KEY": DUNE_KEY} if env is None else env)
    return App(config, store=Store(db_url), secrets=secrets, now=lambda: NOW, factories=factories,
               cache_dir=cache_dir)


@pytest.fixture
def make_app(httpserver, sqlite_url, tmp_path):
    apps: list[App] = []

    def make(**kwargs: Any) -> App:
        kwargs.setdefault("cache_dir", tmp_path / "cache")
        app = build_app(httpserver, sqlite_url, **kwargs)
        apps.append(app)
        return app

    yield make
    for app in apps:
        app.close()
