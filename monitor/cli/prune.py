"""`divmon prune`: apply storage.retention now (the daemon does it daily)."""

from __future__ import annotations

import argparse

from monitor.cli.common import load_app


def run(args: argparse.Namespace) -> int:
    from monitor.jobs.prune import prune

    app = load_app(args)
    try:
        deleted = prune(app)
    finally:
        app.close()
    rules = app.config.storage.retention
    print(f"{deleted} observation(s) pruned (storage.retention: hourly {rules.hourly}, daily {rules.daily})")
    return 0
