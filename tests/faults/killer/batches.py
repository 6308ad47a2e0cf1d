"""Deterministic ingest batches for the kill harness: batch b always holds the same rows, so a replay
must converge to the same table."""

from __future__ import annotations

from datetime import UTC, datetime

from monitor.model import PollRun

TOKEN, SOURCE = "KILL", "killsrc"
METRICS = ("oi_usd", "funding_rate", "volume_usd", "price_usd")
ROWS = 50  # per metric, so a batch is 200 observations
BASE_TS = 1_700_000_000
STEP_S = 60


def ts_range(b: int) -> tuple[int, int]:
    return BASE_TS + b * ROWS * STEP_S, BASE_TS + (b * ROWS + ROWS - 1) * STEP_S


def observations(b: int) -> list[tuple[str, str, str, int, float]]:
    first, _ = ts_range(b)
    return [(TOKEN, metric, SOURCE, first + j * STEP_S, b * 1000.0 + j + k / 10)
            for k, metric in enumerate(METRICS) for j in range(ROWS)]


def poll_run(b: int) -> PollRun:
    now = datetime.now(UTC)
    return PollRun(source=SOURCE, token=TOKEN, started_at=now, finished_at=now, status="ok", http_status=200,
                   error_class=None, message=None, latency_ms=1.0, rows=ROWS * len(METRICS),
                   endpoint=f"batch/{b}")
