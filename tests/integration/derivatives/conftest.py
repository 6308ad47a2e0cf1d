"""Fixtures for the venue tests: a loopback server with routes, and an App pointed at it."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import pytest
from werkzeug import Request, Response

from monitor.app import App
from monitor.config import Secrets, parse_config
from monitor.store import Store

NOW = datetime(2026, 11, 26, 12, 0, tzinfo=UTC)
NOW_MS = int(NOW.timestamp() * 1000)
H = 3_600_000
D = 86_400_000
ALL_VENUES = ("binance", "bybit", "okx", "gate", "bitget", "hyperliquid")


class Routes:
    """path -> handler(request) returning a JSON-able body, or a werkzeug Response; records every hit."""

    def __init__(self, httpserver: Any):
        self.server = httpserver
        self.hits: list[tuple[float, str, dict[str, str]]] = []
        self.handlers: dict[str, Callable[[Request], Any]] = {}
        httpserver.expect_request(__import__("re").compile(".*")).respond_with_handler(self._dispatch)

    def add(self, path: str, handler: Callable[[Request], Any] | Any) -> None:
        constant = isinstance(handler, Response) or not callable(handler)
        self.handlers[path] = (lambda _req, body=handler: body) if constant else handler

    def count(self, path: str) -> int:
        return sum(1 for _, p, _ in self.hits if p == path)

    def _dispatch(self, request: Request) -> Response:
        import time

        args = dict(request.args)
        if request.method == "POST" and request.data:
            args.update({f"body.{k}": v for k, v in json.loads(request.data).items() if isinstance(v, str)})
        self.hits.append((time.monotonic(), request.path, args))
        handler = self.handlers.get(request.path)
        if handler is None:
            return Response(json.dumps({"code": -1, "msg": f"no route {request.path}"}), 404,
                            content_type="application/json")
        out = handler(request)
        if isinstance(out, Response):
            return out
        return Response(json.dumps(out), 200, content_type="application/json")


def json_response(body: Any, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    return Response(json.dumps(body), status, headers=headers or {}, content_type="application/json")


@pytest.fixture
def routes(httpserver: Any) -> Routes:
    return Routes(httpserver)


def venue_token(venues: dict[str, dict[str, str]], symbol: str = "AIA") -> dict[str, Any]:
    return {"symbol": symbol, "venues": venues}


@pytest.fixture
def make_app(httpserver: Any, tmp_path: Any, sqlite_url: str) -> Callable[..., App]:
    def build(tokens: list[dict[str, Any]], sources: dict[str, dict[str, Any]] | None = None,
              secrets: dict[str, str] | None = None, now: datetime = NOW) -> App:
        base = httpserver.url_for("").rstrip("/")
        srcs: dict[str, Any] = {name: {"enabled": False} for name in (
            *ALL_VENUES, "coinglass", "coingecko", "defillama", "dune", "github", "etherscan", "chain")}
        for name, extra in (sources or {}).items():
            srcs[name] = {"enabled": True, "base_url": base, "deadline_s": 10, "max_retries": 3, **extra}
        cfg = parse_config({"network": {"allow_loopback": True}, "tokens": tokens, "sources": srcs})
        return App(cfg, store=Store(sqlite_url), secrets=Secrets(secrets or {}), now=lambda: now,
                   cache_dir=tmp_path / "cache")

    return build


def series(app: App, token: str, metric: str, source: str) -> list[tuple[int, float]]:
    frame = app.store.read_series(token, [metric], sources=[source])
    return [(int(ts.timestamp() * 1000), float(v)) for ts, v in zip(frame["ts"], frame["value"], strict=True)]
