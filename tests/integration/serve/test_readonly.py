"""The dashboard's store cannot write, on SQLite and on PostgreSQL, and its queries run on both."""

from __future__ import annotations

import pandas as pd
import pytest

from monitor.app import App
from monitor.config import SOURCE_DEFAULTS, Secrets, parse_config
from monitor.errors import StoreError
from monitor.model import Flag, PollRun
from monitor.serve.dashboard import Dashboard
from monitor.serve.readonly import open_readonly
from monitor.store import Store
from tests.integration.outputs.helpers import T0


@pytest.fixture
def seeded(store_url):
    store = Store(store_url)
    idx = pd.date_range(end=T0, periods=48, freq="1h", tz="UTC")
    store.upsert_observations(pd.DataFrame({"ts": idx, "source": "binance", "token": "AAA", "metric": "oi_usd",
                                            "value": range(48)}))
    store.sync_flags("AAA", [Flag("crowded_longs", "warn", "crowded", {"rsi": 81.0})], T0)
    store.record_poll_runs([PollRun("binance", "AAA", T0, T0, "throttled", 429, latency_ms=12.0)])
    store.close()
    return store_url


def test_every_write_is_refused(seeded):
    ro = open_readonly(seeded)
    try:
        assert [r["rule"] for r in ro.read_flags()] == ["crowded_longs"]  # reads work
        with pytest.raises(StoreError):
            ro.set_meta("k", "v")
        with pytest.raises(StoreError):
            ro.sync_flags("AAA", [], T0)
        with pytest.raises(Exception, match=r"read-only|readonly"):  # PostgreSQL's COPY path is not translated
            ro.upsert_observations(pd.DataFrame({"ts": [T0], "source": "x", "token": "AAA", "metric": "oi_usd",
                                                 "value": [1.0]}))
    finally:
        ro.close()
    rw = Store(seeded, create=False)
    assert rw.get_meta("k") is None and [r["resolved_at"] for r in rw.read_flags()] == [None]
    assert len(rw.read_series("AAA", ["oi_usd"])) == 48
    rw.close()


def test_dashboard_queries_run_on_this_database(seeded, tmp_path):
    config = parse_config({"storage": {"url": seeded}, "sources": {s: {"enabled": False} for s in SOURCE_DEFAULTS}})
    board = Dashboard(App(config, store=open_readonly(seeded), secrets=Secrets({}), now=lambda: T0), at=T0)
    try:
        [row] = board.ranking()
        assert row["token"] == "AAA" and row["data_until"] == "2026-11-27T08:00:00Z"
        rows = board.series_rows("AAA", "oi_usd", T0 - pd.Timedelta(hours=2), None)
        assert [v for _, _, v in rows] == [45.0, 46.0, 47.0]
        [health] = board.health()
        assert health["http_429"] == 1 and health["failures"] == 1 and health["latency_ms_avg"] == 12.0
        assert board.flag_history("AAA")[0]["open"] is True
        assert board.status()["last_poll"] == "2026-11-27T08:00:00Z"
    finally:
        board.app.store.close()


def test_a_missing_sqlite_file_is_named_not_created(tmp_path):
    with pytest.raises(StoreError, match="no database file"):
        open_readonly(f"sqlite:///{tmp_path / 'nope.db'}")
    assert not (tmp_path / "nope.db").exists()
