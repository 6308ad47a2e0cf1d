"""The scenario upstream: one loopback server per source answering, from the scenario series, every
endpoint the real clients call (ccxt's market loading included). `build_data` records a poll against
it, so the bundled data is a real recording. Requests it cannot answer are logged and counted."""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from typing import Any
from urllib.parse import parse_qsl

from monitor.demo.server import _Server
from tools.demo_world.upstream_data import SOURCES
from tools.demo_world.upstream_venues import VENUES, Answer

log = logging.getLogger(__name__)

HANDLERS: dict[str, Callable[[str, dict[str, str], bytes], Answer | None]] = {**VENUES, **SOURCES}
# the path part of each source's base URL (what the clients put before their own paths)
BASE_PATHS = {"coingecko": "/api/v3", "etherscan": "/v2/api"}


class ScenarioUpstream(_Server):
    def __init__(self, name: str):
        super().__init__(name)
        self.handler = HANDLERS[name]
        self.unknown: list[str] = []
        self.requests = 0

    def respond(self, method: str, path: str, query: str, headers: dict[str, str], body: bytes):
        self.requests += 1
        q = dict(parse_qsl(query, keep_blank_values=True))
        try:
            answer = self.handler(path, q, body)
        except Exception:  # a broken scenario answer must show up in the build summary, not hang a client
            log.exception("scenario %s: failed on %s %s?%s", self.name, method, path, query)
            answer = None
        if answer is None:
            self.unknown.append(f"{method} {path}?{query}")
            log.warning("scenario %s: no answer for %s %s?%s", self.name, method, path, query)
            return 404, {"Content-Type": "application/json"}, b'{"error": "scenario has no such endpoint"}'
        status, out_headers, payload = answer
        data = payload.encode() if isinstance(payload, str) else json.dumps(payload, separators=(",", ":")).encode()
        return status, dict(out_headers), data


def start_upstreams(names: list[str]) -> dict[str, ScenarioUpstream]:
    servers = {n: ScenarioUpstream(n) for n in names}
    for s in servers.values():
        s.start()
    return servers


def base_urls(servers: dict[str, Any]) -> dict[str, str]:
    return {n: s.origin + BASE_PATHS.get(n, "") for n, s in servers.items()}
