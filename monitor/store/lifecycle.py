"""Opening a database: the file checked through SQLite itself, the schema created or migrated once.

Mixed into Store, which provides the engine and ``read``/``write``.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, TypeVar

from sqlalchemy import select
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.exc import DBAPIError, OperationalError, ProgrammingError

from monitor.errors import StoreError
from monitor.store import schema as s
from monitor.store.db import NOT_A_DATABASE, translate

T = TypeVar("T")

QUICK_CHECK_KEY = "integrity:quick_check_ok_at"  # epoch seconds of the last clean quick_check
MIGRATION_LOCK = 0x6469766D6F6E  # pg_advisory_xact_lock key ("divmon") held while the schema is created


class Lifecycle:
    engine: Engine
    dialect: str
    if TYPE_CHECKING:  # provided by Store
        def read(self, fn: Callable[[Connection], T], action: str = ...) -> T: ...
        def write(self, fn: Callable[[Connection], T], action: str = ...) -> T: ...
    _set_meta: Callable[..., Any]

    def check_file(self, every_s: float = 0.0) -> None:
        """SQLite: refuse a file that is no database or fails quick_check (the file is left as is).

        quick_check reads the whole file (seconds for a large one), so a pass is remembered in ``meta`` and
        the check is repeated only when the last pass is older than ``every_s`` (0: every open)."""
        if self.dialect != "sqlite":
            return
        where = self.engine.url.database or "the database"
        try:
            with self.engine.connect() as conn:
                if every_s > 0 and _passed_within(conn, every_s):
                    return
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
        if every_s > 0 and self.schema_version() is not None:
            try:
                self.write(lambda conn: self._set_meta(conn, QUICK_CHECK_KEY, str(time.time())), "integrity note")
            except StoreError:  # a read-only file or a busy writer: the check simply runs again next time
                pass

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


def _passed_within(conn: Connection, every_s: float) -> bool:
    """A clean quick_check is recorded less than every_s ago (no meta table yet: never)."""
    try:
        row = conn.execute(select(s.meta.c.value).where(s.meta.c.key == QUICK_CHECK_KEY)).first()
    except OperationalError as exc:
        if "no such table" in str(exc.orig):
            return False
        raise
    try:
        return row is not None and 0 <= time.time() - float(row[0]) < every_s
    except ValueError:
        return False
