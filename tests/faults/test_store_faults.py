"""Rows S3-S7: concurrent writers, disk full / read-only, replayed windows, corrupt files, and a
PostgreSQL connection dropped mid-transaction. Real SQLite files and the local PostgreSQL only."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
from pathlib import Path

import pytest
from sqlalchemy import event, insert, select

from monitor.errors import StoreError
from monitor.sources.base import make_frame
from monitor.store import Store
from monitor.store import schema as s
from tests.faults.killer.concurrent_writer import transaction_rows

ROOT = Path(__file__).resolve().parents[2]
N_TX = 500


def _count(store: Store, table: str = "observations") -> int:
    return store.read(lambda c: c.exec_driver_sql(f"SELECT count(*) FROM {table}").scalar())


def test_s3_eight_threads_and_two_processes_never_see_database_is_locked(sqlite_url):
    store = Store(sqlite_url)
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    procs = [subprocess.Popen([sys.executable, "-m", "tests.faults.killer.concurrent_writer", sqlite_url,
                               f"proc{i}", str(N_TX)], cwd=ROOT, env=env, stdout=subprocess.PIPE, text=True)
             for i in range(2)]
    errors: list[str] = []
    stop_reading = threading.Event()

    def writer(name: str) -> None:
        for i in range(N_TX):
            obs, runs = transaction_rows(name, i)
            try:
                store.write_batch(obs, poll_runs=runs)
            except StoreError as exc:  # what a job would see
                errors.append(str(exc))

    def reader() -> None:  # the report job reading while everyone writes
        while not stop_reading.is_set():
            try:
                store.read_series("CONC", ["oi_usd"])
            except StoreError as exc:
                errors.append(f"reader: {exc}")

    threads = [threading.Thread(target=writer, args=(f"thread{i}",)) for i in range(8)]
    threads.append(threading.Thread(target=reader))
    for t in threads:
        t.start()
    for t in threads[:-1]:
        t.join(timeout=240)
    stop_reading.set()
    threads[-1].join(timeout=10)
    outputs = [json.loads(p.communicate(timeout=240)[0]) for p in procs]
    assert errors == []
    assert [o["n_errors"] for o in outputs] == [0, 0], outputs
    assert [p.returncode for p in procs] == [0, 0]
    assert _count(store) == 10 * N_TX
    assert _count(store, "poll_runs") == 10 * N_TX
    store.close()


def _frame(token: str, n: int, start: int = 1_717_200_000):
    return make_frame((start + i * 3600, "fake", token, "oi_usd", 1000.0 + i) for i in range(n))


def test_s4_disk_full_rolls_back_with_a_clear_error_and_the_store_recovers(sqlite_url):
    store = Store(sqlite_url)
    store.write_batch(_frame("AIA", 10))
    pages = store.read(lambda c: c.exec_driver_sql("PRAGMA page_count").scalar())

    def cap(dbapi_conn, _record):
        dbapi_conn.execute(f"PRAGMA max_page_count = {pages + 2}")

    store.engine.dispose()
    event.listen(store.engine, "connect", cap)
    with pytest.raises(StoreError, match=r"batch write failed: .*disk is full.*free disk space"):
        store.write_batch(_frame("BIG", 20_000))
    event.remove(store.engine, "connect", cap)
    store.engine.dispose()  # next tick, space is back
    assert _count(store) == 10  # nothing of the failed batch
    store.write_batch(_frame("BIG", 20_000))
    assert _count(store) == 20_010 and store.integrity_ok()
    store.close()


def test_s4_read_only_database_gives_a_clear_error_and_keeps_reading(sqlite_url):
    store = Store(sqlite_url)
    store.write_batch(_frame("AIA", 5))

    def read_only(dbapi_conn, _record):
        dbapi_conn.execute("PRAGMA query_only = ON")

    store.engine.dispose()
    event.listen(store.engine, "connect", read_only)
    with pytest.raises(StoreError, match=r"batch write failed: .*readonly database.*read-only; nothing of this"):
        store.write_batch(_frame("AIA", 50))
    assert len(store.read_series("AIA", ["oi_usd"])) == 5  # reads still work; nothing half-written
    store.close()


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes through file permissions")
def test_s4_read_only_file_permissions(tmp_path):
    url = f"sqlite:///{tmp_path / 'ro.db'}"
    Store(url).close()
    (tmp_path / "ro.db").chmod(0o444)
    store = Store(url, create=False)
    with pytest.raises(StoreError, match="read-only"):
        store.write_batch(_frame("AIA", 5))
    store.close()


def test_s5_the_same_window_twice_leaves_the_row_count_unchanged(store):
    store.write_batch(_frame("AIA", 48))
    before = (_count(store), store.catalogue("AIA").to_dict("records"))
    store.write_batch(_frame("AIA", 48))  # restart replay
    store.write_batch(_frame("AIA", 24, start=1_717_200_000 + 24 * 3600))  # overlap of the next poll
    assert _count(store) == before[0] == 48
    after = store.catalogue("AIA").to_dict("records")
    assert [(r["first_ts"], r["last_ts"]) for r in after] == [(r["first_ts"], r["last_ts"]) for r in before[1]]


@pytest.mark.parametrize("content", [b"not a database at all\n" * 50,
                                     b"SQLite format 3\x00" + b"\xff" * 8000])
def test_s6_a_corrupt_file_is_refused_and_never_overwritten(tmp_path, content):
    path = tmp_path / "divmon.db"
    path.write_bytes(content)
    with pytest.raises(StoreError) as info:
        Store(f"sqlite:///{path}")
    assert str(path) in str(info.value) or "damaged" in str(info.value) or "not a" in str(info.value)
    assert path.read_bytes() == content


def test_s7_postgres_connection_dropped_mid_transaction_rolls_back_and_retries(pg_url):
    import psycopg

    store = Store(pg_url)
    attempts: list[int] = []

    def work(conn):
        attempts.append(1)
        conn.execute(insert(s.meta).values(key="s7", value=str(len(attempts)), updated_at=1))
        if len(attempts) == 1:
            pid = conn.exec_driver_sql("SELECT pg_backend_pid()").scalar()
            with psycopg.connect("host=127.0.0.1 port=5432 user=root dbname=test", autocommit=True) as admin:
                admin.execute("SELECT pg_terminate_backend(%s)", [pid])
        conn.exec_driver_sql("SELECT 1")
        return len(attempts)

    assert store.write(work, "s7 write") == 2
    rows = store.read(lambda c: c.execute(select(s.meta.c.value).where(s.meta.c.key == "s7")).all())
    assert rows == [("2",)]  # the first attempt was rolled back, not half-kept
    store.write_batch(_frame("AIA", 3))  # and the store keeps working
    assert _count(store) == 3
    store.close()
