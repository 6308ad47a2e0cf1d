"""Kill harness for rows S1/S2: imports everything once, then forks one writer per command and SIGKILLs it.

Run as ``python -m tests.faults.killer.zygote`` from the repository root. Protocol: one JSON command per
stdin line {"db", "markers", "batches", "delay", "after_ready", "hook"}; one JSON reply per line {"pid", "killed",
"status"}. Forking from a warm process makes a kill point cost milliseconds instead of an interpreter
start, so hundreds fit in a CI run. The writer appends "b\n" to the markers file only after batch b's
transaction committed, so every listed batch must survive the kill.
"""

from __future__ import annotations

import gc
import json
import os
import select
import signal
import sys
import tempfile
import time

from sqlalchemy import event

from monitor.store import Store
from tests.faults.killer import batches


def _writer(cmd: dict, ready_fd: int) -> None:
    store = Store(f"sqlite:///{cmd['db']}")
    os.write(ready_fd, b"r")
    if cmd.get("hook"):
        # widen the window between the observation insert and the catalogue (cursor) update, so kills
        # land exactly there (row S2)
        @event.listens_for(store.engine, "after_cursor_execute")
        def _pause(conn, cursor, statement, *args):
            if statement.startswith("INSERT INTO observations"):
                time.sleep(0.004)

    fd = os.open(cmd["markers"], os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    for b in cmd["batches"]:
        store.write_batch(batches.observations(b), poll_runs=[batches.poll_run(b)])
        os.write(fd, f"{b}\n".encode())
    os.close(fd)


def _run(cmd: dict) -> dict:
    ready_r, ready_w = os.pipe()
    pid = os.fork()
    if pid == 0:
        os.close(ready_r)
        gc.disable()  # fewer copy-on-write page faults: start-up in milliseconds
        code = 0
        try:
            _writer(cmd, ready_w)
        except BaseException as exc:
            sys.stderr.write(f"writer failed: {type(exc).__name__}: {exc}\n")
            code = 3
        os._exit(code)
    os.close(ready_w)
    if cmd.get("after_ready"):  # count the delay from the end of start-up (schema check done)
        select.select([ready_r], [], [], 10)
    kill_at = time.monotonic() + cmd["delay"]
    done, status = os.waitpid(pid, os.WNOHANG)
    while done == 0 and time.monotonic() < kill_at:
        time.sleep(0.0005)
        done, status = os.waitpid(pid, os.WNOHANG)
    if done == 0:
        os.kill(pid, signal.SIGKILL)
        _, status = os.waitpid(pid, 0)
    os.close(ready_r)  # only now: the writer must never see a broken pipe
    # the writer may have finished between the last look and the kill
    killed = os.WIFSIGNALED(status) and os.WTERMSIG(status) == signal.SIGKILL
    return {"pid": pid, "killed": killed, "status": status}


def _warm_up() -> None:
    """Import and initialise everything lazy (SQLAlchemy dialects, compiled statements) before forking,
    so a writer reaches its first commit in milliseconds. No connection survives into the children."""
    with tempfile.TemporaryDirectory() as tmp:
        store = Store(f"sqlite:///{tmp}/warm.db")
        store.write_batch(batches.observations(0), poll_runs=[batches.poll_run(0)])
        store.close()


def main() -> None:
    _warm_up()
    gc.freeze()
    for line in sys.stdin:
        if not line.strip():
            continue
        reply = _run(json.loads(line))
        sys.stdout.write(json.dumps(reply) + "\n")
        sys.stdout.flush()


if __name__ == "__main__":
    main()
