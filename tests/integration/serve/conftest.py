"""A real SQLite store with a few tokens (one named with markup from fault row R1), served by the real
uvicorn server on a loopback port, over a read-only view of the store."""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests

pytest.importorskip("starlette", reason="the `serve` extra (starlette, uvicorn) is not installed")

from monitor.app import App
from monitor.config import Secrets, parse_config
from monitor.model import Event, PollRun
from tests.integration.outputs.helpers import T0, config_dict, fire, free_port, make_app, seed_series

HOSTILE = "<IMG SRC=X ONERROR=ALERT(1)>"  # upper case: unconfigured symbols are judged upper-cased
NOTE = "<img src=x onerror=alert(1)>"


def seed(app: App) -> None:
    seed_series(app, "SURGE", hours=24 * 40)
    seed_series(app, "CALM", hours=24 * 10)
    seed_series(app, HOSTILE, hours=48)
    fire(app, "SURGE", "oi_surge_unsupported", at=T0 - dt.timedelta(days=2))
    fire(app, "SURGE", "oi_surge_unsupported", "crowded_longs", at=T0 - dt.timedelta(days=1))
    fire(app, "SURGE", "crowded_longs", at=T0)  # oi_surge_unsupported resolves here
    app.store.upsert_events([
        Event(T0 - dt.timedelta(days=3), "SURGE", "ethereum", "proxy_upgraded", "0x" + "ab" * 20, "0x" + "cd" * 32, 1,
              block=100, detail={"note": NOTE}, source="chain"),
    ])
    app.store.record_poll_runs([
        # in the order they finished: the newest recorded run is the dashboard's "last poll"
        PollRun("defillama", "SURGE", T0 - dt.timedelta(minutes=9), T0 - dt.timedelta(minutes=9), "empty", 200),
        PollRun("dune", "SURGE", T0 - dt.timedelta(minutes=8), T0 - dt.timedelta(minutes=8), "partial", 200),
        PollRun("binance", "SURGE", T0 - dt.timedelta(minutes=5), T0 - dt.timedelta(minutes=5), "ok", 200,
                latency_ms=120.0, rows=10),
        PollRun("okx", "SURGE", T0 - dt.timedelta(minutes=4), T0 - dt.timedelta(minutes=4), "throttled", 429,
                latency_ms=40.0),
        PollRun("okx", "SURGE", T0 - dt.timedelta(minutes=3), T0 - dt.timedelta(minutes=3), "banned", 418),
    ])


@pytest.fixture
def db(tmp_path: Path) -> str:
    url = f"sqlite:///{tmp_path / 'divmon.db'}"
    app = make_app(url, tmp_path)
    seed(app)
    app.close()
    return url


class Running:
    def __init__(self, server: Any, thread: Any, port: int, dashboard: Any):
        self.server, self.thread, self.port, self.dashboard = server, thread, port, dashboard
        self.base = f"http://127.0.0.1:{port}"

    def get(self, path: str, **kw: Any) -> requests.Response:
        return requests.get(self.base + path, timeout=30, **kw)


def start(url: str, tmp_path: Path, *, at: dt.datetime | None = T0, token_env: str | None = None,
          secrets: dict[str, str] | None = None, tokens: list[str] | None = None) -> Running:
    from monitor.serve.server import bearer_token, dashboard_for, start_in_thread

    data = config_dict(url, tmp_path)
    data["tokens"] = [{"symbol": t} for t in tokens or []]
    if token_env:
        data["serve"] = {"auth_token_env": token_env}
    app = App(parse_config(data), secrets=Secrets(secrets or {}), now=lambda: T0)
    board = dashboard_for(app, at)
    port = free_port()
    server, thread = start_in_thread(board, "127.0.0.1", port, token=bearer_token(app.config, "127.0.0.1",
                                                                                   app.secrets))
    deadline = time.monotonic() + 20
    while not server.started and time.monotonic() < deadline:
        time.sleep(0.02)
    assert server.started, "uvicorn did not start"
    return Running(server, thread, port, board)


def stop(running: Running) -> None:
    running.server.should_exit = True
    running.thread.join(10)
    running.dashboard.app.store.close()


@pytest.fixture
def served(db: str, tmp_path: Path) -> Iterator[Running]:
    running = start(db, tmp_path)
    yield running
    stop(running)
