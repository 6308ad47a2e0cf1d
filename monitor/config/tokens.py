"""What is watched per token: venue symbols, chains and contracts, repos, migrations."""

from __future__ import annotations

import re
from typing import Any

from pydantic import Field, field_validator

from monitor.config.base import ADDRESS, Strict
from monitor.config.types import PerpSymbol, SpotSymbol, UtcDate


class VenueSymbols(Strict):
    perp: PerpSymbol | None = None  # ccxt unified symbol, e.g. AIA/USDT:USDT
    spot: SpotSymbol | None = None  # e.g. AIA/USDT


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
            if not ADDRESS.match(addr):
                raise ValueError(f"{addr!r} is not a 0x-prefixed 20-byte hex address")
        return v.lower() if isinstance(v, str) else [a.lower() for a in v]


class Migration(Strict):
    """A token migration known from announcements; it becomes a `token_migration` event."""

    id: str
    ts: UtcDate
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
