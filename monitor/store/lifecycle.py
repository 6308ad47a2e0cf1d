"""Opening a database: the file checked through SQLite itself, the schema created or migrated once.

Mixed into Store, which provides the engine and ``read``/``write``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from sqlalchemy import select
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.exc import DBAPIError, OperationalError, ProgrammingError

from monitor.errors import StoreError
from monitor.store import schema as s
from monitor.store.db import NOT_A_DATABASE, translate

MIGRATION_LOCK = 0x6469766D6F6E  # pg_advisory_xact_lock key ("divmon") held while the schema is created


class Lifecycle:
    engine: Engine
    dialect: str
    read: Callable[..., Any]
    write: Callable[..., Any]
    _set_meta: Callable[..., Any]

    def check_file(self) -> None:
        """SQLite: refuse a file that is no database or fails quick_check (read-only; the file is left as is)."""
        if self.dialect != "sqlite":
            return
        where = self.engine.url.database or "the database"
        try:
            with self.engine.connect() as conn:
                problems = [r[0] for r in conn.exec_driver_sql("PRAGMA quick_check").fetchall()]
        except DBAPIError as exc:
            if "file is not a database" in str(exc.orig):
                raise StoreError(f"{where} {NOT_A_DATABASE}") from None
            with translate("integrity check"):
                raise
        if problems != ["ok"]:
            found = " ".join(problems[:3]).replace("\n", " ")[:300]
            raise StoreError(f"{where} is damaged (quick_check: {found}); restore it from a backup or move it aside "
                             "(it was not modified)")

    def schema_version(self) -> int | None:
        """The recorded schema version, None before the first migration."""
        try:
            with self.engine.connect() as conn:
                row = conn.execute(select(s.meta.c.value).where(s.meta.c.key == "schema_version")).first()
        except (OperationalError, ProgrammingError):  # no meta table yet
            return None
        return int(row[0]) if row else None

    def migrate(self) -> int:
        if self.schema_version() == s.SCHEMA_VERSION:
            return s.SCHEMA_VERSION  # the usual start: no write lock taken

        def run(conn: Connection) -> int:
            if self.dialect == "postgresql":  # processes starting together create the tables once, in turn
                conn.exec_driver_sql("SELECT pg_advisory_xact_lock(%s)", (MIGRATION_LOCK,))
            s.metadata.create_all(conn)
            row = conn.execute(select(s.meta.c.value).where(s.meta.c.key == "schema_version")).first()
            version = int(row[0]) if row else 0
            if version > s.SCHEMA_VERSION:
                raise StoreError(
                    f"database schema version {version} is newer than this program ({s.SCHEMA_VERSION}); upgrade divmon"
                )
            for target in range(max(version, 1) + 1, s.SCHEMA_VERSION + 1):
                for stmt in s.MIGRATIONS.get(target, []):
                    conn.exec_driver_sql(stmt)
            if version != s.SCHEMA_VERSION:
                self._set_meta(conn, "schema_version", str(s.SCHEMA_VERSION))
            return s.SCHEMA_VERSION

        return self.write(run, "schema migration")

    def integrity_ok(self) -> bool:
        if self.dialect != "sqlite":
            return True
        return self.read(lambda c: c.exec_driver_sql("PRAGMA integrity_check").scalar() == "ok")
