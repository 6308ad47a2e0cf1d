"""Judging at scale: ``evaluate_all`` "now" over N realistic tokens (bench/world.py: 4 venues × 6 hourly
metrics, daily CoinGecko, DefiLlama and Dune series, 40 days, a day and a half of poll history) in a
SQLite file, reads included, against DuckDB window SQL over the same rows.

Targets (issue 17): evaluate_all ≤ 5 s for 1,000 tokens; ≤ 0.5× DuckDB window SQL on the same lookback
measured in the same run; peak RSS of the whole process tree (worker processes included) ≤ 1 GB.
Full mode: 1,000 tokens (~24M rows). Quick mode: 50 tokens (~1.2M rows): large enough that per-token
work, not start-up, is what both sides spend; the note says the size.

Same work on both sides: DuckDB reads the same observations (a Parquet export of the SQLite table, made
with python's sqlite3 in chunks; ``INSTALL sqlite`` needs the internet) restricted to the same 37-day
lookback, computes per series (token, metric, source) the 7- and 3-day as-of starts, 30-day mean and
standard deviation, sums the venues' latest OI per token and applies the OI-surge-without-on-chain rule.
It has no RSI, health, funding normalisation or the other rules; ours computes all of them. DuckDB gets
as many threads as evaluate_all uses processes (signals.workers once there are signals.parallel_min_tokens
tokens, else one). Peak RSS is sampled with psutil over the child's process tree (harness.run_tree).
"""

from __future__ import annotations

import json
import os
import sqlite3
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from bench import world
from bench.harness import at_most, ratio_of, row, run_tree

NOW_S = world.NOW_S
LOOKBACK_S = 37 * 86400
TARGET_S_PER_1000 = 5.0
RSS_TARGET_MB = 1024
VS_DUCKDB = 0.5


def export_parquet(db: Path, out: Path, chunk: int = 2_000_000) -> float:
    import duckdb
    import pandas as pd

    t0 = time.perf_counter()
    duck = duckdb.connect()
    duck.execute("CREATE TABLE obs (token VARCHAR, metric VARCHAR, source VARCHAR, ts BIGINT, value DOUBLE)")
    con = sqlite3.connect(db)
    cur = con.execute("SELECT token, metric, source, ts, value FROM observations")
    while True:
        rows = cur.fetchmany(chunk)
        if not rows:
            break
        frame = pd.DataFrame.from_records(rows, columns=["token", "metric", "source", "ts", "value"])
        duck.register("chunk", frame)
        duck.execute("INSERT INTO obs SELECT * FROM chunk")
        duck.unregister("chunk")
    con.close()
    duck.execute(f"COPY obs TO '{out}' (FORMAT parquet)")
    duck.close()
    return time.perf_counter() - t0


OURS = """
import json, sys, time
from monitor.app import App
from monitor.config import load_config
from monitor.jobs.evaluate import _workers, evaluate_all
from monitor.timeutil import from_epoch
app = App(load_config(sys.argv[1]))
import monitor.signals, monitor.signals.verdict  # imports and opening the store are not the comparison
app.store
t0 = time.perf_counter()
verdicts = evaluate_all(app, at=from_epoch(int(sys.argv[2])))
dt = time.perf_counter() - t0
surge = sorted(v.token for v in verdicts if any(f.rule == "oi_surge_unsupported" for f in v.flags))
print(json.dumps({"seconds": dt, "tokens": len(verdicts), "surge": surge,
                  "processes": _workers(app, len(verdicts))}))
"""

DUCK = """
import json, sys, time
import duckdb
path, now, lookback, threads = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
venues = "('binance', 'bybit', 'gate', 'okx')"
sql = f'''
WITH base AS (SELECT token, metric, source, ts, value FROM read_parquet('{path}')
              WHERE ts >= {now - lookback} AND ts <= {now}),
w AS (
  SELECT token, metric, source, ts, value,
    first_value(value) OVER (PARTITION BY token, metric, source ORDER BY ts RANGE BETWEEN 604800 PRECEDING AND CURRENT ROW) v7,
    first_value(value) OVER (PARTITION BY token, metric, source ORDER BY ts RANGE BETWEEN 259200 PRECEDING AND CURRENT ROW) v3,
    avg(value) OVER (PARTITION BY token, metric, source ORDER BY ts RANGE BETWEEN 2592000 PRECEDING AND CURRENT ROW) m30,
    stddev_samp(value) OVER (PARTITION BY token, metric, source ORDER BY ts RANGE BETWEEN 2592000 PRECEDING AND CURRENT ROW) s30,
    row_number() OVER (PARTITION BY token, metric, source ORDER BY ts DESC) rn
  FROM base),
latest AS (SELECT * FROM w WHERE rn = 1),
per_token AS (
  SELECT token,
    sum(CASE WHEN metric = 'oi_usd' AND source IN {venues} THEN value END) oi,
    sum(CASE WHEN metric = 'oi_usd' AND source IN {venues} THEN v7 END) oi_v7,
    sum(CASE WHEN metric = 'oi_usd' AND source IN {venues} THEN v3 END) oi_v3,
    max(CASE WHEN metric = 'tvl_token' THEN (value / v7 - 1) * 100 END) tvl7,
    max(CASE WHEN metric = 'tvl_token' THEN (value / v3 - 1) * 100 END) tvl3,
    max(CASE WHEN metric = 'active_addresses' THEN (value / v7 - 1) * 100 END) aa7,
    max(CASE WHEN metric = 'active_addresses' THEN (value / v3 - 1) * 100 END) aa3,
    max(CASE WHEN metric = 'oi_usd' THEN (value - m30) / nullif(s30, 0) END) oi_z,
    avg(CASE WHEN metric = 'funding_rate' THEN value END) funding
  FROM latest GROUP BY token)
SELECT token, ((oi / oi_v7 - 1) * 100 >= 100 AND greatest(tvl7, aa7) <= 20)
           OR ((oi / oi_v3 - 1) * 100 >= 100 AND greatest(tvl3, aa3) <= 20) AS surge, oi_z, funding
FROM per_token ORDER BY token
'''
con = duckdb.connect()
con.execute("SET enable_progress_bar = false")
con.execute(f"SET threads = {threads}")
t0 = time.perf_counter()
rows = con.execute(sql).fetchall()
dt = time.perf_counter() - t0
print(json.dumps({"seconds": dt, "tokens": len(rows), "surge": sorted(r[0] for r in rows if r[1])}))
"""


