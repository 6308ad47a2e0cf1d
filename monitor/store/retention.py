"""Observation retention: points within a day older than one cutoff are thinned to the day's 00:00 UTC
point, every point older than another goes. One series per transaction (indexed range deletes over the
primary key), so a prune never holds the write lock for long; the catalogue keeps true bounds."""

from __future__ import annotations

from collections.abc import Callable
from functools import partial
from typing import TYPE_CHECKING, TypeVar

from sqlalchemy import select
from sqlalchemy.engine import Connection

from monitor.store import schema as s

T = TypeVar("T")

DAY_S = 86_400


class Retention:
    if TYPE_CHECKING:  # provided by Store
        def read(self, fn: Callable[[Connection], T], action: str = ...) -> T: ...
        def write(self, fn: Callable[[Connection], T], action: str = ...) -> T: ...
    dialect: str

    def prune_observations(self, intraday_before: int | None, all_before: int | None) -> int:
        """Delete points older than ``all_before`` and those within a day (ts not on 00:00 UTC) older than
        ``intraday_before`` (epoch seconds; None keeps them). Returns the number of points deleted."""
        cutoffs = [c for c in (intraday_before, all_before) if c is not None]
        if not cutoffs:
            return 0
        c = s.series.c
        old = select(c.token, c.metric, c.source).where(c.first_ts < max(cutoffs))
        keys = self.read(lambda conn: conn.execute(old).all(), "retention read")
        ph = "%s" if self.dialect == "postgresql" else "?"
        key = f"token = {ph} AND metric = {ph} AND source = {ph}"

        def one(conn: Connection, series: tuple[str, str, str]) -> int:
            n = 0
            if all_before is not None:
                n += conn.exec_driver_sql(f"DELETE FROM observations WHERE {key} AND ts < {ph}",
                                          (*series, all_before)).rowcount
            if intraday_before is not None:
                n += conn.exec_driver_sql(f"DELETE FROM observations WHERE {key} AND ts < {ph} AND ts % {DAY_S} <> 0",
                                          (*series, intraday_before)).rowcount
            if n:
                first, last = conn.exec_driver_sql(f"SELECT min(ts), max(ts) FROM observations WHERE {key}",
                                                   series).one()
                if first is None:
                    conn.exec_driver_sql(f"DELETE FROM series WHERE {key}", series)
                else:
                    conn.exec_driver_sql(f"UPDATE series SET first_ts = {ph}, last_ts = {ph} WHERE {key}",
                                         (first, last, *series))
            return n

        return sum(self.write(partial(one, series=tuple(k)), "retention") for k in keys)
