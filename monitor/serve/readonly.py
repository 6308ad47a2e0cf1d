"""The store opened so that it cannot be written: SQLite ``mode=ro`` (the file is opened read-only),
PostgreSQL sessions whose transactions default to READ ONLY. A bug in a page then fails loudly instead
of writing."""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

from sqlalchemy import Connection, Engine, create_engine, event
from sqlalchemy.pool import QueuePool

from monitor.errors import StoreError

if TYPE_CHECKING:
    from monitor.store import Store


def open_readonly(url: str, *, busy_timeout_s: float = 30.0) -> Store:
    from monitor.store import Store

    store = Store(url, create=False)
    if store.dialect == "sqlite":
        path = store.engine.url.database or ""
        if not path or path == ":memory:" or not Path(path).is_file():
            store.close()
            raise StoreError(f"storage.url: no database file at {path or '(none)'}; poll first (divmon poll)")
        store.engine.dispose()
        store.engine = _sqlite_readonly(Path(path).resolve(), busy_timeout_s)
    else:
        @event.listens_for(store.engine, "connect")
        def _read_only(dbapi_conn: Any, _record: Any) -> None:
            with dbapi_conn.cursor() as cur:
                cur.execute("SET SESSION CHARACTERISTICS AS TRANSACTION READ ONLY")
            dbapi_conn.commit()
    return store


def _sqlite_readonly(path: Path, busy_timeout_s: float) -> Engine:
    uri = f"file:{quote(str(path))}?mode=ro"

    def connect() -> sqlite3.Connection:
        conn = sqlite3.connect(uri, uri=True, timeout=busy_timeout_s, isolation_level=None, check_same_thread=False)
        conn.execute(f"PRAGMA busy_timeout = {int(busy_timeout_s * 1000)}")
        return conn

    engine = create_engine("sqlite://", creator=connect, poolclass=QueuePool, pool_size=4, max_overflow=8)

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Connection) -> None:
        conn.exec_driver_sql("BEGIN")

    return engine
