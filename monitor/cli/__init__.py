"""`divmon`: a thin shell over the Python API. Argument parsing only here; every command's module is
imported when that command runs, so `divmon --help` loads no pandas, ccxt, web3 or matplotlib."""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence

from monitor import __version__
from monitor.errors import EXIT_UNKNOWN, EXIT_USAGE, MonitorError

TYPE_CHECKING = False  # typing.TYPE_CHECKING without importing typing (type checkers read it as True)
if TYPE_CHECKING:
    from datetime import datetime
    from typing import Any, NoReturn

EPILOG = """exit codes: 0 OK, 1 WARNING, 2 CRITICAL, 3 UNKNOWN (check); 64 usage, 69 source unavailable,
74 storage, 75 notification, 78 configuration. Secrets come only from environment variables named
in the config (e.g. COINGLASS_API_KEY, DUNE_API_KEY, ETHERSCAN_API_KEY, GITHUB_TOKEN)."""

# command -> (module under monitor.cli, help)
COMMANDS = {
    "check": ("check", "judge one token now: verdict, flags with numbers, data freshness"),
    "poll": ("poll", "collect new data from the sources (incremental)"),
    "backfill": ("poll", "collect history for one token since a date"),
    "report": ("report", "write the divergence report (HTML, Markdown or JSON)"),
    "digest": ("report", "build the email/webhook digest; --send delivers it once per period"),
    "run": ("run", "run the scheduler daemon (polls, evaluations, reports, digests)"),
    "prune": ("prune", "apply storage.retention now: thin and drop old observations (the daemon does it daily)"),
    "demo": ("demo", "run the whole pipeline offline on bundled recorded data"),
    "record": ("demo", "save the raw responses of a poll for replay (keys stripped)"),
    "queries": ("queries", "manage the Dune queries kept in queries/"),
    "config": ("config_cmd", "check and show the configuration"),
    "serve": ("serve", "web dashboard and JSON API over the store (read-only, 127.0.0.1:8787)"),
}


class Parser(argparse.ArgumentParser):
    """argparse that exits 64 (EX_USAGE, as documented) on a usage error instead of its own 2, which
    Nagios would read as CRITICAL."""

    def error(self, message: str) -> NoReturn:
        self.print_usage(sys.stderr)
        self.exit(EXIT_USAGE, f"{self.prog}: error: {message}\n")

    def _get_formatter(self) -> argparse.HelpFormatter:
        # argparse builds a formatter for every add_argument and asks shutil (and its compression
        # imports) for the terminal size each time; the width it would get, found once
        # typeshed's _FormatterClass protocol names only prog; every HelpFormatter takes width
        return self.formatter_class(prog=self.prog, width=_width())  # type: ignore[call-arg]


_WIDTH: list[int] = []


def _width() -> int:
    """What argparse computes: shutil.get_terminal_size().columns - 2 ($COLUMNS, the terminal, else 80)."""
    if not _WIDTH:
        try:
            columns = int(os.environ.get("COLUMNS", 0))
        except ValueError:
            columns = 0
        if columns <= 0:
            try:
                columns = os.get_terminal_size(sys.__stdout__.fileno()).columns  # type: ignore[union-attr]
            except (AttributeError, ValueError, OSError):
                columns = 0
        _WIDTH.append((columns or 80) - 2)
    return _WIDTH[0]


def utc_time(text: str) -> datetime:
    """An argparse type: ISO-8601 (UTC unless an offset is given) or epoch seconds/milliseconds."""
    from monitor.timeutil import to_utc

    try:
        return to_utc(text)
    except (ValueError, OverflowError, OSError):
        raise argparse.ArgumentTypeError(f"{text!r} is not an ISO-8601 time or epoch, e.g. 2025-09-01") from None


def add_global_options(parser: argparse.ArgumentParser, *, top: bool) -> None:
    """The options every command takes. Under a command they default to SUPPRESS, so one given before the
    command is kept unless repeated after it; -v counts on both sides."""
    keep: dict[str, Any] = {} if top else {"default": argparse.SUPPRESS}
    group = parser.add_argument_group("global options")
    group.add_argument("-c", "--config", metavar="PATH", help="config file (default: $DIVMON_CONFIG or ./config.yaml)",
                       **keep)
    group.add_argument("--db", metavar="URL", help="storage URL overriding storage.url", **keep)
    group.add_argument("--replay", metavar="DIR", help="serve every source from a recording made by `divmon record`",
                       **keep)
    group.add_argument("-v", "--verbose", action="count", dest="verbose" if top else "verbose_after",
                       help="more logging (-vv for debug)", **({"default": 0} if top else keep))
    group.add_argument("-q", "--quiet", action="store_true", help="only errors on stderr",
                       **keep)


