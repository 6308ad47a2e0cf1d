"""`divmon serve`: the dashboard and JSON API over the store, read-only, on 127.0.0.1 by default."""

from __future__ import annotations

import argparse
import sys
from typing import Any

from monitor.errors import ConfigError


def run(args: argparse.Namespace) -> int:
    from monitor.cli.common import load_app

    app = load_app(args)
    host = args.host or app.config.serve.host
    port = app.config.serve.port if args.port is None else args.port
    try:
        serve(app, host, port, at=args.at, quiet=args.quiet)
    finally:
        app.close()
    return 0


def serve(app: Any, host: str, port: int, *, at: Any = None, quiet: bool = False) -> None:
    """Open the store read-only and answer on host:port until interrupted."""
    try:
        from monitor.serve.server import bearer_token, dashboard_for, is_loopback, make_server
    except ImportError as exc:  # starlette/uvicorn are the optional `serve` extra
        raise ConfigError(f"divmon serve needs its web stack ({exc.name}): pip install 'divergence-monitor[serve]'"
                          ) from None
    token = bearer_token(app.config, host, app.secrets)  # before anything listens
    server = make_server(dashboard_for(app, at), host, port, token=token)
    if not quiet:
        where = f"[{host}]" if ":" in host else host
        print(f"divmon serve: http://{where}:{port}/  (read-only; Ctrl-C stops)", file=sys.stderr)
        if not is_loopback(host):
            print(f"divmon serve: listening beyond loopback on {host}: every request needs "
                  f"'Authorization: Bearer' with the token in ${app.config.serve.auth_token_env}", file=sys.stderr)
    try:
        server.run()
    except SystemExit:  # uvicorn exits 1 when it cannot bind, after logging why
        raise ConfigError(f"serve: cannot listen on {host}:{port} (in use, or not an address of this machine)"
                          ) from None
