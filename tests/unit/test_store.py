"""Store behaviour on a real SQLite file and on the local PostgreSQL server (fixture `store`)."""

from datetime import UTC, datetime, timedelta

import pandas as pd
import pytest
from sqlalchemy import text

from monitor.errors import StoreError
from monitor.model import Event, Flag, PollRun
from monitor.store import Store

T0 = datetime(2026, 1, 1, tzinfo=UTC)


def frame(n=24, metric="oi_usd", source="binance", token="AIA", start=T0, scale=1.0):
    return pd.DataFrame(
        {
            "ts": [start + timedelta(hours=i) for i in range(n)],
            "source": source,
            "token": token,
            "metric": metric,
            "value": [scale * (i + 1) for i in range(n)],
        }
    )


def table(store, name):
    with store.engine.connect() as c:
        return sorted(tuple(r) for r in c.execute(text(f"SELECT * FROM {name}")))


def test_upserting_the_same_rows_twice_leaves_the_same_table(store):
    store.upsert_observations(frame())
    first = table(store, "observations")
    store.upsert_observations(frame())
    assert table(store, "observations") == first
    assert len(first) == 24


def test_upsert_updates_changed_values_and_keeps_catalogue_bounds(store):
    store.upsert_observations(frame())
    store.upsert_observations(frame(n=2, scale=10.0))
    got = store.read_series("AIA", ["oi_usd"])
    assert got["value"].tolist()[:3] == [10.0, 20.0, 3.0]
    cat = store.catalogue("AIA")
    assert cat.loc[0, "first_ts"] == pd.Timestamp(T0)
    assert cat.loc[0, "last_ts"] == pd.Timestamp(T0 + timedelta(hours=23))


def test_read_series_returns_utc_frame_within_window(store):
    store.upsert_observations(pd.concat([frame(), frame(source="okx"), frame(metric="tvl_usd", source="defillama")]))
    got = store.read_series("AIA", ["oi_usd"], start=T0 + timedelta(hours=10), end=T0 + timedelta(hours=11))
    assert list(got.columns) == ["ts", "source", "token", "metric", "value"]
    assert str(got["ts"].dt.tz) == "UTC"
    assert sorted(got["source"].unique()) == ["binance", "okx"]
    assert len(got) == 4


def test_non_finite_values_are_rejected_whole(store):
    bad = frame(n=3)
    bad.loc[1, "value"] = float("nan")
    with pytest.raises(StoreError, match="non-finite"):
        store.upsert_observations(bad)
    assert table(store, "observations") == []


def test_cursor_is_the_oldest_latest_ts_of_a_sources_series(store):
    store.upsert_observations(pd.concat([frame(n=10), frame(n=5, metric="funding_rate")]))
    assert store.latest_ts("AIA", "binance") == T0 + timedelta(hours=4)
    assert store.latest_ts("AIA", "binance", "oi_usd") == T0 + timedelta(hours=9)
    assert store.latest_ts("AIA", "okx") is None


def test_events_dedupe_on_chain_tx_and_log_index(store):
    ev = Event(ts=T0, token="AIA", chain="bsc", kind="proxy_upgraded", address="0xAB", tx_hash="0xDEAD",
               log_index=3, block=100, detail={"implementation": "0x01"})
    store.upsert_events([ev, ev])
    store.upsert_events([ev])
    got = store.read_events("AIA")
    assert got == [Event(ts=T0, token="AIA", chain="bsc", kind="proxy_upgraded", address="0xab",
                         tx_hash="0xdead", log_index=3, block=100, detail={"implementation": "0x01"})]
    assert store.delete_events("bsc", ["0xDEAD"]) == 1
    assert store.read_events("AIA") == []


def test_write_batch_is_all_or_nothing(store):
    run = PollRun("binance", "AIA", T0, T0, "ok")
    bad_event = Event(ts=T0, token="AIA", chain="bsc", kind="x", address="0x1", tx_hash="0x2", log_index=0,
                      detail={"x": 1})
    broken = [bad_event, bad_event.__class__(**{**bad_event.__dict__, "kind": None})]  # NOT NULL violation
    with pytest.raises(StoreError):
        store.write_batch(frame(), broken, [run])
    assert table(store, "observations") == []
    assert table(store, "poll_runs") == []


