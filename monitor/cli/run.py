"""`divmon run`: the scheduler daemon, or one full cycle with --once."""

from __future__ import annotations

import argparse
import logging
import os
import sys

from monitor.cli.common import load_app


def run(args: argparse.Namespace) -> int:
    from monitor.scheduler import Daemon

    app = load_app(args)  # also scrubs the app's secrets from every log record
    app.warn_disabled()  # the daemon runs every source: name the keys that keep some from running
    daemon = Daemon(app)
    if args.once:
        try:
            return daemon.run_once()
        finally:
            app.close()
    daemon.install_signals()
    code, finished = daemon.run_forever(grace_s=float(app.config.schedule.shutdown_grace_s))
    if not finished:  # a job thread is stuck mid-request: leave without waiting for it
        logging.shutdown()
        sys.stderr.flush()
        os._exit(code or 0)
    app.close()
    return code
