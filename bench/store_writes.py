"""The poll job's writes (rows of bench_store): a poll cycle into a big table, and one small transaction
per fetch, each against raw sqlite3 doing the same writes on a copy of the same seeded store."""

from __future__ import annotations

import shutil
import sqlite3
import tempfile
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from bench.harness import Timing, at_most, median_time, ratio_of, row
from monitor.store import Store

UPSERT = ("INSERT INTO observations (token, metric, source, ts, value) VALUES (?, ?, ?, ?, ?) "
          "ON CONFLICT (token, metric, source, ts) DO UPDATE SET value = excluded.value")


def _sqlite_connect(path: Path) -> sqlite3.Connection:
    con = sqlite3.connect(path, isolation_level=None)
    con.execute("PRAGMA journal_mode = WAL")  # the Store's settings, so only the write path differs
    con.execute("PRAGMA synchronous = NORMAL")
    return con


def _count(path: Path) -> int:
    con = sqlite3.connect(path)
    try:
        return con.execute("SELECT count(*) FROM observations").fetchone()[0]
    finally:
        con.close()


HEALTH = ("INSERT INTO poll_runs (source, token, started_at, finished_at, status, http_status, error_class, message, "
          "latency_ms, rows, endpoint) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)")
POLL_METRICS = ("oi_usd", "funding_rate", "perp_volume_usd", "perp_price", "long_short_ratio", "liquidations_usd")
POLL_VENUES = ("binance", "bybit", "okx", "gate")
HOUR = 3600
EPOCH0 = 1_735_689_600  # 2025-01-01 00:00 UTC


def _seed(path: Path, series: list[tuple[str, str, str]], hours: int) -> None:
    """A store holding `hours` hourly rows of every series (and their catalogue), written by raw sqlite3."""
    Store(f"sqlite:///{path}").close()
    con = _sqlite_connect(path)
    rng = np.random.default_rng(17)
    con.execute("BEGIN")
    for t, m, s in sorted(series):
        vals = rng.lognormal(10, 2, hours).tolist()
        con.executemany("INSERT INTO observations VALUES (?, ?, ?, ?, ?)",
                        [(t, m, s, EPOCH0 + h * HOUR, v) for h, v in enumerate(vals)])
    con.execute("INSERT INTO series SELECT token, metric, source, min(ts), max(ts), 0 FROM observations "
                "GROUP BY token, metric, source")
    con.execute("COMMIT")
    con.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    con.close()


def _copy_db(src: Path, dst: Path) -> Path:
    shutil.copyfile(src, dst)
    return dst


def _raw_write(con: sqlite3.Connection, rows: list[tuple], health: list[tuple] = ()) -> None:
    """The reference: the same rows (key-sorted tuples) and health rows in one BEGIN IMMEDIATE transaction."""
    con.execute("BEGIN IMMEDIATE")
    con.executemany(UPSERT + " WHERE observations.value IS NOT excluded.value", rows)
    if health:
        con.executemany(HEALTH, health)
    con.execute("COMMIT")


def _joined(timings: list[Timing]) -> Timing:
    return Timing(tuple(t.runs[0] for t in timings), tuple(t.cpu[0] for t in timings))


def _cpu_ratio(ours: Timing, ref: Timing) -> str:
    return f"CPU-time ratio {ratio_of(ours.cpu_median, ref.cpu_median):.2f}×"


def bench_poll_cycle(n_series: int, hours: int, cycles: int) -> list[dict[str, Any]]:
    """One poll cycle = one new hourly row of every series in one write, into a table of n_series × hours."""
    tokens = n_series // 10
    series = [(f"TK{i:04d}", m, v) for i in range(tokens) for m in POLL_METRICS[:5] for v in POLL_VENUES[:2]]
    ours_t, raw_t = [], []
    tmp = Path(tempfile.mkdtemp(prefix="divmon-bench-cycle-"))
    try:
        _seed(tmp / "seed.db", series, hours)
        store = Store(f"sqlite:///{_copy_db(tmp / 'seed.db', tmp / 'ours.db')}")
        con = _sqlite_connect(_copy_db(tmp / "seed.db", tmp / "raw.db"))
        rng = np.random.default_rng(5)
        try:
            for c in range(cycles):
                ts = EPOCH0 + (hours + c) * HOUR
                vals = rng.lognormal(10, 2, len(series)).tolist()
                rows = sorted((t, m, s, ts, v) for (t, m, s), v in zip(series, vals))
                frame = pd.DataFrame({"ts": pd.to_datetime([r[3] for r in rows], unit="s", utc=True),
                                      "source": [r[2] for r in rows], "token": [r[0] for r in rows],
                                      "metric": [r[1] for r in rows], "value": [r[4] for r in rows]})
                ours_t.append(median_time(lambda f=frame: store.upsert_observations(f), 1))
                raw_t.append(median_time(lambda r=rows: _raw_write(con, r), 1))
        finally:
            store.close()
            con.close()
        stored = {_count(tmp / "ours.db"), _count(tmp / "raw.db")}
        if stored != {len(series) * (hours + cycles)}:
            raise AssertionError("poll-cycle stores differ in size")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    t_ours, t_raw = _joined(ours_t), _joined(raw_t)
    ratio = ratio_of(t_ours.median, t_raw.median)
    size = f"{len(series):,} rows into {len(series) * hours:,}"
    return [row(f"store poll cycle SQLite, {size}", t_ours.median, unit="s", reference=t_raw.median, ratio=ratio,
                target="≤ 0.5 s median (full size), ≤ 1.5× raw", passed=at_most(ratio, 1.5) and
                (t_ours.median <= 0.5 if len(series) >= 10_000 else True),
                note=f"one new hour of every series per write (frame in), {cycles} cycles; "
                     f"{_cpu_ratio(t_ours, t_raw)}; ours "
                     f"{t_ours.describe()}; raw sqlite3 UPSERT of sorted tuples {t_raw.describe()}")]