def _child(code: str, *args: str) -> tuple[dict[str, Any], float]:
    """(the child's last JSON line, peak RSS of its process tree in MB)."""
    run = run_tree([sys.executable, "-c", code, *args])
    out = json.loads([line for line in run.stdout.splitlines() if line.startswith("{")][-1])
    return out, run.peak_tree_rss / 2**20


def run(quick: bool) -> list[dict[str, Any]]:
    n_tokens = 50 if quick else 1000
    repeats = 3
    with tempfile.TemporaryDirectory(prefix="divmon-bench-") as tmp:
        db, parquet, cfg = Path(tmp) / "bench.db", Path(tmp) / "obs.parquet", Path(tmp) / "config.yaml"
        t0 = time.perf_counter()
        rows = world.build(db, n_tokens)
        build_s = time.perf_counter() - t0
        cfg.write_text(world.config_yaml(db, n_tokens))
        export_s = export_parquet(db, parquet)
        ours, duck = [], []
        for _ in range(repeats):  # interleaved: drift in the machine's load hits both sides alike
            ours.append(_child(OURS, str(cfg), str(NOW_S)))
            threads = ours[-1][0]["processes"]
            duck.append(_child(DUCK, str(parquet), str(NOW_S), str(LOOKBACK_S), str(threads)))
    t_ours = statistics.median(r["seconds"] for r, _ in ours)
    t_duck = statistics.median(r["seconds"] for r, _ in duck)
    rss = max(mb for _, mb in ours)
    first, first_duck = ours[0][0], duck[0][0]
    agree = first["surge"] == first_duck["surge"]
    load = " / ".join(f"{x:.2f}" for x in os.getloadavg())
    size = (f"{n_tokens} tokens, {rows:,} rows (built in {build_s:.0f} s, parquet export {export_s:.0f} s); "
            f"{first['processes']} process(es), DuckDB {threads} thread(s); load average {load}; medians of {repeats}")
    scaled = t_ours * 1000 / n_tokens
    ratio = ratio_of(t_ours, t_duck)
    return [
        row("judge now: evaluate_all incl. reads", t_ours, unit="s", reference=TARGET_S_PER_1000 * n_tokens / 1000,
            ratio=ratio_of(t_ours, TARGET_S_PER_1000 * n_tokens / 1000), target="≤ 5 s per 1,000 tokens",
            passed=scaled <= TARGET_S_PER_1000,
            note=f"{1000 * t_ours / n_tokens:.1f} ms/token, every rule + health + RSI; {size}"),
        row("judge now vs DuckDB window SQL (same lookback)", t_ours, unit="s", reference=t_duck, ratio=ratio,
            target=f"≤ {VS_DUCKDB:g}× DuckDB", passed=at_most(ratio, VS_DUCKDB),
            note=f"same rows (37-day lookback); oi_surge_unsupported tokens agree: {agree} "
                 f"({len(first['surge'])} ours vs {len(first_duck['surge'])} DuckDB); {size}"),
        row("judge now peak RSS, whole process tree", rss, unit="MB", reference=float(RSS_TARGET_MB),
            ratio=rss / RSS_TARGET_MB, target="≤ 1 GB", passed=rss <= RSS_TARGET_MB,
            note=f"psutil sum over the child and its worker processes, sampled every 20 ms (DuckDB's tree: "
                 f"{max(mb for _, mb in duck):.0f} MB); {size}"),
    ]


if __name__ == "__main__":  # pragma: no cover
    for item in run("--full" not in sys.argv):
        print(json.dumps(item, ensure_ascii=False))
