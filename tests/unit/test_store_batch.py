"""Observation batches (monitor/store/batch.py) and the writes built on them, on SQLite and PostgreSQL."""

from datetime import UTC, datetime, timedelta

import numpy as np
import pandas as pd
import pytest
from sqlalchemy import text

from monitor.errors import StoreError
from monitor.model import PollRun
from monitor.store import Store, rows_from_frame
from monitor.store.batch import SMALL, from_frame, from_rows

T0 = datetime(2026, 1, 1, tzinfo=UTC)


def long_frame(n_hours, tokens=("AIA", "b", "B", "é"), metrics=("oi_usd", "tvl_usd"), sources=("okx", "binance")):
    recs = [(T0 + timedelta(hours=h), s, t, m, float(h * 7 + len(t + m + s)))
            for t in tokens for m in metrics for s in sources for h in range(n_hours)]
    return pd.DataFrame(recs, columns=["ts", "source", "token", "metric", "value"])


def reference(frame):
    """What a batch must hold: one row per key, the last one given, in tuple order."""
    last = {}
    for ts, s, t, m, v in frame.itertuples(index=False, name=None):
        last[(t, m, s, int(pd.Timestamp(ts).timestamp()))] = v
    return [(*k, v) for k, v in sorted(last.items())]


def table(store):
    with store.engine.connect() as c:
        return [tuple(r) for r in c.execute(text("SELECT token, metric, source, ts, value FROM observations "
                                                 "ORDER BY token, metric, source, ts"))]


@pytest.mark.parametrize("hours", [2, 40])  # 32 rows (plain Python path) and 640 (numpy path)
def test_small_and_large_frames_give_key_ordered_rows_with_the_last_of_a_repeated_key(hours):
    base = long_frame(hours)
    assert (len(base) <= SMALL) == (hours == 2)
    again = base.iloc[::3].assign(value=lambda f: f["value"] + 0.5)  # repeats of some keys, given later
    mixed = pd.concat([base, again]).sample(frac=1, random_state=3)
    mixed = pd.concat([mixed, again])  # the last copy of a repeated key comes last in the input
    rows = rows_from_frame(mixed)
    assert rows == reference(mixed)
    assert len(rows) == len(base)
    batch = from_frame(mixed)
    assert [k for k, _, _ in batch.segments] == sorted({r[:3] for r in rows})
    assert batch.bounds() == {k: (min(r[3] for r in rows if r[:3] == k), max(r[3] for r in rows if r[:3] == k))
                              for k, _, _ in batch.segments}
    in_order = base.sort_values(["token", "metric", "source", "ts"])
    assert rows_from_frame(in_order) == reference(in_order)


def test_a_frame_out_of_order_only_in_a_later_column_is_sorted():
    frame = long_frame(300, tokens=("AIA",), metrics=("oi_usd",), sources=("okx",))
    swapped = pd.concat([frame.iloc[1:2], frame.iloc[:1], frame.iloc[2:]])  # same series, ts steps back once
    assert rows_from_frame(swapped) == reference(frame)
    by_source = long_frame(300, tokens=("AIA",), metrics=("oi_usd",), sources=("okx", "binance"))
    assert rows_from_frame(by_source) == reference(by_source)  # given okx before binance


@pytest.mark.parametrize("hours", [2, 40])
def test_timestamps_in_any_zone_or_unit_become_utc_epoch_seconds(hours):
    frame = long_frame(hours)
    expected = reference(frame)
    assert rows_from_frame(frame.assign(ts=frame["ts"].dt.tz_convert("Asia/Tokyo"))) == expected
    assert rows_from_frame(frame.assign(ts=frame["ts"].dt.tz_localize(None))) == expected  # naive means UTC
    assert rows_from_frame(frame.assign(ts=frame["ts"].dt.as_unit("ns"))) == expected
    assert rows_from_frame(frame.assign(ts=frame["ts"].astype(str))) == expected  # ISO text, as JSON gives it


@pytest.mark.parametrize("hours", [2, 40])
def test_missing_timestamps_and_non_finite_values_are_refused(hours):
    frame = long_frame(hours)
    with pytest.raises(StoreError, match="1 observation"):
        from_frame(frame.assign(ts=frame["ts"].where(frame.index != 1)))
    with pytest.raises(StoreError, match="2 observation"):
        from_frame(frame.assign(value=frame["value"].where(frame.index > 1, np.inf)))
    with pytest.raises(StoreError, match="lacks columns"):
        from_frame(frame.drop(columns="metric"))


def test_split_puts_rows_up_to_the_stored_last_ts_in_the_conflicting_part():
    batch = from_rows([("A", "m", "s", ts, 1.0) for ts in (10, 20, 30)] + [("B", "m", "s", 5, 2.0)]
                      + [("C", "m", "s", 7, 3.0)])
    old, new = batch.split({("A", "m", "s"): 20, ("B", "m", "s"): 4, ("C", "m", "s"): 9})
    assert list(batch.rows(old)) == [("A", "m", "s", 10, 1.0), ("A", "m", "s", 20, 1.0), ("C", "m", "s", 7, 3.0)]
    assert list(batch.rows(new)) == [("A", "m", "s", 30, 1.0), ("B", "m", "s", 5, 2.0)]
    assert old == [(("A", "m", "s"), 0, 2), (("C", "m", "s"), 4, 5)]  # no empty parts
    assert new == [(("A", "m", "s"), 2, 3), (("B", "m", "s"), 3, 4)]
    assert batch.split({}) == ([], batch.segments)  # a series the catalogue does not know is all new


