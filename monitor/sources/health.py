"""Request health collected by clients; deliberately free of HTTP imports so the CLI starts fast."""

from __future__ import annotations

import threading
from collections.abc import Callable
from datetime import UTC, datetime

from monitor.model import PollRun


class HealthLog:
    """Collects PollRun rows from clients; jobs drain it into the store with the fetched data."""

    def __init__(self, now: Callable[[], datetime] | None = None) -> None:
        self._lock = threading.Lock()
        self._runs: list[PollRun] = []
        self.now = now or (lambda: datetime.now(UTC))  # the App's clock, frozen under replay

    def add(self, run: PollRun) -> None:
        with self._lock:
            self._runs.append(run)

    def record(self, source: str, token: str, endpoint: str, started: datetime, latency_ms: float | None,
               status: str, *, http_status: int | None = None, error_class: str | None = None,
               message: object = None, rows: int = 0, redact: Callable[[object], str] = str) -> None:
        """The one builder of a request's health row (every client family): message redacted, then cut."""
        self.add(PollRun(
            source=source, token=token or "*", started_at=started, finished_at=self.now(), status=status,
            http_status=http_status, error_class=error_class,
            message=redact(message)[:500] if message else None, latency_ms=latency_ms, rows=rows,
            endpoint=endpoint,
        ))

    def drain(self, source: str | None = None, token: str | None = None) -> list[PollRun]:
        """Take the runs of one source/token (None matches any); the rest stay."""

        def match(r: PollRun) -> bool:
            return (source is None or r.source == source) and (token is None or r.token in (token, "*"))

        with self._lock:
            out = [r for r in self._runs if match(r)]
            self._runs = [r for r in self._runs if not match(r)]
            return out
