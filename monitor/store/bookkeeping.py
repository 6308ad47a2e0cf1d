"""Bookkeeping half of the Store: flag history, deliveries, meta values and leases.

Mixed into Store, which provides ``read``/``write`` (transactions with SQLite lock handling).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any, TypeVar

from sqlalchemy import delete, select, update
from sqlalchemy.engine import Connection

from monitor.model import Flag
from monitor.store import schema as s
from monitor.timeutil import epoch_s, from_epoch, utcnow

T = TypeVar("T")
FLAG_LOCK = 0x666C6167  # pg_advisory_xact_lock class ("flag") serializing one token's flag sync


@dataclass(frozen=True)
class FlagTransitions:
    new: list[dict[str, Any]]
    ongoing: list[dict[str, Any]]
    resolved: list[dict[str, Any]]


class Bookkeeping:
    if TYPE_CHECKING:  # provided by Store
        def read(self, fn: Callable[[Connection], T], action: str = ...) -> T: ...
        def write(self, fn: Callable[[Connection], T], action: str = ...) -> T: ...
    dialect: str

    def _insert(self, table: Any) -> Any:
        """INSERT with this dialect's ON CONFLICT clause available."""
        from sqlalchemy.dialects import postgresql, sqlite

        return (postgresql if self.dialect == "postgresql" else sqlite).insert(table)

    # ------------------------------------------------------------ flags

    def sync_flags(self, token: str, fired: Sequence[Flag], now: datetime) -> FlagTransitions:
        """Open new flags, extend ongoing ones, resolve those that no longer fire (one row per episode)."""
        ts = epoch_s(now)
        f = s.flags.c

        def run(conn: Connection) -> FlagTransitions:
            if self.dialect == "postgresql":  # SQLite's BEGIN IMMEDIATE already serializes this read-then-write
                conn.exec_driver_sql("SELECT pg_advisory_xact_lock(%s, hashtext(%s))", (FLAG_LOCK, token))
            open_rows = {
                r["rule"]: dict(r)
                for r in conn.execute(select(s.flags).where(f.token == token, f.resolved_at.is_(None))).mappings()
            }
            new, ongoing, resolved = [], [], []
            for flag in fired:
                values = {"last_seen": ts, "severity": flag.severity, "message": flag.message,
                          "evidence": json.dumps(flag.evidence, sort_keys=True, default=str)}
                if flag.rule in open_rows:
                    row = open_rows.pop(flag.rule)
                    conn.execute(update(s.flags).where(f.token == token, f.rule == flag.rule,
                                                       f.first_seen == row["first_seen"]).values(**values))
                    ongoing.append({**row, **values})
                else:
                    row = {"token": token, "rule": flag.rule, "first_seen": ts, "resolved_at": None, **values}
                    # an episode resolved within this same second fires again: it is reopened, not duplicated
                    conn.execute(self._insert(s.flags).values(**row).on_conflict_do_update(
                        index_elements=["token", "rule", "first_seen"], set_={**values, "resolved_at": None}))
                    new.append(row)
            for rule, row in open_rows.items():
                conn.execute(update(s.flags).where(f.token == token, f.rule == rule,
                                                   f.first_seen == row["first_seen"]).values(resolved_at=ts))
                resolved.append({**row, "resolved_at": ts})
            return FlagTransitions(new, ongoing, resolved)

        return self.write(run, "flag sync")

    def read_flags(self, since: datetime | None = None, token: str | None = None) -> list[dict[str, Any]]:
        """Flag episodes seen since a time (or all), newest first; evidence decoded."""
        f = s.flags.c
        q = select(s.flags).order_by(f.last_seen.desc())
        if since is not None:
            q = q.where(f.last_seen >= epoch_s(since))
        if token is not None:
            q = q.where(f.token == token)
        rows = self.read(lambda c: c.execute(q).mappings().all(), "flag read")
        return [{**r, "evidence": json.loads(r["evidence"])} for r in rows]

    # ------------------------------------------------------------ deliveries and meta

    def get_delivery(self, channel: str, period: str) -> dict[str, Any] | None:
        d = s.deliveries.c
        q = select(s.deliveries).where(d.channel == channel, d.period == period)
        row = self.read(lambda c: c.execute(q).mappings().first(), "delivery read")
        return dict(row) if row else None

    def save_delivery(self, channel: str, period: str, **values: Any) -> None:
        """Create or update the delivery record of (channel, period)."""
        d = s.deliveries.c

        def run(conn: Connection) -> None:
            exists = conn.execute(select(d.status).where(d.channel == channel, d.period == period)).first()
            if exists:
                conn.execute(update(s.deliveries).where(d.channel == channel, d.period == period).values(**values))
            else:
                values.setdefault("created_at", epoch_s(utcnow()))
                values.setdefault("status", "pending")
                conn.execute(s.deliveries.insert().values(channel=channel, period=period, **values))

        self.write(run, "delivery write")

    def list_deliveries(self, channel: str | None = None, status: str | None = None) -> list[dict[str, Any]]:
        d = s.deliveries.c
        q = select(s.deliveries).order_by(d.period)
        if channel is not None:
            q = q.where(d.channel == channel)
        if status is not None:
            q = q.where(d.status == status)
        return [dict(r) for r in self.read(lambda c: c.execute(q).mappings().all(), "delivery read")]

    def get_meta(self, key: str) -> str | None:
        q = select(s.meta.c.value).where(s.meta.c.key == key)
        row = self.read(lambda c: c.execute(q).first())
        return row[0] if row else None

    def set_meta(self, key: str, value: str) -> None:
        self.write(lambda conn: self._set_meta(conn, key, value), "meta write")

    def _set_meta(self, conn: Connection, key: str, value: str) -> None:
        m = s.meta.c
        now = epoch_s(utcnow())
        if conn.execute(select(m.key).where(m.key == key)).first():
            conn.execute(update(s.meta).where(m.key == key).values(value=value, updated_at=now))
        else:
            conn.execute(s.meta.insert().values(key=key, value=value, updated_at=now))

    def acquire_lock(self, name: str, owner: str, ttl_s: float, now: datetime | None = None) -> bool:
        """Take a named lease; refused while another owner's lease is younger than ttl_s."""
        now_s = epoch_s(now or utcnow())
        m = s.meta.c
        key = f"lock:{name}"

        def run(conn: Connection) -> bool:
            row = conn.execute(select(m.value, m.updated_at).where(m.key == key)).first()
            if row and row[0] != owner and now_s - row[1] < ttl_s:
                return False
            if row:
                conn.execute(update(s.meta).where(m.key == key).values(value=owner, updated_at=now_s))
            else:
                conn.execute(s.meta.insert().values(key=key, value=owner, updated_at=now_s))
            return True

        return self.write(run, "lock")

    def release_lock(self, name: str, owner: str) -> None:
        m = s.meta.c
        stmt = delete(s.meta).where(m.key == f"lock:{name}", m.value == owner)
        self.write(lambda c: c.execute(stmt), "lock release")

    def lock_holder(self, name: str) -> tuple[str, datetime] | None:
        m = s.meta.c
        row = self.read(lambda c: c.execute(select(m.value, m.updated_at).where(m.key == f"lock:{name}")).first())
        return (row[0], from_epoch(row[1])) if row else None