@pytest.mark.parametrize("hours", [2, 40])
def test_a_key_repeated_in_one_write_stores_its_last_value(store, hours):
    base = long_frame(hours)
    store.write_batch(base.iloc[: len(base) // 2])  # some keys stored already: both the plain and the upsert part
    later = base.assign(value=base["value"] - 1.0)
    store.write_batch(pd.concat([base, later]))  # every key twice, the lower value last
    assert table(store) == reference(later)
    assert store.upsert_observations(pd.concat([later, base])) == len(base)
    assert table(store) == reference(base)


def test_rows_given_as_tuples_are_written_like_a_frame(store):
    frame = long_frame(3)
    tuples = [(t, m, s, int(ts.timestamp()), v) for ts, s, t, m, v in frame.itertuples(index=False, name=None)]
    run = PollRun("okx", "AIA", T0, T0, "ok", rows=len(tuples), endpoint="fetch")
    assert store.write_batch(tuples[::-1], poll_runs=[run]) == len(frame)
    assert table(store) == reference(frame)
    with pytest.raises(StoreError, match="non-finite"):
        store.upsert_observations([("AIA", "oi_usd", "okx", 1, float("nan"))])


def test_divmon_demo_writes_each_fetch_with_a_catalogue_that_matches_the_stored_rows(tmp_path):
    """The CLI's polls write through the small-batch path: every series' catalogue bounds are its rows' bounds."""
    from tests.cli.runner import divmon

    out = divmon("demo", "--dir", str(tmp_path), "--json", timeout=600)
    assert out.returncode == 0, out.stderr[-2000:]
    st = Store(f"sqlite:///{tmp_path / 'demo.db'}")
    try:
        with st.engine.connect() as c:
            stored = sorted(tuple(r) for r in c.execute(text(
                "SELECT token, metric, source, min(ts), max(ts), count(*) FROM observations GROUP BY 1, 2, 3")))
            catalogue = sorted(tuple(r) for r in c.execute(text("SELECT token, metric, source, first_ts, last_ts "
                                                                "FROM series")))
    finally:
        st.close()
    assert len(stored) > 20 and sum(r[5] for r in stored) > 1000
    assert [r[:5] for r in stored] == catalogue


def test_a_stored_row_the_catalogue_does_not_know_is_updated_not_duplicated(store):
    frame = long_frame(3, tokens=("AIA",), metrics=("oi_usd",), sources=("okx",))
    with store.engine.begin() as c:  # written behind the catalogue's back (as another tool might)
        c.execute(text("INSERT INTO observations (token, metric, source, ts, value) VALUES ('AIA', 'oi_usd', 'okx', "
                       f"{int(T0.timestamp()) + 3600}, -1.0)"))
    assert store.write_batch(frame) == 3
    assert table(store) == reference(frame)


@pytest.mark.postgres
def test_a_postgres_connection_dropped_during_a_batch_write_is_retried_on_a_fresh_one(pg_url):
    import psycopg

    st = Store(pg_url)
    attempts = []
    frame = long_frame(3)

    def write(db):  # the observation write, after the server dropped the connection on the first attempt
        attempts.append(db.info.backend_pid)
        if len(attempts) == 1:
            with psycopg.connect("host=127.0.0.1 port=5432 user=root dbname=test", autocommit=True) as admin:
                admin.execute("SELECT pg_terminate_backend(%s)", [db.info.backend_pid])
        return st._upsert_obs(db, from_frame(frame))

    try:
        assert st.write_driver(write, "batch write") == len(frame)
        assert len(attempts) == 2 and attempts[0] != attempts[1]
        assert table(st) == reference(frame)
        with pytest.raises(StoreError, match="batch write failed: NotNullViolation"):
            st.write_driver(lambda db: db.execute("INSERT INTO poll_runs (source) VALUES ('x')"), "batch write")
    finally:
        st.close()


def test_a_write_waiting_for_another_writer_past_its_busy_timeout_is_retried(tmp_path):
    import sqlite3
    import threading

    st = Store(f"sqlite:///{tmp_path / 'busy.db'}", busy_timeout_s=0.05)
    other = sqlite3.connect(tmp_path / "busy.db", isolation_level=None, check_same_thread=False)
    other.execute("BEGIN IMMEDIATE")  # another process's writer holds the lock for 0.5 s
    timer = threading.Timer(0.5, lambda: other.execute("COMMIT"))
    timer.start()
    try:
        assert st.write_batch(long_frame(2)) == 32
        assert table(st) == reference(long_frame(2))
    finally:
        timer.join()
        other.close()
        st.close()
