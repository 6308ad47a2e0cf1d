"""`divmon demo` (the whole pipeline offline on the bundled recording) and `divmon record`."""

from __future__ import annotations

import argparse
import json
import sys

from monitor.errors import EXIT_SOURCE

TYPE_CHECKING = False  # typing.TYPE_CHECKING without importing typing
if TYPE_CHECKING:
    from monitor.demo.run import DemoResult


def run(args: argparse.Namespace) -> int:
    if args.command == "record":
        return _record(args)
    return _demo(args)


def _record(args: argparse.Namespace) -> int:
    from monitor.cli.common import poll_exit
    from monitor.config import Secrets, load_config
    from monitor.demo.record import record

    config = load_config(args.config)
    result = record(config, args.out, secrets=Secrets(), sources=args.source, tokens=args.token)
    for o in sorted(result.outcomes, key=lambda o: (o.source, o.token)):
        extra = f" ({o.message[:120]})" if o.message else ""
        print(f"{o.source:<12} {o.token:<10} {o.status:<11} rows={o.rows}{extra}")
    total = sum(result.entries.values())
    print(f"recorded {total} responses from {len(result.entries)} source(s) into {result.out}")
    print(f"replay with: divmon --replay {result.out} poll   (then: divmon --replay {result.out} report)")
    return poll_exit(result.outcomes)


def _demo(args: argparse.Namespace) -> int:
    from monitor.demo.run import run_demo

    result = run_demo(args.dir)
    if args.json:
        print(json.dumps(result.as_json(), indent=2, sort_keys=True))
    else:
        for line in result.lines():
            print(line)
    for problem in result.problems:
        print(f"demo: {problem}", file=sys.stderr)
    if getattr(args, "serve", False) and result.ok:
        _serve(result, args)
    return 0 if result.ok else EXIT_SOURCE


def _serve(result: DemoResult, args: argparse.Namespace) -> None:
    """The dashboard over the demo database, judged as of the recording's moment (its data ends there)."""
    from monitor.app import App
    from monitor.cli.serve import serve
    from monitor.demo.replay import frozen_clock
    from monitor.demo.run import demo_config
    from monitor.timeutil import to_utc

    at = to_utc(result.as_of)
    app = App(demo_config(result.dir), now=frozen_clock(at))
    try:
        serve(app, app.config.serve.host, args.port, at=at, quiet=args.quiet)
    finally:
        app.close()
