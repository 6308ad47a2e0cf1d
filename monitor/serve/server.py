"""The ASGI app (Starlette) and how it is run (uvicorn, in the foreground or in a daemon thread).

Every answer carries a Content-Security-Policy that allows this origin only and no inline script;
with a bearer token configured every request must present it.
"""

from __future__ import annotations

import hmac
import ipaddress
import logging
import threading
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from starlette.applications import Starlette
from starlette.datastructures import Headers
from starlette.responses import JSONResponse
from starlette.routing import Mount
from starlette.staticfiles import StaticFiles
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from monitor.errors import ConfigError
from monitor.serve import api, pages
from monitor.serve.dashboard import Dashboard

if TYPE_CHECKING:
    from monitor.app import App
    from monitor.config import Config, Secrets

log = logging.getLogger(__name__)
STATIC = Path(__file__).parent / "static"
CSP = ("default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; "
       "font-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'")
HEADERS = [(b"content-security-policy", CSP.encode()), (b"x-content-type-options", b"nosniff"),
           (b"referrer-policy", b"no-referrer"), (b"x-frame-options", b"DENY")]


class Guard:
    """Security headers on every answer; a bearer token checked first when one is configured."""

    def __init__(self, app: ASGIApp, token: str | None = None):
        self.app, self.token = app, token

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return await self.app(scope, receive, send)

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                message["headers"] = [*message.get("headers", []), *HEADERS]
            await send(message)

        if self.token is not None:
            given = Headers(scope=scope).get("authorization", "")
            if not hmac.compare_digest(given.encode(), f"Bearer {self.token}".encode()):
                denied = JSONResponse({"error": "a bearer token is required (Authorization: Bearer ...)"}, 401,
                                      headers={"WWW-Authenticate": "Bearer"})
                return await denied(scope, receive, send_with_headers)
        await self.app(scope, receive, send_with_headers)


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def bearer_token(config: Config, host: str, secrets: Secrets) -> str | None:
    """The token a non-loopback bind needs (from serve.auth_token_env); None on loopback without one."""
    env = config.serve.auth_token_env
    token = secrets.get(env) if env else None
    if is_loopback(host):
        return token or None
    if not env:
        raise ConfigError(f"serve: --host {host} is not loopback; set serve.auth_token_env to the NAME of an "
                          "environment variable holding a bearer token (e.g. DIVMON_SERVE_TOKEN)")
    if not token:
        raise ConfigError(f"serve: --host {host} is not loopback and environment variable {env} "
                          "(serve.auth_token_env) is not set")
    return token


def create_app(dashboard: Dashboard, *, token: str | None = None) -> Starlette:
    app = Starlette(routes=[*api.ROUTES, *pages.ROUTES, Mount("/static", StaticFiles(directory=STATIC), name="static")])
    app.state.dashboard = dashboard
    return Guard(app, token)  # type: ignore[return-value]


def make_server(dashboard: Dashboard, host: str, port: int, *, token: str | None = None) -> Any:
    import uvicorn

    config = uvicorn.Config(create_app(dashboard, token=token), host=host, port=port, log_level="warning",
                            access_log=False, lifespan="off", server_header=False)
    return uvicorn.Server(config)


def dashboard_for(app: App, at: datetime | None = None) -> Dashboard:
    """The App's config over a read-only view of its store (the App's own store is left alone)."""
    from monitor.app import App
    from monitor.serve.readonly import open_readonly

    cfg = app.config
    store = open_readonly(cfg.storage.url, busy_timeout_s=cfg.storage.busy_timeout_s)
    return Dashboard(App(cfg, secrets=app.secrets, store=store, now=app.now), at=at, refresh_s=cfg.serve.refresh_s)


def start_for(app: App, wait_s: float = 10.0) -> Any:
    """schedule.serve: the dashboard on serve.host:serve.port in a thread of `divmon run`."""
    import time

    cfg = app.config.serve
    token = bearer_token(app.config, cfg.host, app.secrets)
    server, thread = start_in_thread(dashboard_for(app), cfg.host, cfg.port, token=token)
    deadline = time.monotonic() + wait_s
    while not server.started and thread.is_alive() and time.monotonic() < deadline:
        time.sleep(0.05)
    if not server.started:
        server.should_exit = True
        raise ConfigError(f"serve: cannot listen on {cfg.host}:{cfg.port} (in use, or not an address of this machine)")
    log.info("dashboard on http://%s:%d/", cfg.host, cfg.port)
    return server


def start_in_thread(dashboard: Dashboard, host: str, port: int, *, token: str | None = None) -> tuple[Any, Any]:
    """For `divmon run` with schedule.serve: the dashboard beside the scheduler; stop with server.should_exit."""
    server = make_server(dashboard, host, port, token=token)  # off the main thread uvicorn leaves signals alone
    thread = threading.Thread(target=server.run, name="divmon-serve", daemon=True)
    thread.start()
    return server, thread
