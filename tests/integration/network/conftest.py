"""Apps whose sources all point at loopback fault servers, built the way the CLI builds them."""

from __future__ import annotations

import socket
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from monitor.app import App
from monitor.config import Secrets, parse_config
from tests.faults.canary import CANARIES
from tests.faults.faultserver import FaultServer, serving


@pytest.fixture
def servers() -> Iterator[Callable[..., FaultServer]]:
    yield from serving(lifetime_s=8.0)


@pytest.fixture
def make_app(monkeypatch, tmp_path) -> Callable[..., App]:
    """App(config) with every source that talks HTTP pointed at ``base`` (small deadlines)."""
    monkeypatch.setenv("DUNE_API_KEY", CANARIES["DUNE_API_KEY"])
    monkeypatch.setenv("ETHERSCAN_API_KEY", CANARIES["ETHERSCAN_API_KEY"])

    def build(base: str, *, network: dict | None = None, **limits: Any) -> App:
        base = base.rstrip("/")
        common = {"deadline_s": 1.5, "read_timeout_s": 1.0, "connect_timeout_s": 0.5, "max_retries": 0, **limits}
        config = parse_config({
            "network": network or {"allow_loopback": True},
            "sources": {
                "binance": {"base_url": base, "ccxt_id": "binanceusdm", **common},
                "chain": {"base_url": base + "/rpc", **common},
                "dune": {"base_url": base, **common},
                "etherscan": {"base_url": base + "/v2/api", **common},
            },
        })
        return App(config, secrets=Secrets(), cache_dir=tmp_path / "cache")

    return build


@pytest.fixture
def resolve_as(monkeypatch) -> Callable[[str, str], None]:
    """A test resolver: ``resolve_as(name, address)`` makes ``name`` resolve to ``address``."""
    real = socket.getaddrinfo
    table: dict[str, str] = {}

    def fake(host, port, *args, **kwargs):
        if isinstance(host, str) and host in table:
            return real(table[host], port, *args, **kwargs) if table[host].startswith("127.") else [
                (socket.AF_INET6, socket.SOCK_STREAM, 6, "", (table[host], port or 0, 0, 0))]
        return real(host, port, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", fake)
    return table.__setitem__
