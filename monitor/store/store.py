"""The Store: idempotent upserts and small indexed reads over SQLite or PostgreSQL.

Bulk writes go through the driver's executemany (SQLite) or COPY into a temporary table
(PostgreSQL): several times faster than row-by-row ORM inserts or pandas.to_sql (bench/).
"""

from __future__ import annotations

import json
import logging
import sqlite3
from collections.abc import Callable, Iterable, Sequence
from datetime import datetime
from typing import Any, TypeVar, cast

import pandas as pd
from sqlalchemy import and_, delete, select
from sqlalchemy.engine import Connection

from monitor.model import Event, PollRun
from monitor.store import schema as s
from monitor.store.batch import Batch, ObsRow, Segment, SeriesKey, from_frame, from_rows
from monitor.store.bookkeeping import Bookkeeping
from monitor.store.db import make_engine, redact_url, retry_locked, translate
from monitor.store.lifecycle import Lifecycle
from monitor.store.retention import Retention
from monitor.store.token_reads import TokenReads
from monitor.timeutil import epoch_s, from_epoch, utcnow

log = logging.getLogger(__name__)
T = TypeVar("T")
_COPY_TYPES = ["text", "text", "text", "int8", "float8"]


def rows_from_frame(frame: pd.DataFrame) -> list[ObsRow]:
    """Long frame (ts, source, token, metric, value) -> key-sorted tuples, a repeated key's last row kept."""
    return list(from_frame(frame).rows())


def _batch(data: pd.DataFrame | Iterable[ObsRow]) -> Batch:
    return from_frame(data) if isinstance(data, pd.DataFrame) else from_rows(data)