def build_parser() -> argparse.ArgumentParser:
    parser = Parser(
        prog="divmon",
        description="Is a token's derivatives activity backed by on-chain adoption or by leverage alone?",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"divmon {__version__}")
    add_global_options(parser, top=True)
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")

    p = sub.add_parser("check", help=COMMANDS["check"][1], description=COMMANDS["check"][1])
    p.add_argument("token", help="token symbol as configured, e.g. AIA")
    p.add_argument("--no-poll", action="store_true", help="judge the stored data without polling first")
    p.add_argument("--json", action="store_true", help="machine-readable output")
    p.add_argument("--at", metavar="TIME", type=utc_time, help="judge as of a past moment (ISO-8601, UTC)")
    p.add_argument("--nagios", action="store_true",
                   help="monitoring-plugin output (Nagios/Icinga): status line with performance data")

    p = sub.add_parser("poll", help=COMMANDS["poll"][1], description=COMMANDS["poll"][1])
    p.add_argument("--source", action="append", metavar="S", help="only this source (repeatable)")
    p.add_argument("--token", action="append", metavar="T", help="only this token (repeatable)")

    p = sub.add_parser("backfill", help=COMMANDS["backfill"][1], description=COMMANDS["backfill"][1])
    p.add_argument("token")
    p.add_argument("--since", required=True, metavar="DATE", type=utc_time, help="start date (ISO-8601, UTC)")
    p.add_argument("--source", action="append", metavar="S", help="only this source (repeatable)")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")

    p = sub.add_parser("report", help=COMMANDS["report"][1], description=COMMANDS["report"][1])
    p.add_argument("--format", choices=["html", "md", "json", "text"], default="html")
    p.add_argument("--out", metavar="PATH", help="output file (default: report.out_dir/divmon-report.<ext>)")
    p.add_argument("--token", action="append", metavar="T", help="only this token (repeatable)")
    p.add_argument("--at", metavar="TIME", type=utc_time, help="report as of a past moment (ISO-8601, UTC)")

    p = sub.add_parser("digest", help=COMMANDS["digest"][1], description=COMMANDS["digest"][1])
    p.add_argument("--send", action="store_true", help="deliver (otherwise write a preview file)")
    p.add_argument("--out", metavar="PATH", help="preview file (default: report.out_dir/digest-<period>.eml)")

    p = sub.add_parser("run", help=COMMANDS["run"][1], description=COMMANDS["run"][1])
    p.add_argument("--once", action="store_true", help="run one full cycle and exit (for cron)")

    sub.add_parser("prune", help=COMMANDS["prune"][1], description=COMMANDS["prune"][1])

    p = sub.add_parser("demo", help=COMMANDS["demo"][1], description=COMMANDS["demo"][1])
    p.add_argument("--dir", metavar="DIR", help="where to put the demo database and report (default: a temp dir)")
    p.add_argument("--json", action="store_true", help="print the verdicts as JSON")
    p.add_argument("--serve", action="store_true", help="then open the dashboard on the demo database "
                   "(http://127.0.0.1:8787/, Ctrl-C stops)")
    p.add_argument("--port", type=int, default=8787, metavar="N", help="dashboard port with --serve (default 8787)")

    p = sub.add_parser("record", help=COMMANDS["record"][1], description=COMMANDS["record"][1])
    p.add_argument("--out", required=True, metavar="DIR", help="directory for the recording")
    p.add_argument("--source", action="append", metavar="S")
    p.add_argument("--token", action="append", metavar="T")

    p = sub.add_parser("queries", help=COMMANDS["queries"][1], description=COMMANDS["queries"][1])
    qsub = p.add_subparsers(dest="action", metavar="ACTION", required=True)
    q = qsub.add_parser("sync", help="create or update the queries on Dune and record their ids")
    q.add_argument("--dir", metavar="DIR", help="folder of .sql files (default: sources.dune.queries_dir)")
    q = qsub.add_parser("list", help="list the bundled queries and their recorded Dune ids")
    q.add_argument("--dir", metavar="DIR", help="folder of .sql files (default: sources.dune.queries_dir)")

    p = sub.add_parser("serve", help=COMMANDS["serve"][1], description=COMMANDS["serve"][1])
    p.add_argument("--host", metavar="ADDR", help="address to bind (default: serve.host, 127.0.0.1); beyond "
                   "loopback serve.auth_token_env must name a bearer token")
    p.add_argument("--port", type=int, metavar="N", help="port (default: serve.port, 8787)")
    p.add_argument("--at", metavar="TIME", type=utc_time, help="judge as of a past moment (ISO-8601, UTC)")

    p = sub.add_parser("config", help=COMMANDS["config"][1], description=COMMANDS["config"][1])
    csub = p.add_subparsers(dest="action", metavar="ACTION", required=True)
    csub.add_parser("check", help="validate the config; print it resolved, secrets masked")
    _add_to_commands(parser)
    return parser


def _add_to_commands(parser: argparse.ArgumentParser) -> None:
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for sub in action.choices.values():
                add_global_options(sub, top=False)
                _add_to_commands(sub)


def setup_logging(verbose: int, quiet: bool) -> None:
    import logging  # not at module level: `divmon --help` should not pay for it

    level = logging.ERROR if quiet else (logging.WARNING, logging.INFO, logging.DEBUG)[min(verbose, 2)]
    logging.basicConfig(level=level, format="%(asctime)s %(levelname)s %(name)s: %(message)s", stream=sys.stderr)
    from monitor.sources.redact import LibraryLogFilter

    # on the handler, so every record of every logger (urllib3, ccxt, web3, record's proxy) is masked
    for handler in logging.getLogger().handlers:
        if not any(isinstance(f, LibraryLogFilter) for f in handler.filters):
            handler.addFilter(LibraryLogFilter())


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:  # usage error (64) or --help (0): returned, as every other outcome of main()
        return int(exc.code or 0)
    if not args.command:
        parser.print_help()
        return EXIT_USAGE
    args.verbose += getattr(args, "verbose_after", 0)
    setup_logging(args.verbose, args.quiet)
    import importlib

    module = importlib.import_module(f"monitor.cli.{COMMANDS[args.command][0]}")
    try:
        return int(module.run(args) or 0)
    except MonitorError as exc:
        print(f"divmon: error: {exc}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        print("divmon: interrupted", file=sys.stderr)
        return 130
    except Exception as exc:  # the boundary: a traceback only with -vv
        if args.verbose >= 2 or os.environ.get("DIVMON_DEBUG"):
            raise
        print(f"divmon: internal error: {type(exc).__name__}: {exc} (rerun with -vv for details)", file=sys.stderr)
        return EXIT_UNKNOWN


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
