"""`divmon config check`."""

from __future__ import annotations

import argparse
import sys

from monitor.config import Secrets, disabled_sources, load_config, render_config


def run(args: argparse.Namespace) -> int:
    config = load_config(args.config)
    secrets = Secrets()
    sys.stdout.write(render_config(config, secrets))
    for name, why in disabled_sources(config, secrets).items():
        print(f"note: source {name} {why}", file=sys.stderr)
    print(f"config OK: {len(config.tokens)} token(s)", file=sys.stderr)
    return 0