class Store(Lifecycle, Bookkeeping, Retention, TokenReads):
    def __init__(self, url: str, *, busy_timeout_s: float = 30.0, create: bool = True, integrity_every_s: float = 0.0):
        self.url = url
        self.engine = make_engine(url, busy_timeout_s=busy_timeout_s)
        self.dialect = self.engine.dialect.name
        log.debug("store opened: %s", redact_url(url))  # one per process (tests count these lines)
        if create:
            self.check_file(integrity_every_s)
            self.migrate()

    def __repr__(self) -> str:
        return f"Store({redact_url(self.url)})"

    def close(self) -> None:
        self.engine.dispose()

    # ------------------------------------------------------------ plumbing

    def write(self, fn: Callable[[Connection], T], action: str = "write") -> T:
        """Run fn(conn) in one write transaction (BEGIN IMMEDIATE on SQLite), all or nothing."""

        def attempt() -> T:
            with self.engine.connect().execution_options(divmon_write=True) as conn, conn.begin():
                return fn(conn)

        with translate(action):
            return retry_locked(attempt)

    def write_driver(self, fn: Callable[[Any], T], action: str = "write") -> T:
        """Run fn(DBAPI connection) in one write transaction. On SQLite a pooled driver connection with
        BEGIN IMMEDIATE / COMMIT of our own: SQLAlchemy's transaction costs ~10x a small write's SQL."""
        if self.dialect != "sqlite":
            return self.write(lambda conn: fn(conn.connection.driver_connection), action)

        def attempt() -> T:
            pooled = self.engine.raw_connection()  # the engine's connect-time pragmas already applied
            try:
                db = cast(sqlite3.Connection, pooled.driver_connection)  # SQLite here: sqlite3's own connection
                db.execute("BEGIN IMMEDIATE")
                out = fn(db)
                db.commit()
                return out
            finally:
                pooled.close()  # back to the pool, which rolls back whatever was not committed

        with translate(action):
            return retry_locked(attempt)

    def read(self, fn: Callable[[Connection], T], action: str = "read") -> T:
        with translate(action), self.engine.connect() as conn:
            return fn(conn)

    # ------------------------------------------------------------ observations

    def upsert_observations(self, data: pd.DataFrame | Iterable[ObsRow]) -> int:
        batch = _batch(data)
        if not batch:
            return 0
        return self.write_driver(lambda db: self._upsert_obs(db, batch), "observation upsert")

    def write_batch(
        self,
        observations: pd.DataFrame | Iterable[ObsRow] = (),
        events: Sequence[Event] = (),
        poll_runs: Sequence[PollRun] = (),
    ) -> int:
        """One fetch's observations, events and health in a single transaction."""
        batch = _batch(observations)

        def run(db: Any) -> int:
            n = self._upsert_obs(db, batch) if batch else 0
            if events:
                self._upsert_events(db, events)
            if poll_runs:
                self._insert_poll_runs(db, poll_runs)
            return n

        return self.write_driver(run, "batch write")

    def _upsert_obs(self, db: Any, batch: Batch) -> int:
        bounds = batch.bounds()
        if self.dialect == "postgresql":
            # Rows after their series' stored last ts (the catalogue is written in the same transactions) cannot
            # conflict: they are COPied straight in; only the overlap goes through a temp table and an upsert.
            old, new = batch.split(self._known_last_ts(db, bounds))
            self._pg_copy_upsert(db, batch, old, new)
        else:
            # SQLite's upsert of a row that does not conflict costs what a plain INSERT does: one statement
            # for every row (the unchanged ones are not rewritten)
            cur = db.cursor()
            try:
                cur.executemany(
                    "INSERT INTO observations (token, metric, source, ts, value) VALUES (?, ?, ?, ?, ?) "
                    "ON CONFLICT (token, metric, source, ts) DO UPDATE SET value = excluded.value "
                    "WHERE observations.value IS NOT excluded.value",
                    batch.rows(),
                )
            finally:
                cur.close()
        self._update_catalogue(db, bounds)
        return len(batch)

    def _known_last_ts(self, db: Any, bounds: dict[SeriesKey, tuple[int, int]]) -> dict[SeriesKey, int]:
        tokens = sorted({k[0] for k in bounds})
        found: list[tuple[str, str, str, int]] = []
        with db.cursor() as cur:
            for i in range(0, len(tokens), 500):
                part = tokens[i:i + 500]
                cur.execute(f"SELECT token, metric, source, last_ts FROM series WHERE token IN "
                            f"({', '.join(['%s'] * len(part))})", part)
                found.extend(cur.fetchall())
        return {(t, m, src): last for t, m, src, last in found if (t, m, src) in bounds}

    def _pg_copy_upsert(self, db: Any, batch: Batch, old: list[Segment], new: list[Segment]) -> None:
        import psycopg

        with db.cursor() as cur:
            if new:
                cur.execute("SAVEPOINT obs_new")
                try:
                    _copy_rows(cur, "observations", batch.rows(new))
                    cur.execute("RELEASE SAVEPOINT obs_new")
                except psycopg.errors.UniqueViolation:
                    # a concurrent writer got there first: upsert everything
                    cur.execute("ROLLBACK TO SAVEPOINT obs_new")
                    old = batch.segments
            if not old:
                return
            cur.execute(
                "CREATE TEMP TABLE IF NOT EXISTS _obs_in (token text, metric text, source text, ts bigint, "
                "value double precision) ON COMMIT DELETE ROWS"
            )
            _copy_rows(cur, "_obs_in", batch.rows(old))
            # Only rows that are new or differ go on to the upsert: ON CONFLICT locks (and so rewrites) every
            # conflicting row even when its WHERE is false, which made a re-run cost 2x the first load. The batch
            # holds each key once, so no DISTINCT ON (a sort of every row) is needed either.
            cur.execute(
                "INSERT INTO observations (token, metric, source, ts, value) "
                "SELECT i.token, i.metric, i.source, i.ts, i.value FROM _obs_in i LEFT JOIN observations o "
                "ON o.token = i.token AND o.metric = i.metric AND o.source = i.source AND o.ts = i.ts "
                "WHERE o.value IS DISTINCT FROM i.value "
                "ON CONFLICT (token, metric, source, ts) DO UPDATE SET value = excluded.value "
                "WHERE observations.value IS DISTINCT FROM excluded.value"
            )

    def _update_catalogue(self, db: Any, bounds: dict[SeriesKey, tuple[int, int]]) -> None:
        lo, hi = ("LEAST", "GREATEST") if self.dialect == "postgresql" else ("min", "max")
        ph = "%s" if self.dialect == "postgresql" else "?"
        now = epoch_s(utcnow())
        cur = db.cursor()
        try:
            cur.executemany(
                f"INSERT INTO series (token, metric, source, first_ts, last_ts, updated_at) "
                f"VALUES ({ph}, {ph}, {ph}, {ph}, {ph}, {ph}) ON CONFLICT (token, metric, source) DO UPDATE SET "
                f"first_ts = {lo}(series.first_ts, excluded.first_ts), "
                f"last_ts = {hi}(series.last_ts, excluded.last_ts), updated_at = excluded.updated_at",
                [(*key, first, last, now) for key, (first, last) in bounds.items()],
            )
        finally:
            cur.close()

    def read_series(
        self,
        token: str,
        metrics: Sequence[str],
        start: datetime | None = None,
        end: datetime | None = None,
        sources: Sequence[str] | None = None,
    ) -> pd.DataFrame:
        """Long UTC frame (ts, source, token, metric, value) for one token, by indexed range reads."""
        o = s.observations.c
        cond = [o.token == token, o.metric.in_(list(metrics))]
        if start is not None:
            cond.append(o.ts >= epoch_s(start))
        if end is not None:
            cond.append(o.ts <= epoch_s(end))
        if sources:
            cond.append(o.source.in_(list(sources)))
        query = select(o.ts, o.source, o.token, o.metric, o.value).where(and_(*cond)).order_by(o.metric, o.source, o.ts)
        rows = self.read(lambda c: c.execute(query).all(), "series read")
        frame = pd.DataFrame([tuple(r) for r in rows], columns=["ts", "source", "token", "metric", "value"])
        frame["ts"] = pd.to_datetime(frame["ts"].astype("int64"), unit="s", utc=True)
        frame["value"] = frame["value"].astype("float64")
        return frame

    def catalogue(self, token: str | None = None) -> pd.DataFrame:
        q = select(s.series)
        if token is not None:
            q = q.where(s.series.c.token == token)
        rows = self.read(lambda c: c.execute(q).all(), "catalogue read")
        frame = pd.DataFrame([tuple(r) for r in rows], columns=["token", "metric", "source", "first_ts", "last_ts", "updated_at"])
        for col in ("first_ts", "last_ts", "updated_at"):
            frame[col] = pd.to_datetime(frame[col].astype("int64"), unit="s", utc=True)
        return frame

    def latest_ts(self, token: str, source: str, metric: str | None = None) -> datetime | None:
        """The poll cursor: latest stored ts of a source's series for a token (optionally one metric)."""
        c = s.series.c
        q = select(c.last_ts).where(c.token == token, c.source == source)
        if metric is not None:
            q = q.where(c.metric == metric)
        values = [r[0] for r in self.read(lambda conn: conn.execute(q).all())]
        if not values:
            return None
        # Every metric must be caught up, so the cursor is the oldest of the latest.
        return from_epoch(min(values) if metric is None else values[0])

    def tokens(self) -> list[str]:
        q = select(s.series.c.token).distinct().order_by(s.series.c.token)
        return [r[0] for r in self.read(lambda c: c.execute(q).all())]

    # ------------------------------------------------------------ events

    def upsert_events(self, items: Sequence[Event]) -> int:
        if not items:
            return 0
        self.write_driver(lambda db: self._upsert_events(db, items), "event upsert")
        return len(items)

    def _upsert_events(self, db: Any, items: Sequence[Event]) -> None:
        ph = "%s" if self.dialect == "postgresql" else "?"
        cur = db.cursor()
        try:
            cur.executemany(
                "INSERT INTO events (chain, tx_hash, log_index, token, ts, kind, address, block, source, detail) "
                f"VALUES ({', '.join([ph] * 10)}) ON CONFLICT (chain, tx_hash, log_index, token) DO UPDATE SET "
                # an event keeps its earliest ts: an announcement re-seen each poll stays stamped at its first sighting
                "ts = CASE WHEN excluded.ts < events.ts THEN excluded.ts ELSE events.ts END, "
                "kind = excluded.kind, address = excluded.address, block = excluded.block, "
                "source = excluded.source, detail = excluded.detail",
                [
                    (e.chain, _hex_lower(e.tx_hash), e.log_index, e.token, epoch_s(e.ts), e.kind, _hex_lower(e.address),
                     e.block, e.source, json.dumps(e.detail, sort_keys=True, default=str))
                    for e in items
                ],
            )
        finally:
            cur.close()

    def delete_events(self, chain: str, tx_hashes: Sequence[str]) -> int:
        """Drop events whose logs were reorged out (``removed: true``)."""
        if not tx_hashes:
            return 0
        stmt = delete(s.events).where(s.events.c.chain == chain, s.events.c.tx_hash.in_([_hex_lower(h) for h in tx_hashes]))
        return self.write(lambda c: c.execute(stmt).rowcount, "event delete")

    def read_events(self, token: str, start: datetime | None = None, end: datetime | None = None) -> list[Event]:
        e = s.events.c
        q = select(s.events).where(e.token == token).order_by(e.ts, e.chain, e.tx_hash, e.log_index)
        if start is not None:
            q = q.where(e.ts >= epoch_s(start))
        if end is not None:
            q = q.where(e.ts <= epoch_s(end))
        rows = self.read(lambda c: c.execute(q).mappings().all(), "event read")
        return [
            Event(ts=from_epoch(r["ts"]), token=r["token"], chain=r["chain"], kind=r["kind"], address=r["address"],
                  tx_hash=r["tx_hash"], log_index=r["log_index"], block=r["block"], detail=json.loads(r["detail"]),
                  source=r["source"])
            for r in rows
        ]

    # ------------------------------------------------------------ source health

    def record_poll_runs(self, runs: Sequence[PollRun]) -> None:
        if runs:
            self.write_driver(lambda db: self._insert_poll_runs(db, runs), "poll run write")

    def _insert_poll_runs(self, db: Any, runs: Sequence[PollRun]) -> None:
        ph = "%s" if self.dialect == "postgresql" else "?"
        cur = db.cursor()
        try:
            cur.executemany(f"INSERT INTO poll_runs ({', '.join(_POLL_COLUMNS)}) VALUES ({', '.join([ph] * 11)})",
                            [_poll_row(r) for r in runs])
        finally:
            cur.close()

    def prune_poll_runs(self, before: datetime) -> int:
        """Forget request health older than ``before`` (storage.health_retention)."""
        stmt = delete(s.poll_runs).where(s.poll_runs.c.started_at < epoch_s(before))
        return self.write(lambda c: c.execute(stmt).rowcount, "poll run prune")

    def read_poll_runs(self, since: datetime, token: str | None = None, source: str | None = None) -> pd.DataFrame:
        p = s.poll_runs.c
        q = select(s.poll_runs).where(p.started_at >= epoch_s(since)).order_by(p.started_at, p.id)
        if token is not None:
            q = q.where(p.token.in_([token, "*"]))
        if source is not None:
            q = q.where(p.source == source)
        rows = self.read(lambda c: c.execute(q).all(), "poll run read")
        frame = pd.DataFrame([tuple(r) for r in rows], columns=[col.name for col in s.poll_runs.columns])
        for col in ("started_at", "finished_at"):
            frame[col] = pd.to_datetime(frame[col].astype("int64"), unit="s", utc=True)
        return frame


def _hex_lower(value: str) -> str:
    """Hex hashes and addresses compare case-insensitively; other ids (exchange symbols) keep their case."""
    return value.lower() if value[:2].lower() == "0x" else value


def _copy_rows(cur: Any, table: str, rows: Iterable[ObsRow]) -> None:
    """Binary COPY (faster to encode than text): rows of (token, metric, source, ts, value)."""
    with cur.copy(f"COPY {table} (token, metric, source, ts, value) FROM STDIN (FORMAT BINARY)") as copy:
        copy.set_types(_COPY_TYPES)
        for row in rows:
            copy.write_row(row)


_POLL_COLUMNS = ("source", "token", "started_at", "finished_at", "status", "http_status", "error_class", "message",
                 "latency_ms", "rows", "endpoint")


def _poll_row(run: PollRun) -> tuple[Any, ...]:
    return (run.source, run.token, epoch_s(run.started_at), epoch_s(run.finished_at), run.status, run.http_status,
            run.error_class, (run.message or "")[:2000] or None, run.latency_ms, run.rows,
            (run.endpoint or "")[:200] or None)
