"""PostgreSQL from empty: the first `divmon poll` creates the schema once, however many threads poll; `report`
and `check` evaluating at the same time keep one open episode per flag."""

from __future__ import annotations

import time

import pytest

from monitor.store import Store
from tests.integration.reliability.loopback import divmon, scenario, start_divmon

pytestmark = pytest.mark.postgres
QUICK = ("coinglass", "coingecko", "defillama", "github")  # sources that fetch whole (no partial extras)


def test_first_poll_and_checks_started_together_on_an_empty_postgres_database_all_succeed(tmp_path, pg_url):
    with scenario(tmp_path, pg_url, sources=QUICK) as cfg:
        procs = [start_divmon(cfg, *args) for args in (("poll",), *[("check", "SURGE", "--no-poll")] * 3)]
        results = [(p.args, *p.communicate(timeout=120), p.returncode) for p in procs]
    for args, _out, err, code in results:
        assert "error" not in err, err[-2000:]
        assert code in ((0,) if "poll" in args else (3,)), err[-2000:]  # check: no data yet, UNKNOWN
    store = Store(pg_url, create=False)
    try:
        fetched = store.read(lambda c: c.exec_driver_sql(
            "SELECT source, count(*) FROM poll_runs WHERE endpoint = 'fetch' GROUP BY source").all())
        assert dict(fetched) == {s: 4 for s in QUICK}
        assert store.schema_version() == 2
    finally:
        store.close()


def _waiting(conn) -> int:
    """Backends of this database waiting for a lock (the table lock below, or the flag-sync lock)."""
    row = conn.execute("SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
                       "AND wait_event_type = 'Lock' AND pid <> pg_backend_pid()").fetchone()
    return row[0]


def test_concurrent_report_and_check_on_postgres_both_succeed_with_one_open_episode_per_flag(tmp_path, pg_url):
    import psycopg

    schema = pg_url.rsplit("%3D", 1)[1]
    with scenario(tmp_path, pg_url, sources=QUICK) as cfg:
        assert divmon(cfg, "poll").returncode == 0
        # Writers to flags wait while this transaction holds the table: every process has read "no open
        # episode" before any of them writes, the widest form of the race two evaluations run into.
        with psycopg.connect("host=127.0.0.1 port=5432 user=root dbname=test", options=f"-csearch_path={schema}") as hold:
            hold.execute("LOCK TABLE flags IN SHARE ROW EXCLUSIVE MODE")
            procs = [start_divmon(cfg, *args) for args in (
                ("report", "--format", "json", "--out", str(tmp_path / "r.json")),
                ("check", "SURGE", "--no-poll"), ("check", "SURGE", "--no-poll"))]
            with psycopg.connect("host=127.0.0.1 port=5432 user=root dbname=test", autocommit=True) as watch:
                deadline = time.monotonic() + 60
                while _waiting(watch) < len(procs) and time.monotonic() < deadline:
                    time.sleep(0.2)
            hold.rollback()
        results = [(p.args, *p.communicate(timeout=60), p.returncode) for p in procs]
    for args, _out, err, code in results:
        assert "error" not in err, err[-2000:]
        assert code in ((0,) if "report" in args else (0, 1, 2, 3)), err[-2000:]
    store = Store(pg_url, create=False)
    try:
        open_episodes = store.read(lambda c: c.exec_driver_sql(
            "SELECT token, rule, count(*) FROM flags WHERE resolved_at IS NULL GROUP BY token, rule").all())
    finally:
        store.close()
    assert open_episodes and all(n == 1 for _, _, n in open_episodes), open_episodes
