"""Engines: SQLite (WAL, busy timeout, BEGIN IMMEDIATE for writes) or PostgreSQL, and translation of
driver errors into StoreError in one place."""

from __future__ import annotations

import contextlib
import logging
import random
import sqlite3
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, TypeVar

from sqlalchemy import create_engine, event
from sqlalchemy.engine import Connection, Engine, make_url
from sqlalchemy.exc import ArgumentError, DBAPIError, OperationalError, SQLAlchemyError

from monitor.errors import StoreError

T = TypeVar("T")

log = logging.getLogger(__name__)

_LOCKED = ("database is locked", "database table is locked", "busy")


def redact_url(url: str) -> str:
    try:
        return make_url(url).render_as_string(hide_password=True)
    except ArgumentError:
        return "(unparseable storage URL)"


NOT_A_DATABASE = "exists but is not a SQLite database; refusing to use or overwrite it"


def make_engine(url: str, *, busy_timeout_s: float = 30.0) -> Engine:
    try:
        parsed = make_url(url)
    except ArgumentError:
        raise StoreError("storage.url is not a valid database URL") from None
    if parsed.get_backend_name() == "sqlite":
        db = parsed.database or ""
        if db and db != ":memory:":
            path = Path(db)
            if not path.parent.exists():
                raise StoreError(f"storage.url: directory {path.parent} does not exist")
            # the file itself is checked through SQLite (Store.check_file): closing a second descriptor on
            # it would drop every POSIX lock SQLite holds on it in this process
        engine = create_engine(
            parsed,
            connect_args={"timeout": busy_timeout_s, "isolation_level": None, "check_same_thread": False},
        )
        _sqlite_events(engine, busy_timeout_s)
        return engine
    if parsed.get_backend_name() == "postgresql":
        if parsed.drivername == "postgresql":
            parsed = parsed.set(drivername="postgresql+psycopg")
        try:
            return create_engine(parsed, pool_pre_ping=True, connect_args={"connect_timeout": 10})
        except ImportError:
            raise StoreError("PostgreSQL needs the driver: pip install 'divergence-monitor[postgres]'") from None
    raise StoreError(f"storage.url: unsupported database {parsed.get_backend_name()!r} (use sqlite or postgresql)")


def _sqlite_events(engine: Engine, busy_timeout_s: float) -> None:
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_conn: Any, _record: Any) -> None:
        cur = dbapi_conn.cursor()
        cur.execute(f"PRAGMA busy_timeout = {int(busy_timeout_s * 1000)}")
        cur.execute("PRAGMA journal_mode = WAL")
        cur.execute("PRAGMA synchronous = NORMAL")
        cur.execute("PRAGMA foreign_keys = ON")
        cur.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Connection) -> None:
        # Writers take the lock up front, so two writers never deadlock upgrading a read lock.
        mode = "BEGIN IMMEDIATE" if conn.get_execution_options().get("divmon_write") else "BEGIN"
        conn.exec_driver_sql(mode)


def is_locked(exc: BaseException) -> bool:
    orig = getattr(exc, "orig", exc)
    return isinstance(orig, sqlite3.OperationalError) and any(s in str(orig).lower() for s in _LOCKED)


# what the user can do about the common SQLite failures (the driver's text alone does not say)
_HINTS = (
    ("disk is full", "free disk space; nothing of this write was kept"),
    ("readonly database", "the database file or its directory is read-only; nothing of this write was kept"),
    ("disk i/o error", "the disk reported an I/O error; nothing of this write was kept"),
    ("malformed", "the database file is damaged; restore it from a backup (it was not modified)"),
    ("file is not a database", "the file is not a SQLite database; point storage.url elsewhere"),
)


@contextlib.contextmanager
def translate(action: str) -> Iterator[None]:
    try:
        yield
    except StoreError:
        raise
    except Exception as exc:
        if not isinstance(exc, (DBAPIError, SQLAlchemyError, sqlite3.Error)) and not _psycopg_error(exc):
            raise
        orig = getattr(exc, "orig", None) or exc
        text = (str(orig).splitlines() or [""])[0][:300]
        hint = next((h for needle, h in _HINTS if needle in text.lower()), None)
        message = f"{action} failed: {type(orig).__name__}: {text}" + (f" ({hint})" if hint else "")
        raise StoreError(message) from exc


def _psycopg_error(exc: BaseException) -> bool:
    """A driver error raised by psycopg directly (the Store's COPY and driver-cursor writes)."""
    psycopg = sys.modules.get("psycopg")  # not imported means it cannot have raised: no import cost
    return psycopg is not None and isinstance(exc, psycopg.Error)


def retry_locked(fn: Callable[[], T], *, attempts: int = 8, base_delay: float = 0.05, reconnects: int = 1) -> T:
    """Run fn(); on 'database is locked' (busy timeout already spent) back off and run it again.

    A connection dropped mid-transaction (PostgreSQL restart, pg_terminate_backend) has been rolled back
    by the server and invalidated in the pool; fn runs once more on a fresh connection. Safe because
    every write is a whole transaction of upserts.
    """
    attempt = 0
    while True:
        try:
            return fn()
        except (DBAPIError, sqlite3.OperationalError) as exc:  # the latter from Store.write_driver's own BEGIN
            if getattr(exc, "connection_invalidated", False) and reconnects > 0:
                reconnects -= 1
                log.warning("database connection lost mid-transaction (rolled back); retrying once")
                continue
            attempt += 1
            if not (isinstance(exc, (OperationalError, sqlite3.OperationalError)) and is_locked(exc)) or attempt >= attempts:
                raise
            delay = base_delay * (2 ** (attempt - 1)) * (0.5 + random.random())
            log.warning("database busy, retrying write in %.2fs (attempt %d)", delay, attempt)
            time.sleep(delay)
