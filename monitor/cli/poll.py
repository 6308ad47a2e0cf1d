"""`divmon poll` and `divmon backfill`."""

from __future__ import annotations

import argparse
import sys

from monitor.cli.common import load_app, poll_exit

TYPE_CHECKING = False  # typing.TYPE_CHECKING without importing typing
if TYPE_CHECKING:
    from monitor.jobs.poll import PollOutcome


def run(args: argparse.Namespace) -> int:
    from monitor.jobs.poll import poll

    app = load_app(args)
    try:
        if args.command == "backfill":
            symbol = app.config.token(args.token).symbol
            show = not args.no_progress and sys.stderr.isatty()
            total = len(app.sources(args.source))
            done = []

            def progress(outcome: PollOutcome) -> None:
                done.append(outcome)
                if show:
                    bar = "#" * int(20 * len(done) / max(total, 1))
                    print(f"\r[{bar:<20}] {len(done)}/{total} {outcome.source}", end="", file=sys.stderr)

            outcomes = poll(app, sources=args.source, tokens=[symbol], since=args.since, progress=progress)
            if show:
                print(file=sys.stderr)
        else:
            outcomes = poll(app, sources=args.source, tokens=args.token)
    finally:
        app.close()
    for o in outcomes:
        extra = f" ({o.message[:120]})" if o.message else ""
        print(f"{o.source:<12} {o.token:<10} {o.status:<11} rows={o.rows} events={o.events}{extra}")
    return poll_exit(outcomes)
