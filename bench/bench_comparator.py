"""Comparator at scale: ``evaluate_all`` over N tokens x 1 year hourly x 4 metrics (OI, funding, TVL in
token units, active addresses) stored in a SQLite file, against the same rules as DuckDB window SQL.

Targets: evaluate_all time ≤ 1.0x DuckDB window SQL measured in the same run; peak RSS ≤ 2 GB.
evaluate_all runs as configured by default: signals.workers processes (2) once there are
signals.parallel_min_tokens tokens (200), so quick mode (20 tokens) measures one process; DuckDB uses
every core it finds. The machine's load average is in the note (other jobs skew both sides).
Full mode: 1,000 tokens (35M rows). Quick mode: 20 tokens. The whole-year DuckDB variant runs once.

DuckDB reads the same data as a Parquet export of the SQLite table (``INSTALL sqlite`` needs the
internet, unavailable here): rows are streamed out of SQLite with python's sqlite3 in chunks, inserted
into DuckDB from pandas frames and written with ``COPY ... (FORMAT parquet)``; the export is not timed
against DuckDB. Both engines run in child processes; peak RSS is the child's VmHWM. DuckDB is
timed twice: on the same 37-day lookback our job reads (the fair reference) and over the whole year
(window SQL over every row, as in performance.md). DuckDB has no RSI (SQL windows cannot express
Wilder's recursion); ours computes it, and every other rule of the catalogue.
"""

from __future__ import annotations

import json
import os
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
NOW_S = 1_763_596_800  # 2025-11-20T00:00:00Z
HOURS = 8760
METRICS = (("active_addresses", "dune"), ("funding_rate_8h", "binance"), ("oi_usd", "binance"),
           ("tvl_token", "defillama"))
LOOKBACK_S = 37 * 86400
RSS_TARGET_MB = 2048


def build_db(path: Path, n_tokens: int, seed: int = 7) -> int:
    """Schema by the Store, rows by sqlite3 executemany sorted by primary key (the fast path)."""
    from monitor.store import Store

    url = f"sqlite:///{path}"
    Store(url).close()
    rng = np.random.default_rng(seed)
    ts = (NOW_S - 3600 * np.arange(HOURS - 1, -1, -1)).tolist()
    hours_ago = np.arange(HOURS - 1, -1, -1)
    con = sqlite3.connect(path)
    con.execute("PRAGMA synchronous=OFF")
    rows = 0
    for i in range(n_tokens):
        token = f"T{i:04d}"
        oi = rng.uniform(1e6, 1e8) * np.exp(np.cumsum(rng.normal(0, 0.002, HOURS)))
        tvl = rng.uniform(1e6, 1e8) * np.exp(np.cumsum(rng.normal(0, 0.001, HOURS)))
        if i % 10 == 0:  # a speculative surge: OI x2.6 in the last day, on-chain flat
            oi = oi * np.where(hours_ago < 24, 1 + 1.6 * (24 - hours_ago) / 24, 1.0)
        elif i % 10 == 1:  # adoption: TVL x1.8 over the last month
            tvl = tvl * np.where(hours_ago < 720, 1 + 0.8 * (720 - hours_ago) / 720, 1.0)
        values = {
            "active_addresses": rng.poisson(500, HOURS).astype(float) + 1,
            "funding_rate_8h": rng.normal(0.0001, 0.0002, HOURS),
            "oi_usd": oi,
            "tvl_token": tvl,
        }
        batch = []
        for metric, source in METRICS:
            batch.extend(zip([token] * HOURS, [metric] * HOURS, [source] * HOURS, ts, values[metric].tolist(),
                             strict=True))
        con.executemany("INSERT INTO observations (token, metric, source, ts, value) VALUES (?, ?, ?, ?, ?)", batch)
        con.executemany("INSERT INTO series VALUES (?, ?, ?, ?, ?, ?)",
                        [(token, metric, source, ts[0], ts[-1], NOW_S) for metric, source in METRICS])
        rows += len(batch)
        if i % 50 == 49:
            con.commit()
    con.commit()
    con.close()
    return rows


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


