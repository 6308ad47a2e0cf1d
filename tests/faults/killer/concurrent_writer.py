"""Row S3 helper process: ``python -m tests.faults.killer.concurrent_writer DB_URL WRITER_ID N``.

Runs N small write transactions (one observation + one health row each) against the shared database
and prints one JSON line: {"ok": n, "errors": [...]}. Exit code 0 only when every transaction landed.
"""

from __future__ import annotations

import json
import sys
from datetime import UTC, datetime

from monitor.errors import StoreError
from monitor.model import PollRun
from monitor.store import Store


def transaction_rows(writer: str, i: int) -> tuple[list[tuple[str, str, str, int, float]], list[PollRun]]:
    now = datetime.now(UTC)
    obs = [("CONC", "oi_usd", writer, 1_700_000_000 + i * 60, float(i))]
    run = PollRun(source=writer, token="CONC", started_at=now, finished_at=now, status="ok", http_status=200,
                  error_class=None, message=None, latency_ms=0.1, rows=1, endpoint=f"tx/{i}")
    return obs, [run]


def main(url: str, writer: str, n: int) -> int:
    store = Store(url)
    ok, errors = 0, []
    for i in range(n):
        obs, runs = transaction_rows(writer, i)
        try:
            store.write_batch(obs, poll_runs=runs)
            ok += 1
        except StoreError as exc:
            errors.append(str(exc)[:200])
    store.close()
    sys.stdout.write(json.dumps({"ok": ok, "errors": errors[:5], "n_errors": len(errors)}) + "\n")
    return 0 if not errors else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1], sys.argv[2], int(sys.argv[3])))
