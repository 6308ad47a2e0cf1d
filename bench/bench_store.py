"""Writing observations: Store.upsert_observations against the fastest plain ways to write the same rows.

Targets (issue 8):
- SQLite file, 1,000,000 observations (quick: 100,000), then the same rows again:
  ≥ 0.8× raw sqlite3 executemany(INSERT … ON CONFLICT DO UPDATE) on the same schema (the same
  WITHOUT ROWID table, same primary key order); ≥ 3× pandas.to_sql (append into the same table, empty,
  since to_sql cannot upsert); the re-run no slower than the first run.
- PostgreSQL (127.0.0.1:5432, database test, a fresh schema dropped afterwards), 1,000,000
  observations (quick: 100,000): ≥ 0.5× psycopg COPY into the same table (text and binary COPY are
  both measured; the faster one is the reference). Skipped with a note when no
  server answers. DIVMON_BENCH_PG overrides the URL.

Our figure includes converting the frame to rows (what a caller pays); the references get their best
case, prepared outside the timer: tuples already sorted by the primary key (to_sql: a frame already
in the table's shape). Input frames are sorted by key, as monitor.sources.base.make_frame returns them.
Throughputs are rows/s, medians of 3 runs, each run on a fresh database. SQLite notes add the ratio of
this process's CPU time (SQLite runs in-process), which other processes' load disturbs far less.
"""

from __future__ import annotations

import os
import shutil
import sqlite3
import tempfile
import uuid
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from sqlalchemy import create_engine, event
from sqlalchemy.dialects import sqlite as sqlite_dialect
from sqlalchemy.engine import make_url
from sqlalchemy.schema import CreateTable

from bench.harness import Timing, at_least, at_most, median_time, ratio_of, row
from monitor import model
from monitor.store import Store
from monitor.store import schema

REPEAT = 3
PG_URL = os.environ.get("DIVMON_BENCH_PG", "postgresql+psycopg://root@127.0.0.1:5432/test")
TOKENS = 40
METRICS = (model.OI_USD, model.FUNDING_RATE, model.TVL_USD, model.ACTIVE_ADDRESSES, model.PERP_VOLUME_USD)
SOURCES = ("binance", "bybit")
KEY = ("token", "metric", "source", "ts")
UPSERT = ("INSERT INTO observations (token, metric, source, ts, value) VALUES (?, ?, ?, ?, ?) "
          "ON CONFLICT (token, metric, source, ts) DO UPDATE SET value = excluded.value")


