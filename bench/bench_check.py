"""`divmon check TOKEN --no-poll` as a subprocess on a 1,000-token store and a 1,000-token config
(bench/world.py), against references started the same way in the same run.

Target (issue 17): ≤ 0.3 s wall time per check, interpreter start-up and imports included (median of
runs). References, interleaved with the checks so drift hits all alike: ``python -c pass`` and a raw
sqlite3 read of the rows the check reads (the token's catalogue, then each series over the 37-day
lookback, and its poll runs of the last day) in a fresh interpreter. The note says how much of a check
is imports of pandas, numpy and SQLAlchemy (``python -X importtime``), which its judgement needs, and
how long the ``PRAGMA quick_check`` the store runs on opening a SQLite file takes on this store.

Full mode: every token with 40 days of history (~24M rows), 15 runs. Quick mode: the checked token
with 40 days, the 999 others with 2 days (~1M rows; the store's index and the config are as big as in
full mode, and a check reads one token), 7 runs.
"""

from __future__ import annotations

import json
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from bench import world
from bench.harness import ROOT, at_most, divmon_command, ratio_of, row

TARGET_S = 0.3
N_TOKENS = 1000
TOKEN = world.symbol(1)
LOOKBACK_S = 37 * 86400

RAW_READ = """
import sqlite3, sys
db, token, start, end = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
con = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
n = 0
for metric, source in con.execute("SELECT metric, source FROM series WHERE token = ?", (token,)).fetchall():
    n += len(con.execute("SELECT ts, value FROM observations WHERE token = ? AND metric = ? AND source = ? "
                         "AND ts >= ? AND ts <= ? ORDER BY ts", (token, metric, source, start, end)).fetchall())
n += len(con.execute("SELECT source, status, http_status, started_at, rows, endpoint FROM poll_runs "
                     "WHERE token IN (?, '*') AND started_at >= ? AND started_at <= ?",
                     (token, end - 86400, end)).fetchall())
print(n)
"""


def _interleaved(commands: dict[str, list[str]], runs: int, cwd: str) -> tuple[dict[str, list[float]], dict[str, str]]:
    times: dict[str, list[float]] = {k: [] for k in commands}
    last: dict[str, str] = {}
    for i in range(runs + 1):  # the first round warms the page cache and is not counted
        for key, argv in commands.items():
            t0 = time.perf_counter()
            out = subprocess.run(argv, capture_output=True, text=True, cwd=cwd, timeout=120, check=False,
                                 env={**os.environ, "PYTHONPATH": str(ROOT)})
            elapsed = time.perf_counter() - t0
            if out.returncode not in (0, 1, 2, 3):  # check's Nagios codes; the others exit 0
                raise RuntimeError(f"{key} exited {out.returncode}: {out.stderr[-1000:]}")
            if i:
                times[key].append(elapsed)
            last[key] = out.stdout
    return times, last


def _import_ms(argv: list[str], cwd: str) -> dict[str, float]:
    """Cumulative import time (ms) of the heavy top-level packages in one run of ``argv``."""
    out = subprocess.run([sys.executable, "-X", "importtime", *argv[1:]] if argv[0] == sys.executable else
                         [sys.executable, "-X", "importtime", *argv], capture_output=True, text=True, cwd=cwd,
                         timeout=120, env={**os.environ, "PYTHONPATH": str(ROOT)})
    found: dict[str, float] = {}
    for line in out.stderr.splitlines():
        m = re.match(r"import time:\s+\d+ \|\s+(\d+) \|\s+(\S+)$", line.rstrip())
        if m and m.group(2) in ("pandas", "numpy", "sqlalchemy"):  # cumulative: numpy's may sit inside pandas'
            found[m.group(2)] = max(found.get(m.group(2), 0.0), int(m.group(1)) / 1000)
    return found


def _quick_check_s(db: Path) -> float:
    """Seconds of the PRAGMA quick_check the store runs when a process opens a SQLite file (it reads the
    whole file), measured with sqlite3 on the warm file."""
    import sqlite3

    con = sqlite3.connect(db)
    t0 = time.perf_counter()
    con.execute("PRAGMA quick_check").fetchall()
    elapsed = time.perf_counter() - t0
    con.close()
    return elapsed


def run(quick: bool) -> list[dict[str, Any]]:
    runs = 7 if quick else 15
    prefix, how = divmon_command()
    with tempfile.TemporaryDirectory(prefix="divmon-check-") as tmp:
        db, cfg = Path(tmp) / "check.db", Path(tmp) / "config.yaml"
        t0 = time.perf_counter()
        rows = world.build(db, N_TOKENS, full=2 if quick else None)
        build_s = time.perf_counter() - t0
        cfg.write_text(world.config_yaml(db, N_TOKENS))
        check = [*prefix, "-q", "-c", str(cfg), "check", TOKEN, "--no-poll", "--at", str(world.NOW_S)]
        commands = {
            "python -c pass": [sys.executable, "-c", "pass"],
            "raw sqlite3 read": [sys.executable, "-c", RAW_READ, str(db), TOKEN, str(world.NOW_S - LOOKBACK_S),
                                 str(world.NOW_S)],
            "divmon check": check,
        }
        times, last = _interleaved(commands, runs, tmp)
        script = prefix[0] if Path(prefix[0]).name == "divmon" else None
        quick_check_s = _quick_check_s(db)
        size_mb = db.stat().st_size / 2**20
        imports = _import_ms(([sys.executable, script] if script else prefix) + check[len(prefix):], tmp)
    med = {k: statistics.median(v) for k, v in times.items()}
    ratio = ratio_of(med["divmon check"], med["raw sqlite3 read"])
    first_line = (last["divmon check"].splitlines() or [""])[0]
    load = " / ".join(f"{x:.2f}" for x in os.getloadavg())
    heavy = ", ".join(f"{k} {v:.0f} ms" for k, v in sorted(imports.items())) or "none"
    return [row(
        "divmon check --no-poll (1,000-token store and config)", med["divmon check"], unit="s",
        reference=med["raw sqlite3 read"], ratio=ratio, target=f"≤ {TARGET_S:g} s",
        passed=at_most(med["divmon check"] / TARGET_S, 1.0),
        note=f"{how}; reference: a raw sqlite3 read of the same {last['raw sqlite3 read'].strip()} rows in a fresh "
             f"interpreter; python -c pass {med['python -c pass'] * 1000:.0f} ms "
             f"(check = {med['divmon check'] / med['python -c pass']:.0f}×); imports in one check: {heavy}; the "
             f"store's PRAGMA quick_check on opening the {size_mb:.0f} MB file: {quick_check_s:.2f} s; "
             f"{rows:,} rows in the store ({'2 tokens with 40 days, the others 2 days' if quick else '40 days each'}; "
             f"built in {build_s:.0f} s); medians of {runs} (check {min(times['divmon check']):.2f}–"
             f"{max(times['divmon check']):.2f} s); load average {load}; '{first_line}'",
    )]


if __name__ == "__main__":  # pragma: no cover
    for item in run("--full" not in sys.argv):
        print(json.dumps(item, ensure_ascii=False))