# VmHWM, not ru_maxrss: Linux carries ru_maxrss over from the parent at fork (the builder's peak)
PEAK = """
def peak_mb():
    for line in open("/proc/self/status"):
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    import resource
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
"""

OURS = PEAK + """
import json, sys, time
from monitor.app import App
from monitor.config import parse_config
from monitor.jobs.evaluate import evaluate_all
from monitor.timeutil import from_epoch
off = {n: {"enabled": False} for n in ("binance", "bybit", "okx", "gate", "bitget", "hyperliquid", "coinglass",
       "coingecko", "defillama", "dune", "github", "etherscan", "chain")}
app = App(parse_config({"storage": {"url": "sqlite:///" + sys.argv[1]}, "sources": off}))
import monitor.signals, monitor.signals.verdict  # imports and opening the store are not the comparison
app.store
t0 = time.perf_counter()
verdicts = evaluate_all(app, at=from_epoch(int(sys.argv[2])))
dt = time.perf_counter() - t0
surge = sorted(v.token for v in verdicts if any(f.rule == "oi_surge_unsupported" for f in v.flags))
print(json.dumps({"seconds": dt, "rss_mb": peak_mb(),
                  "tokens": len(verdicts), "surge": surge}))
"""  # peak_mb is this process's; a worker process holds one token's lookback at a time as well

DUCK = PEAK + """
import json, sys, time
import duckdb
path, now, lookback = sys.argv[1], int(sys.argv[2]), sys.argv[3] == "1"
where = f"WHERE ts > {now - %(lookback)d} AND ts <= {now}" if lookback else f"WHERE ts <= {now}"
sql = f'''
WITH base AS (SELECT token, metric, ts, value FROM read_parquet('{path}') {where}),
w AS (
  SELECT token, metric, ts, value,
    first_value(value) OVER (PARTITION BY token, metric ORDER BY ts RANGE BETWEEN 604800 PRECEDING AND CURRENT ROW) v7,
    first_value(value) OVER (PARTITION BY token, metric ORDER BY ts RANGE BETWEEN 259200 PRECEDING AND CURRENT ROW) v3,
    avg(value) OVER (PARTITION BY token, metric ORDER BY ts RANGE BETWEEN 86399 PRECEDING AND CURRENT ROW) d0,
    avg(value) OVER (PARTITION BY token, metric ORDER BY ts RANGE BETWEEN 691199 PRECEDING AND 604800 PRECEDING) d7,
    avg(value) OVER (PARTITION BY token, metric ORDER BY ts RANGE BETWEEN 345599 PRECEDING AND 259200 PRECEDING) d3,
    avg(value) OVER (PARTITION BY token, metric ORDER BY ts RANGE BETWEEN 2592000 PRECEDING AND CURRENT ROW) m30,
    stddev_samp(value) OVER (PARTITION BY token, metric ORDER BY ts RANGE BETWEEN 2592000 PRECEDING AND CURRENT ROW) s30,
    row_number() OVER (PARTITION BY token, metric ORDER BY ts DESC) rn
  FROM base),
latest AS (
  SELECT token,
    max(CASE WHEN metric = 'oi_usd' THEN (value / v7 - 1) * 100 END) oi7,
    max(CASE WHEN metric = 'oi_usd' THEN (value / v3 - 1) * 100 END) oi3,
    max(CASE WHEN metric = 'oi_usd' THEN (value - m30) / nullif(s30, 0) END) oi_z,
    max(CASE WHEN metric = 'tvl_token' THEN (value / v7 - 1) * 100 END) tvl7,
    max(CASE WHEN metric = 'tvl_token' THEN (value / v3 - 1) * 100 END) tvl3,
    max(CASE WHEN metric = 'active_addresses' THEN (d0 / d7 - 1) * 100 END) aa7,
    max(CASE WHEN metric = 'active_addresses' THEN (d0 / d3 - 1) * 100 END) aa3,
    max(CASE WHEN metric = 'funding_rate_8h' THEN value END) funding
  FROM w WHERE rn = 1 GROUP BY token)
SELECT token, (oi7 >= 100 AND greatest(tvl7, aa7) <= 20) OR (oi3 >= 100 AND greatest(tvl3, aa3) <= 20) AS surge,
       oi7, oi_z, funding
FROM latest ORDER BY token
'''
con = duckdb.connect()
con.execute("SET enable_progress_bar = false")
t0 = time.perf_counter()
rows = con.execute(sql).fetchall()
dt = time.perf_counter() - t0
print(json.dumps({"seconds": dt, "rss_mb": peak_mb(),
                  "tokens": len(rows), "surge": sorted(r[0] for r in rows if r[1])}))
""" % {"lookback": LOOKBACK_S}