def bench_per_fetch(n_tokens: int, repeat: int) -> list[dict[str, Any]]:
    """The poll job's pattern: one transaction per (venue, token) fetch - its frame as a source hands it over
    (6 metrics × 4 hours: 2 already stored, 2 new) and its 4 health rows (3 requests and the summary)."""
    from monitor.model import PollRun
    from monitor.sources.base import make_frame as source_frame
    from monitor.timeutil import from_epoch

    series = [(f"TK{i:04d}", m, v) for i in range(n_tokens) for m in POLL_METRICS for v in POLL_VENUES]
    hours = 48
    fetches = []
    rng = np.random.default_rng(3)
    for v in POLL_VENUES:
        for i in range(n_tokens):
            token = f"TK{i:04d}"
            recs = [(EPOCH0 + h * HOUR, v, token, m, float(rng.lognormal(10, 2)))
                    for m in POLL_METRICS for h in range(hours - 2, hours + 2)]
            at = from_epoch(EPOCH0 + (hours + 2) * HOUR)
            runs = [PollRun(v, token, at, at, "ok", http_status=200, latency_ms=50.0, rows=6, endpoint=f"/e{k}")
                    for k in range(3)] + [PollRun(v, token, at, at, "ok", rows=len(recs), endpoint="fetch")]
            health = [(r.source, r.token, EPOCH0, EPOCH0, r.status, r.http_status, None, None, r.latency_ms, r.rows,
                       r.endpoint) for r in runs]
            fetches.append((source_frame(recs), runs, sorted((t, m, s, ts, val) for ts, s, t, m, val in recs),
                            health))
    ours_t, tuples_t, raw_t = [], [], []
    for _ in range(repeat):
        tmp = Path(tempfile.mkdtemp(prefix="divmon-bench-fetch-"))
        try:
            _seed(tmp / "seed.db", series, hours)
            store = Store(f"sqlite:///{_copy_db(tmp / 'seed.db', tmp / 'ours.db')}")
            con = _sqlite_connect(_copy_db(tmp / "seed.db", tmp / "raw.db"))
            try:
                ours_t.append(median_time(lambda store=store: [store.write_batch(f, (), r) for f, r, _, _ in fetches], 1))
                raw_t.append(median_time(lambda con=con: [_raw_write(con, rows, h) for _, _, rows, h in fetches], 1))
            finally:
                store.close()
                con.close()
            store = Store(f"sqlite:///{_copy_db(tmp / 'seed.db', tmp / 'tuples.db')}")
            try:  # the same writes handed over as (token, metric, source, ts, value) tuples instead of a frame
                tuples_t.append(median_time(lambda store=store: [store.write_batch(rw, (), r) for _, r, rw, _ in fetches], 1))
            finally:
                store.close()
            if _count(tmp / "ours.db") != _count(tmp / "raw.db"):
                raise AssertionError("per-fetch stores differ in size")
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
    t_ours, t_raw, t_tuples = _joined(ours_t), _joined(raw_t), _joined(tuples_t)
    ratio = ratio_of(t_ours.median, t_raw.median)
    per = len(fetches)
    return [row(f"store per-fetch writes SQLite, {per:,} transactions of 24 rows + 4 health rows", t_ours.median,
                unit="s", reference=t_raw.median, ratio=ratio, target="≤ 1.5× raw", passed=at_most(ratio, 1.5),
                note=f"{t_ours.median / per * 1e3:.2f} ms per fetch against {t_raw.median / per * 1e3:.2f} ms; "
                     f"{_cpu_ratio(t_ours, t_raw)}; rows given as tuples instead: "
                     f"{ratio_of(t_tuples.median, t_raw.median):.2f}× ({_cpu_ratio(t_tuples, t_raw)}); "
                     f"into {len(series) * hours:,} rows; ours (frame from sources.base.make_frame, catalogue kept) "
                     f"{t_ours.describe()}; raw sqlite3 {t_raw.describe()}")]
