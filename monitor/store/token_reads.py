"""The reads one judgement of one token needs, in one connection checkout on the driver's cursor (the
catalogue, then one indexed range read per wanted series): measured faster than building SQLAlchemy
statements per series (bench/)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, TypeVar

from sqlalchemy.engine import Connection

T = TypeVar("T")


@dataclass(frozen=True)
class TokenRows:
    catalogue: list[tuple[Any, ...]]  # (metric, source, first_ts, last_ts)
    series: list[tuple[str, str, list[Any]]]  # (metric, source, [(ts, value), ...]) oldest first
    poll_runs: list[tuple[Any, ...]]  # (source, status, http_status, started_at, rows, endpoint)
    any_event: bool


class TokenReads:
    if TYPE_CHECKING:  # provided by Store
        def read(self, fn: Callable[[Connection], T], action: str = ...) -> T: ...
    dialect: str

    def token_rows(self, token: str, since: Callable[[str], int | None], end: int, runs_since: int,
                   events_since: int) -> TokenRows:
        """Series of ``token`` whose metric ``since(metric)`` wants (None: skip), from that epoch second to
        ``end``; its poll runs (and the '*' ones) since ``runs_since``; whether any event lies after
        ``events_since``. Times are epoch seconds."""
        ph = "%s" if self.dialect == "postgresql" else "?"
        q_cat = f"SELECT metric, source, first_ts, last_ts FROM series WHERE token = {ph}"
        q_obs = (f"SELECT ts, value FROM observations WHERE token = {ph} AND metric = {ph} AND source = {ph} "
                 f"AND ts >= {ph} AND ts <= {ph} ORDER BY ts")
        q_runs = (f"SELECT source, status, http_status, started_at, rows, endpoint FROM poll_runs "
                  f"WHERE token IN ({ph}, '*') AND started_at >= {ph} AND started_at <= {ph}")
        q_any_event = f"SELECT 1 FROM events WHERE token = {ph} AND ts >= {ph} AND ts <= {ph} LIMIT 1"

        def run(conn: Any) -> TokenRows:
            cur = conn.connection.driver_connection.cursor()
            try:
                cur.execute(q_cat, (token,))
                cat = [tuple(r) for r in cur.fetchall()]
                parts = []
                for metric, source, first_ts, last_ts in sorted(cat):
                    start = since(metric)
                    if start is not None and first_ts <= end and last_ts >= start:
                        cur.execute(q_obs, (token, metric, source, start, end))
                        parts.append((metric, source, cur.fetchall()))
                cur.execute(q_runs, (token, runs_since, end))
                runs = cur.fetchall()
                cur.execute(q_any_event, (token, events_since, end))
                return TokenRows(cat, parts, runs, cur.fetchone() is not None)
            finally:
                cur.close()

        return self.read(run, "evaluation read")