def child(code: str, *args: str) -> dict:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    out = subprocess.run([sys.executable, "-c", code, *args], capture_output=True, text=True, env=env, cwd=ROOT,
                         timeout=3600, check=False)
    if out.returncode != 0:
        raise RuntimeError(f"benchmark child failed: {out.stderr[-2000:]}")
    return json.loads([line for line in out.stdout.splitlines() if line.startswith("{")][-1])


def run(quick: bool) -> list[dict]:
    n_tokens = 20 if quick else 1000
    repeats = 3
    with tempfile.TemporaryDirectory(prefix="divmon-bench-") as tmp:
        db, parquet = Path(tmp) / "bench.db", Path(tmp) / "obs.parquet"
        t0 = time.perf_counter()
        rows = build_db(db, n_tokens)
        build_s = time.perf_counter() - t0
        export_s = export_parquet(db, parquet)
        ours = [child(OURS, str(db), str(NOW_S)) for _ in range(repeats)]
        duck_lb = [child(DUCK, str(parquet), str(NOW_S), "1") for _ in range(repeats)]
        duck_year = [child(DUCK, str(parquet), str(NOW_S), "0")]  # minutes at full size: once
    t_ours = statistics.median(r["seconds"] for r in ours)
    t_lb = statistics.median(r["seconds"] for r in duck_lb)
    t_year = statistics.median(r["seconds"] for r in duck_year)
    rss = max(r["rss_mb"] for r in ours)
    agree = ours[0]["surge"] == duck_lb[0]["surge"]
    load = " / ".join(f"{x:.2f}" for x in os.getloadavg())
    note = (f"load average {load}; {n_tokens} tokens, {rows:,} rows (built in {build_s:.1f}s; parquet export {export_s:.1f}s); "
            f"ours {t_ours:.2f}s = {1000 * t_ours / n_tokens:.1f} ms/token, all 11 rules + RSI, peak RSS "
            f"{rss:.0f} MB; DuckDB window SQL {t_lb:.2f}s on the 37-day lookback "
            f"(RSS {max(r['rss_mb'] for r in duck_lb):.0f} MB), {t_year:.2f}s over the whole year "
            f"(RSS {max(r['rss_mb'] for r in duck_year):.0f} MB); oi_surge_unsupported tokens agree: {agree} "
            f"({len(ours[0]['surge'])} ours vs {len(duck_lb[0]['surge'])} DuckDB); medians of {repeats} runs")
    return [
        {"name": "comparator evaluate_all vs DuckDB (lookback)", "value": t_ours, "reference": t_lb, "unit": "s",
         "ratio": t_ours / t_lb if t_lb else None, "target": "≤ 1.0× DuckDB window SQL",
         "passed": t_ours <= t_lb, "note": note},
        {"name": "comparator evaluate_all vs DuckDB (whole year)", "value": t_ours, "reference": t_year, "unit": "s",
         "ratio": t_ours / t_year if t_year else None, "target": "≤ 1.0× DuckDB window SQL",
         "passed": t_ours <= t_year, "note": "DuckDB computing the windows over every row of the year"},
        {"name": "comparator evaluate_all peak RSS", "value": rss, "reference": float(RSS_TARGET_MB), "unit": "MB",
         "ratio": rss / RSS_TARGET_MB, "target": "≤ 2 GB", "passed": rss <= RSS_TARGET_MB,
         "note": "child process VmHWM (interpreter + pandas + one token's lookback at a time)"},
    ]


if __name__ == "__main__":  # pragma: no cover
    for row in run("--full" not in sys.argv):
        print(json.dumps(row, ensure_ascii=False))
