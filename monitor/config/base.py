"""Shared pieces of the config models: the strict base, name patterns and the network policy."""

from __future__ import annotations

import re

from pydantic import BaseModel, ConfigDict

from monitor import netpolicy

ENV_NAME = re.compile(r"^[A-Z_][A-Z0-9_]*$")
ADDRESS = re.compile(r"^0x[0-9a-fA-F]{40}$")


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class NetworkConfig(Strict):
    allow_loopback: bool = False  # only for recorded replay, the demo and tests
    allow_plain_http: bool = False


def url_problem(url: str, network: NetworkConfig) -> str | None:
    """Why a base URL is refused under this network policy, or None (see monitor.netpolicy)."""
    return netpolicy.url_problem(url, allow_loopback=network.allow_loopback,
                                 allow_plain_http=network.allow_plain_http)
