"""Rebuild the bundled demo recording: ``python -m tools.demo_world.build_data [--out DIR]``.

Starts the scenario upstream on loopback, records one poll of the demo config against it through the
real clients (exactly what `divmon record` does against the real APIs), and replaces
monitor/demo/data with the result. Deterministic: the clock is frozen at scenarios.T, so a rebuild
gives the same files unless a client or a scenario changed.
"""

from __future__ import annotations

import argparse
import logging
import shutil
import sys
import tempfile
from datetime import timedelta
from pathlib import Path

from monitor.config import Secrets, parse_config
from monitor.demo.record import record
from monitor.demo.server import stop_all
from tools.demo_world.scenarios import SINCE_DAYS, T, demo_config
from tools.demo_world.upstream import base_urls, start_upstreams

log = logging.getLogger(__name__)

DATA_DIR = Path(__file__).resolve().parents[2] / "monitor" / "demo" / "data"
SOURCES = ["binance", "bybit", "okx", "gate", "coinglass", "coingecko", "defillama", "dune", "github", "etherscan",
           "chain"]
# placeholders, never real keys: they exist so the key-gated sources run while recording
BUILD_SECRETS = {"COINGLASS_API_KEY": "build-coinglass-key", "DUNE_API_KEY": "build-dune-key",
                 "ETHERSCAN_API_KEY": "build-etherscan-key"}


def available_sources() -> list[str]:
    """The sources whose module exists (a source still being written is left out, with a warning)."""
    from importlib.util import find_spec

    from monitor.app import SOURCE_MODULES

    out = []
    for name in SOURCES:
        if find_spec(SOURCE_MODULES[name]) is None:
            log.warning("source %s has no module yet (%s): not in the bundle", name, SOURCE_MODULES[name])
        else:
            out.append(name)
    return out


def build(out: Path = DATA_DIR) -> dict:
    names = available_sources()
    upstreams = start_upstreams(names)
    try:
        data = demo_config()
        data["network"] = {"allow_loopback": True}
        for name, url in base_urls(upstreams).items():
            data["sources"].setdefault(name, {})["base_url"] = url
        config = parse_config(data, origin="demo config")
        work = Path(tempfile.mkdtemp(prefix="divmon-build-"))
        rec_dir = work / "data"
        result = record(config, rec_dir, secrets=Secrets(BUILD_SECRETS), now=T, since=T - timedelta(days=SINCE_DAYS),
                        compress=True, sources=names, fast=True)
    finally:
        stop_all(upstreams)
    unknown = {n: s.unknown for n, s in upstreams.items() if s.unknown}
    if out.exists():
        shutil.rmtree(out)
    shutil.move(str(rec_dir), str(out))
    shutil.rmtree(work, ignore_errors=True)
    size = sum(p.stat().st_size for p in out.rglob("*") if p.is_file())
    return {"outcomes": result.outcomes, "entries": result.entries, "unknown": unknown, "bytes": size,
            "requests": {n: s.requests for n, s in upstreams.items()}}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tools.demo_world.build_data", description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=DATA_DIR, help=f"output directory (default: {DATA_DIR})")
    parser.add_argument("-v", "--verbose", action="store_true")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING,
                        format="%(levelname)s %(name)s: %(message)s")
    summary = build(args.out)
    for o in sorted(summary["outcomes"], key=lambda o: (o.source, o.token)):
        print(f"{o.source:<10} {o.token:<8} {o.status:<10} rows={o.rows:<6} events={o.events} {o.message[:100]}")
    print(f"entries: {summary['entries']}")
    print(f"upstream requests: {summary['requests']}")
    print(f"bundle: {summary['bytes'] / 1e6:.2f} MB in {args.out}")
    for name, reqs in summary["unknown"].items():
        print(f"UNANSWERED {name}: {len(reqs)} e.g. {reqs[:3]}", file=sys.stderr)
    return 1 if summary["unknown"] else 0


if __name__ == "__main__":
    sys.exit(main())
