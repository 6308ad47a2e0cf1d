"""CLI start-up: `divmon --help` and `divmon check --help` against `python -c pass`.

Target (issue 17; issue 8 had 3×): each ≤ 2× `python -c pass`, both started as subprocesses by the same interpreter,
median of ≥ 10 runs (quick: 10 after 1 warm-up, full: 30 after 2), runs interleaved so drift hits all
three alike.

The CLI is started through the console script next to sys.executable when it is installed there;
otherwise through `python -c "import sys; from monitor.cli import main; sys.exit(main())"` for both
commands (monitor.cli has no __main__). The note of each row says which. Every command runs with this
checkout first on PYTHONPATH, so an installed (non-editable) copy cannot stand in for the code measured.
"""

from __future__ import annotations

import sys
from typing import Any

from bench.harness import _child_env, at_most, divmon_command, ratio_of, row, time_commands

LIMIT = 2.0


def run(quick: bool) -> list[dict[str, Any]]:
    repeat, warmup = (10, 1) if quick else (30, 2)
    prefix, how = divmon_command()
    commands = {
        "python -c pass": [sys.executable, "-c", "pass"],
        "divmon --help": [*prefix, "--help"],
        "divmon check --help": [*prefix, "check", "--help"],
    }
    timings = time_commands(commands, repeat, warmup=warmup, env=_child_env())
    base = timings["python -c pass"]
    rows = []
    for name in ("divmon --help", "divmon check --help"):
        t = timings[name]
        ratio = ratio_of(t.median, base.median)
        rows.append(row(
            f"CLI start: {name}", t.median * 1000, unit="ms", reference=base.median * 1000, ratio=ratio,
            target=f"≤ {LIMIT:g}× python -c pass", passed=at_most(ratio, LIMIT),
            note=f"{how}; {t.describe()}",
        ))
    return rows