def test_flag_history_tells_new_ongoing_and_resolved(store):
    fired = [Flag("oi_surge_unsupported", "high", "OI +160%", {"oi_pct": 160.0})]
    t = store.sync_flags("AIA", fired, T0)
    assert [r["rule"] for r in t.new] == ["oi_surge_unsupported"] and not t.ongoing and not t.resolved
    t = store.sync_flags("AIA", fired, T0 + timedelta(hours=1))
    assert not t.new and [r["rule"] for r in t.ongoing] == ["oi_surge_unsupported"]
    t = store.sync_flags("AIA", [], T0 + timedelta(hours=2))
    assert [r["rule"] for r in t.resolved] == ["oi_surge_unsupported"]
    history = store.read_flags(token="AIA")
    assert history[0]["resolved_at"] is not None and history[0]["evidence"] == {"oi_pct": 160.0}


def test_a_flag_firing_again_in_the_second_it_resolved_reopens_that_episode(store):
    # a frozen clock (replay, `--at`-less reruns within a second) evaluates several times at one ts
    fired = [Flag("perp_spot_ratio", "warn", "ratio 12", {"ratio": 12.0})]
    store.sync_flags("AIA", fired, T0)
    store.sync_flags("AIA", [], T0)
    again = [Flag("perp_spot_ratio", "high", "ratio 140", {"ratio": 140.0})]
    t = store.sync_flags("AIA", again, T0)
    assert [r["severity"] for r in t.new] == ["high"]
    [row] = store.read_flags(token="AIA")
    assert (row["resolved_at"], row["severity"], row["evidence"]) == (None, "high", {"ratio": 140.0})


def test_token_rows_reads_only_the_wanted_series_within_their_spans(store):
    store.upsert_observations(pd.concat([frame(n=48), frame(n=48, metric="dev_commits", source="github"),
                                         frame(n=48, metric="ignored_metric", source="okx"),
                                         frame(n=48, token="OTHER")]))
    store.record_poll_runs([PollRun("binance", "AIA", T0, T0, "ok"), PollRun("okx", "*", T0, T0, "throttled", 429),
                            PollRun("okx", "OTHER", T0, T0, "ok"), PollRun("bybit", "AIA", T0 - timedelta(days=2),
                                                                            T0, "ok")])
    end = int((T0 + timedelta(hours=40)).timestamp())
    spans = {"oi_usd": end - 10 * 3600, "dev_commits": end - 30 * 3600}
    rows = store.token_rows("AIA", spans.get, end, int((T0 - timedelta(days=1)).timestamp()), end - 3600)
    assert len(rows.catalogue) == 3
    got = {(m, s): [ts for ts, _ in pts] for m, s, pts in rows.series}
    assert set(got) == {("oi_usd", "binance"), ("dev_commits", "github")}
    assert got[("oi_usd", "binance")] == list(range(end - 10 * 3600, end + 1, 3600))
    assert len(got[("dev_commits", "github")]) == 31
    assert sorted((r[0], r[1]) for r in rows.poll_runs) == [("binance", "ok"), ("okx", "throttled")]
    assert rows.any_event is False


def test_delivery_record_and_lock(store):
    assert store.get_delivery("email", "2026-01-01") is None
    store.save_delivery("email", "2026-01-01", message_id="<a@b>", status="pending", attempts=1)
    store.save_delivery("email", "2026-01-01", status="sent", attempts=2)
    got = store.get_delivery("email", "2026-01-01")
    assert (got["status"], got["attempts"], got["message_id"]) == ("sent", 2, "<a@b>")
    assert store.acquire_lock("daemon", "one", ttl_s=60, now=T0)
    assert not store.acquire_lock("daemon", "two", ttl_s=60, now=T0 + timedelta(seconds=30))
    assert store.acquire_lock("daemon", "two", ttl_s=60, now=T0 + timedelta(seconds=61))