def make_frame(n: int, seed: int = 8) -> pd.DataFrame:
    """About n observations: 400 hourly series (40 tokens × 5 metrics × 2 venues), key-sorted."""
    series = sorted((f"TK{i:03d}", m, s) for i in range(TOKENS) for m in METRICS for s in SOURCES)
    hours = max(1, n // len(series))
    stamps = pd.date_range("2025-01-01", periods=hours, freq="h", tz="UTC")
    frame = pd.DataFrame({
        "ts": np.tile(stamps, len(series)),
        "source": np.repeat(np.array([s for _, _, s in series], dtype=object), hours),
        "token": np.repeat(np.array([t for t, _, _ in series], dtype=object), hours),
        "metric": np.repeat(np.array([m for _, m, _ in series], dtype=object), hours),
        "value": np.random.default_rng(seed).lognormal(10, 2, hours * len(series)),
    })
    return frame[list(model.OBS_COLUMNS)]


def key_rows(frame: pd.DataFrame) -> list[tuple[str, str, str, int, float]]:
    """Key-ordered (token, metric, source, ts epoch s, value) tuples: the references' input."""
    ts = (frame["ts"].astype("int64") // 10**9).tolist() if frame["ts"].dt.unit == "ns" else \
        frame["ts"].dt.as_unit("s").astype("int64").tolist()
    return sorted(zip(frame["token"].tolist(), frame["metric"].tolist(), frame["source"].tolist(), ts,
                      frame["value"].tolist()))


def _ddl() -> str:
    return str(CreateTable(schema.observations).compile(dialect=sqlite_dialect.dialect()))


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


# ------------------------------------------------------------------ SQLite


def _ours_sqlite(tmp: Path, frame: pd.DataFrame) -> tuple[Timing, Timing]:
    path = tmp / "ours.db"
    store = Store(f"sqlite:///{path}")
    try:
        first = median_time(lambda: store.upsert_observations(frame), 1)
        again = median_time(lambda: store.upsert_observations(frame), 1)
    finally:
        store.close()
    if _count(path) != len(frame):
        raise AssertionError(f"store holds {_count(path)} rows after upserting {len(frame)} twice")
    return first, again


def _raw_sqlite(tmp: Path, rows: list[tuple]) -> Timing:
    path = tmp / "raw.db"
    con = _sqlite_connect(path)
    con.execute(_ddl())

    def write() -> None:
        con.execute("BEGIN")
        con.executemany(UPSERT, rows)
        con.execute("COMMIT")

    try:
        return median_time(write, 1)
    finally:
        con.close()


def _to_sql(tmp: Path, table_frame: pd.DataFrame) -> Timing:
    path = tmp / "to_sql.db"
    _sqlite_connect(path).execute(_ddl())
    engine = create_engine(f"sqlite:///{path}")

    @event.listens_for(engine, "connect")
    def _pragmas(dbapi_conn, _record):  # noqa: ANN001 - DBAPI types
        dbapi_conn.execute("PRAGMA journal_mode = WAL")
        dbapi_conn.execute("PRAGMA synchronous = NORMAL")

    try:
        return median_time(lambda: table_frame.to_sql("observations", engine, if_exists="append", index=False), 1)
    finally:
        engine.dispose()


def bench_sqlite(n: int, repeat: int = REPEAT) -> list[dict[str, Any]]:
    frame = make_frame(n)
    rows = key_rows(frame)
    table_frame = pd.DataFrame(rows, columns=list(KEY) + ["value"])
    ours, again, raw, to_sql = [], [], [], []
    for _ in range(repeat):  # interleaved, so drift hits every writer alike
        tmp = Path(tempfile.mkdtemp(prefix="divmon-bench-store-"))
        try:
            first, second = _ours_sqlite(tmp, frame)
            ours.append(first)
            again.append(second)
            raw.append(_raw_sqlite(tmp, rows))
            to_sql.append(_to_sql(tmp, table_frame))
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
    n_rows = len(frame)
    t_ours, t_again, t_raw, t_to_sql = (Timing(tuple(t.runs[0] for t in x), tuple(t.cpu[0] for t in x))
                                        for x in (ours, again, raw, to_sql))
    speed = {k: n_rows / t.median for k, t in
             {"ours": t_ours, "again": t_again, "raw": t_raw, "to_sql": t_to_sql}.items()}
    size = f"{n_rows:,} rows"
    vs_raw = ratio_of(speed["ours"], speed["raw"])
    vs_pandas = ratio_of(speed["ours"], speed["to_sql"])
    rerun = ratio_of(speed["again"], speed["ours"])

    def cpu(ref: Timing, ours_t: Timing = t_ours) -> str:
        # CPU seconds of this process (SQLite runs in it): steadier than wall time on a busy machine
        return f"CPU-time ratio {ratio_of(ref.cpu_median, ours_t.cpu_median):.2f}×"

    return [
        row(f"store upsert SQLite, {size}", speed["ours"], unit="rows/s", reference=speed["raw"], ratio=vs_raw,
            target="≥ 0.8× raw sqlite3 executemany", passed=at_least(vs_raw, 0.8),
            note=f"frame in, conversion included; {cpu(t_raw)}; ours {t_ours.describe()}; "
                 f"raw sqlite3 {t_raw.describe()}"),
        row(f"store upsert SQLite vs pandas.to_sql, {size}", speed["ours"], unit="rows/s",
            reference=speed["to_sql"], ratio=vs_pandas, target="≥ 3× pandas.to_sql",
            passed=at_least(vs_pandas, 3.0),
            note=f"to_sql appends into the empty table; {cpu(t_to_sql)}; to_sql {t_to_sql.describe()}"),
        row(f"store upsert SQLite re-run, same {size}", speed["again"], unit="rows/s", reference=speed["ours"],
            ratio=rerun, target="≥ 1× first run (no slower)", passed=at_least(rerun, 1.0),
            note=f"{cpu(t_ours, t_again)}; re-run {t_again.describe()}"),
    ]


# ------------------------------------------------------------------ poll cycle and per-fetch writes

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
                ours_t.append(median_time(lambda f=frame: store.upsert_observations(f), 1).runs[0])
                raw_t.append(median_time(lambda r=rows: _raw_write(con, r), 1).runs[0])
        finally:
            store.close()
            con.close()
        if _count(tmp / "ours.db") != _count(tmp / "raw.db") or _count(tmp / "ours.db") != len(series) * (hours + cycles):
            raise AssertionError("poll-cycle stores differ in size")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    t_ours, t_raw = Timing(tuple(ours_t)), Timing(tuple(raw_t))
    ratio = ratio_of(t_ours.median, t_raw.median)
    size = f"{len(series):,} rows into {len(series) * hours:,}"
    return [row(f"store poll cycle SQLite, {size}", t_ours.median, unit="s", reference=t_raw.median, ratio=ratio,
                target="≤ 0.5 s median (full size), ≤ 1.5× raw", passed=at_most(ratio, 1.5) and
                (t_ours.median <= 0.5 if len(series) >= 10_000 else True),
                note=f"one new hour of every series per write (frame in), {cycles} cycles; ours "
                     f"{t_ours.describe()}; raw sqlite3 UPSERT of sorted tuples {t_raw.describe()}")]


def bench_per_fetch(n_tokens: int, repeat: int = REPEAT) -> list[dict[str, Any]]:
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
    ours_t, raw_t = [], []
    for _ in range(repeat):
        tmp = Path(tempfile.mkdtemp(prefix="divmon-bench-fetch-"))
        try:
            _seed(tmp / "seed.db", series, hours)
            store = Store(f"sqlite:///{_copy_db(tmp / 'seed.db', tmp / 'ours.db')}")
            con = _sqlite_connect(_copy_db(tmp / "seed.db", tmp / "raw.db"))
            try:
                ours_t.append(median_time(lambda: [store.write_batch(f, (), r) for f, r, _, _ in fetches], 1).runs[0])
                raw_t.append(median_time(lambda: [_raw_write(con, rows, h) for _, _, rows, h in fetches], 1).runs[0])
            finally:
                store.close()
                con.close()
            if _count(tmp / "ours.db") != _count(tmp / "raw.db"):
                raise AssertionError("per-fetch stores differ in size")
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
    t_ours, t_raw = Timing(tuple(ours_t)), Timing(tuple(raw_t))
    ratio = ratio_of(t_ours.median, t_raw.median)
    per = len(fetches)
    return [row(f"store per-fetch writes SQLite, {per:,} transactions of 24 rows + 4 health rows", t_ours.median,
                unit="s", reference=t_raw.median, ratio=ratio, target="≤ 1.5× raw", passed=at_most(ratio, 1.5),
                note=f"{t_ours.median / per * 1e3:.2f} ms per fetch against {t_raw.median / per * 1e3:.2f} ms; "
                     f"into {len(series) * hours:,} rows; ours (frame from sources.base.make_frame, catalogue kept) "
                     f"{t_ours.describe()}; raw sqlite3 {t_raw.describe()}")]


# ------------------------------------------------------------------ PostgreSQL


def _pg_conninfo(url: str) -> dict[str, Any]:
    u = make_url(url)
    info = {"host": u.host or "127.0.0.1", "port": u.port or 5432, "dbname": u.database, "connect_timeout": 5}
    if u.username:
        info["user"] = u.username
    if u.password:
        info["password"] = u.password
    return info


def _in_schema(schema_name: str) -> str:
    url = make_url(PG_URL).update_query_dict({"options": f"-csearch_path={schema_name}"})
    return url.render_as_string(hide_password=False)


def _pg_skip(n: int, why: str) -> list[dict[str, Any]]:
    return [row(f"store upsert PostgreSQL, {n:,} rows", None, unit="rows/s", target="≥ 0.5× psycopg COPY",
                note=f"skipped: {why}")]


def bench_postgres(n: int, repeat: int = REPEAT) -> list[dict[str, Any]]:
    try:
        import psycopg
    except ImportError:
        return _pg_skip(n, "psycopg is not installed (pip install '.[bench]')")
    info = _pg_conninfo(PG_URL)
    try:
        admin = psycopg.connect(**info, autocommit=True)
    except psycopg.Error as exc:
        return _pg_skip(n, f"no PostgreSQL server answers at {info['host']}:{info['port']} ({type(exc).__name__})")

    ours_schema, ref_schema = (f"bench_{uuid.uuid4().hex[:10]}" for _ in range(2))
    frame = make_frame(n)
    rows = key_rows(frame)
    ours, copy_text, copy_bin = [], [], []
    try:
        for name in (ours_schema, ref_schema):
            admin.execute(f"CREATE SCHEMA {name}")
        Store(_in_schema(ref_schema)).close()  # the identical table, for COPY
        store = Store(_in_schema(ours_schema))
        ref = psycopg.connect(**info, options=f"-csearch_path={ref_schema}")

        def copy_in(binary: bool) -> None:
            fmt = " (FORMAT BINARY)" if binary else ""
            with ref.transaction(), ref.cursor() as cur:
                with cur.copy(f"COPY observations (token, metric, source, ts, value) FROM STDIN{fmt}") as cp:
                    if binary:
                        cp.set_types(["text", "text", "text", "int8", "float8"])
                    for item in rows:
                        cp.write_row(item)

        try:
            for _ in range(repeat):
                admin.execute(f"TRUNCATE {ours_schema}.observations, {ours_schema}.series")
                ours.append(median_time(lambda: store.upsert_observations(frame), 1).median)
                for binary, times in ((False, copy_text), (True, copy_bin)):
                    admin.execute(f"TRUNCATE {ref_schema}.observations")
                    times.append(median_time(lambda b=binary: copy_in(b), 1).median)
            stored = admin.execute(f"SELECT count(*) FROM {ours_schema}.observations").fetchone()[0]
            if stored != len(frame):
                raise AssertionError(f"store holds {stored} rows after upserting {len(frame)}")
        finally:
            store.close()
            ref.close()
    finally:
        for name in (ours_schema, ref_schema):
            admin.execute(f"DROP SCHEMA IF EXISTS {name} CASCADE")
        admin.close()

    t_ours = Timing(tuple(ours))
    # the reference is the faster COPY format measured in this run
    t_copy, fmt = min((Timing(tuple(copy_text)), "text"), (Timing(tuple(copy_bin)), "binary"), key=lambda x: x[0].median)
    speed_ours, speed_copy = len(frame) / t_ours.median, len(frame) / t_copy.median
    ratio = ratio_of(speed_ours, speed_copy)
    return [row(f"store upsert PostgreSQL, {len(frame):,} rows", speed_ours, unit="rows/s", reference=speed_copy,
                ratio=ratio, target="≥ 0.5× psycopg COPY", passed=at_least(ratio, 0.5),
                note=f"frame in, conversion included; ours {t_ours.describe()}; COPY ({fmt}, the faster format here) "
                     f"{t_copy.describe()}")]


def run(quick: bool) -> list[dict[str, Any]]:
    n = 100_000 if quick else 1_000_000  # below ~100k the per-series fixed costs blur the ratios
    return bench_sqlite(n) + bench_postgres(n)
