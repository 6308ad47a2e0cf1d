"""Retention per granularity (storage.retention): points within a day older than `hourly` are thinned to the
day's first point, everything older than `daily` goes; `divmon prune` and the daemon's cycle apply it."""

from __future__ import annotations

import sqlite3
import time
from datetime import UTC, datetime, timedelta

import pandas as pd
import pytest

from monitor.store import Store
from tests.integration.reliability.loopback import divmon, scenario

DAY = 86_400


def _seed(db_url: str) -> tuple[list[int], list[int]]:
    """500 days of an hourly venue series and a daily DefiLlama series, up to this hour."""
    end = pd.Timestamp.now(tz="UTC").floor("h")
    hourly = pd.date_range(end=end, periods=500 * 24, freq="1h")
    daily = pd.date_range(end=end.floor("D"), periods=500, freq="1D")
    store = Store(db_url)
    store.upsert_observations(pd.concat([
        pd.DataFrame({"ts": hourly, "source": "binance", "token": "SURGE", "metric": "oi_usd", "value": 1.0}),
        pd.DataFrame({"ts": daily, "source": "defillama", "token": "SURGE", "metric": "tvl_usd", "value": 2.0}),
        pd.DataFrame({"ts": daily - pd.Timedelta(days=600), "source": "github", "token": "SURGE",
                      "metric": "dev_commits", "value": 3.0}),  # a series that stopped long ago
    ]))
    store.close()
    return [int(t.timestamp()) for t in hourly], [int(t.timestamp()) for t in daily]


def _kept(seeded: list[int], now: float, hourly: int | None, daily: int | None) -> list[int]:
    return [t for t in seeded if (daily is None or t >= now - daily * DAY)
            and (hourly is None or t >= now - hourly * DAY or t % DAY == 0)]


def _stored(db, metric: str) -> tuple[list[int], tuple[int, int]]:
    with sqlite3.connect(db) as conn:
        ts = [r[0] for r in conn.execute("SELECT ts FROM observations WHERE metric = ? ORDER BY ts", (metric,))]
        first_last = conn.execute("SELECT first_ts, last_ts FROM series WHERE metric = ?", (metric,)).fetchone()
        assert conn.execute("PRAGMA integrity_check").fetchall() == [("ok",)]
    return ts, first_last


@pytest.mark.parametrize(("hourly", "daily", "command"), [
    (400, None, ("prune",)),
    (400, 450, ("prune",)),
    (30, None, ("run", "--once")),
])
def test_retention_thins_then_drops_old_points_and_keeps_the_catalogue_true(tmp_path, hourly, daily, command):
    db = tmp_path / "divmon.db"
    retention = {"hourly": f"{hourly}d", "daily": f"{daily}d" if daily else "forever"}
    hourly_ts, daily_ts = _seed(f"sqlite:///{db}")
    with scenario(tmp_path, f"sqlite:///{db}", sources=(), storage={"retention": retention}) as cfg:
        before = time.time()
        done = divmon(cfg, *command)
        after = time.time()
    assert done.returncode == 0, done.stderr[-2000:]
    oi, oi_bounds = _stored(db, "oi_usd")
    tvl, tvl_bounds = _stored(db, "tvl_usd")
    assert oi in (_kept(hourly_ts, before, hourly, daily), _kept(hourly_ts, after, hourly, daily))
    assert tvl in (_kept(daily_ts, before, None, daily), _kept(daily_ts, after, None, daily))
    assert len(oi) < len(hourly_ts)
    assert oi_bounds == (oi[0], oi[-1]) and tvl_bounds == (tvl[0], tvl[-1])
    dev, dev_bounds = _stored(db, "dev_commits")
    assert (len(dev), dev_bounds is None) == ((0, True) if daily else (len(daily_ts), False))
    if command == ("prune",):
        gone = len(hourly_ts) + 2 * len(daily_ts) - len(oi) - len(tvl) - len(dev)
        assert f"{gone} observation(s) pruned" in done.stdout


def test_retention_forever_by_default_keeps_every_point(tmp_path):
    db = tmp_path / "divmon.db"
    hourly_ts, daily_ts = _seed(f"sqlite:///{db}")
    with scenario(tmp_path, f"sqlite:///{db}", sources=()) as cfg:
        done = divmon(cfg, "prune")
    assert done.returncode == 0, done.stderr[-2000:]
    assert "0 observation(s) pruned" in done.stdout
    assert _stored(db, "oi_usd")[0] == hourly_ts and _stored(db, "tvl_usd")[0] == daily_ts
    assert len(_stored(db, "dev_commits")[0]) == len(daily_ts)


def test_the_daemon_schedules_the_prune_daily(tmp_path):
    from monitor.app import App
    from monitor.config import Secrets, load_config
    from monitor.scheduler import Daemon

    with scenario(tmp_path, f"sqlite:///{tmp_path / 'divmon.db'}", sources=()) as cfg:
        app = App(load_config(str(cfg)), secrets=Secrets({}))
        spec = next(s for s in Daemon(app).specs() if s.id == "prune")
        now = datetime(2026, 12, 2, 12, 0, tzinfo=UTC)
        fires = spec.trigger.get_next_fire_time(None, now)
        assert fires - now <= timedelta(days=1)
        assert spec.trigger.get_next_fire_time(fires, fires + timedelta(seconds=1)) - fires == timedelta(days=1)
        app.close()