def test_schema_version_is_recorded_and_migrate_is_idempotent(store_url):
    st = Store(store_url)
    assert st.get_meta("schema_version") == "2"
    st.close()
    again = Store(store_url)
    assert again.migrate() == 2
    again.close()


def test_a_version_1_database_is_migrated_additively(sqlite_url):
    import sqlite3

    st = Store(sqlite_url)
    st.upsert_observations(frame(n=3))
    st.close()
    path = sqlite_url.removeprefix("sqlite:///")
    with sqlite3.connect(path) as raw:  # make it look like a database written by schema version 1
        raw.execute("DROP INDEX ix_poll_runs_token_started")
        raw.execute("UPDATE meta SET value = '1' WHERE key = 'schema_version'")
    again = Store(sqlite_url)
    assert again.get_meta("schema_version") == "2"
    assert len(again.read_series("AIA", ["oi_usd"])) == 3
    with sqlite3.connect(path) as raw:
        names = {r[0] for r in raw.execute("SELECT name FROM sqlite_master WHERE type = 'index'")}
    assert "ix_poll_runs_token_started" in names
    again.close()


def test_old_request_health_is_pruned(store):
    store.record_poll_runs([PollRun("binance", "AIA", T0 - timedelta(days=40), T0, "ok"),
                            PollRun("binance", "AIA", T0, T0, "ok")])
    assert store.prune_poll_runs(T0 - timedelta(days=35)) == 1
    assert len(store.read_poll_runs(T0 - timedelta(days=100))) == 1


def test_garbage_sqlite_file_is_refused_and_left_untouched(tmp_path):
    path = tmp_path / "divmon.db"
    path.write_bytes(b"this is not a database" * 100)
    with pytest.raises(StoreError, match="not a SQLite database"):
        Store(f"sqlite:///{path}")
    assert path.read_bytes() == b"this is not a database" * 100


def test_sqlite_uses_wal_and_busy_timeout(sqlite_url):
    st = Store(sqlite_url)
    with st.engine.connect() as c:
        assert c.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
        assert c.exec_driver_sql("PRAGMA busy_timeout").scalar() == 30000
    st.close()


def test_new_rows_take_the_plain_path_and_a_repeated_key_falls_back_to_upsert(store):
    store.upsert_observations(frame(n=4))
    later = frame(n=3, start=T0 + timedelta(hours=4))  # all after the stored last ts: plain INSERT/COPY
    assert store.upsert_observations(later) == 3
    repeated = pd.concat([frame(n=2, start=T0 + timedelta(hours=7)), frame(n=1, start=T0 + timedelta(hours=7))])
    store.upsert_observations(repeated)  # the batch repeats a key: the plain path fails, the upsert takes over
    got = store.read_series("AIA", ["oi_usd"])
    assert len(got) == 9 and got["ts"].is_unique
    assert store.latest_ts("AIA", "binance") == T0 + timedelta(hours=8)


def test_rows_from_frame_orders_any_frame_by_key_like_a_tuple_sort():
    from monitor.store import rows_from_frame

    mixed = pd.concat([frame(n=5, token="b", source="okx"), frame(n=5, token="B"), frame(n=5, metric="tvl_usd"),
                       frame(n=5, token="é", metric="funding_rate")]).sample(frac=1, random_state=7)
    rows = rows_from_frame(mixed)
    assert rows == sorted(rows) and len(rows) == 20
    in_order = mixed.sort_values(["token", "metric", "source", "ts"])
    assert rows_from_frame(in_order) == rows


def test_exchange_event_ids_keep_their_case_while_hex_ids_fold(store):
    ev = Event(ts=T0, token="AIA", chain="exchange:binance", kind="funding_regime_changed", address="AIA/USDT:USDT",
               tx_hash="funding:binance:AIA/USDT:USDT:1794916800000", log_index=-1)
    store.upsert_events([ev])
    assert store.read_events("AIA")[0].address == "AIA/USDT:USDT"
