"""`divmon report` and `divmon digest`."""

from __future__ import annotations

import argparse
import sys

from monitor.cli.common import load_app
from monitor.errors import EXIT_NOTIFY
from monitor.timeutil import to_utc

TYPE_CHECKING = False  # typing.TYPE_CHECKING without importing typing
if TYPE_CHECKING:
    from monitor.app import App


def run(args: argparse.Namespace) -> int:
    app = load_app(args)
    try:
        return _digest(app, args) if args.command == "digest" else _report(app, args)
    finally:
        app.close()


def _report(app: App, args: argparse.Namespace) -> int:
    from monitor.jobs.outputs import report_job

    tokens = [app.config.token(t).symbol for t in args.token] if args.token else None
    at = to_utc(args.at) if args.at else None
    out = args.out or None
    if out == "-":
        from monitor.jobs.outputs import chart_workers, make_report, render_report

        data = make_report(app, tokens=tokens, at=at, charts=args.format == "html")
        sys.stdout.write(render_report(data, args.format, chart_workers(app, len(data.tokens))))
        return 0
    for path in report_job(app, formats=[args.format], out=out, tokens=tokens, at=at):
        print(path)
    return 0


def _digest(app: App, args: argparse.Namespace) -> int:
    from monitor.jobs.digest import digest_job

    verdicts = None
    if args.send:
        from monitor.jobs.evaluate import evaluate_all

        verdicts = evaluate_all(app)  # flags must be current before the period's changes are listed
    outcomes = digest_job(app, send=args.send, out=args.out, verdicts=verdicts)
    for o in outcomes:
        print(f"{o.channel:<8} {o.period:<16} {o.status:<8} {o.detail}")
    if any(o.status in ("pending", "failed") for o in outcomes):
        return EXIT_NOTIFY
    return 0
