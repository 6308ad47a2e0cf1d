"""The daemon's scheduler: jobs built from config and inspected without sleeping; rows P1-P3, P5, K4."""

from __future__ import annotations

import datetime as dt
import logging
import threading
import time
import urllib.request

import pytest
from apscheduler.triggers.cron import CronTrigger
from apscheduler.triggers.interval import IntervalTrigger

from monitor.errors import EXIT_STORE, StoreError
from monitor.scheduler import Daemon, DaemonLocked, JobSpec, Metrics, cron, previous_fire
from monitor.store import Store
from tests.integration.outputs.helpers import T0, Clock, SmtpServer, fire, make_app

UTC = dt.UTC


@pytest.fixture
def db(tmp_path):
    return f"sqlite:///{tmp_path / 'divmon.db'}"


def test_jobs_are_built_from_config_in_utc_with_explicit_misfire_coalesce_and_max_instances(db, tmp_path):
    app = make_app(db, tmp_path, sources={"defillama": {"enabled": True, "poll_interval": "30m"},
                                          "github": {"enabled": True, "poll_interval": "1d"}},
                   schedule={"evaluate": "*/10 * * * *", "report": "5 * * * *", "digest": "0 7 * * 1",
                             "misfire_grace_s": 120})
    daemon = Daemon(app)
    sched = daemon.build(now=T0)
    jobs = {j.id: j for j in sched.get_jobs()}
    assert set(jobs) == {"poll:defillama", "poll:github", "evaluate", "report", "digest", "prune", "heartbeat"}
    assert str(sched.timezone) == "UTC"
    for job in jobs.values():
        assert (job.misfire_grace_time, job.coalesce, job.max_instances) == (120, True, 1)
    assert isinstance(jobs["poll:defillama"].trigger, IntervalTrigger)
    assert jobs["poll:defillama"].trigger.interval == dt.timedelta(minutes=30)
    assert jobs["poll:github"].trigger.interval == dt.timedelta(days=1)
    assert jobs["poll:defillama"].next_run_time == T0  # polls start at once
    for job_id in ("evaluate", "report", "digest"):
        assert isinstance(jobs[job_id].trigger, CronTrigger)
        assert str(jobs[job_id].trigger.timezone) == "UTC"
    nxt = jobs["digest"].trigger.get_next_fire_time(None, T0)
    assert nxt == dt.datetime(2026, 11, 30, 7, 0, tzinfo=UTC)  # Monday 07:00 UTC, whatever the local zone
    assert jobs["evaluate"].trigger.get_next_fire_time(None, T0 + dt.timedelta(minutes=1)) == T0 + dt.timedelta(
        minutes=10)
    assert jobs["heartbeat"].trigger.interval == dt.timedelta(seconds=5)


def test_disabled_sources_get_no_poll_job(db, tmp_path):
    app = make_app(db, tmp_path, sources={"coinglass": {"enabled": True}})  # key required, env var unset
    ids = {j.id for j in Daemon(app).build(now=T0).get_jobs()}
    assert not any(i.startswith("poll:") for i in ids)


def test_p1_a_job_that_raises_is_logged_redacted_counted_and_runs_again_while_others_go_on(db, tmp_path, caplog):
    app = make_app(db, tmp_path, secrets={"DIVMON_SMTP_PASSWORD": "hunter2-very-secret"},
                   email={"username_env": "DIVMON_SMTP_USER", "password_env": "DIVMON_SMTP_PASSWORD"})
    runs = {"boom": 0, "fine": 0}
    done = threading.Event()

    def boom():
        runs["boom"] += 1
        raise RuntimeError("upstream said hunter2-very-secret")

    def fine():
        runs["fine"] += 1
        if runs["fine"] >= 3 and runs["boom"] >= 2:
            done.set()

    daemon = Daemon(app, extra_specs=(JobSpec("boom", boom, IntervalTrigger(seconds=0.05)),
                                      JobSpec("fine", fine, IntervalTrigger(seconds=0.05))))
    daemon.metrics = Metrics()
    sched = daemon.build()
    with caplog.at_level(logging.ERROR, logger="monitor.scheduler"):
        sched.start()
        try:
            assert done.wait(10)
        finally:
            sched.shutdown(wait=True)
    failures = [r.getMessage() for r in caplog.records if "job boom failed" in r.getMessage()]
    assert len(failures) >= 2
    assert all("hunter2" not in m for m in failures) and "RuntimeError" in failures[0]
    assert daemon.metrics.registry.get_sample_value("divmon_job_failures_total", {"job": "boom"}) >= 2


def test_p2_a_slow_job_is_skipped_while_running_never_piled_up(db, tmp_path, caplog):
    app = make_app(db, tmp_path)
    active, peak, starts = [0], [0], [0]
    lock = threading.Lock()

    def slow():
        with lock:
            active[0] += 1
            starts[0] += 1
            peak[0] = max(peak[0], active[0])
        time.sleep(0.4)
        with lock:
            active[0] -= 1

    daemon = Daemon(app, extra_specs=(JobSpec("slow", slow, IntervalTrigger(seconds=0.05)),))
    sched = daemon.build()
    with caplog.at_level(logging.WARNING, logger="apscheduler"):
        sched.start()
        time.sleep(0.9)
        sched.shutdown(wait=True)
    assert peak[0] == 1
    assert starts[0] <= 3  # ~0.9 s / 0.4 s, not 18 runs piled up
    assert any("maximum number of running instances" in r.getMessage() for r in caplog.records)


def test_p3_missed_runs_coalesce_into_one_catch_up(db, tmp_path):
    app = make_app(db, tmp_path)
    ran = []
    first = threading.Event()

    def job():
        ran.append(time.monotonic())
        first.set()

    now = dt.datetime.now(UTC)
    spec = JobSpec("hourly", job, IntervalTrigger(hours=1, start_date=now - dt.timedelta(hours=3)),
                   first_run=now - dt.timedelta(hours=3))  # the daemon slept through three runs
    sched = Daemon(app, extra_specs=(spec,)).build(now=now)
    sched.start()
    try:
        assert first.wait(5)
        time.sleep(0.3)
    finally:
        sched.shutdown(wait=True)
    assert len(ran) == 1


def test_p3_a_digest_period_missed_while_down_is_sent_once_at_start(db, tmp_path):
    with SmtpServer() as srv:
        clock = Clock(T0 + dt.timedelta(hours=3))  # digest was due at 08:00, daemon back at 11:00
        app = make_app(db, tmp_path, srv.port, clock)
        fire(app, "AIA", "oi_surge_unsupported", at=T0 - dt.timedelta(hours=1))
        daemon = Daemon(app)
        assert "digest:catchup" not in {s.id for s in daemon.specs(now=clock.now)}  # first start: nothing missed
        app.store.set_meta("daemon:heartbeat", "old:1:x 2026-11-27T05:00:00+00:00")  # last alive at 05:00
        specs = {s.id: s for s in daemon.specs(now=clock.now)}
        assert "digest:catchup" in specs
        specs["digest:catchup"].func()
        assert len(srv.handler.messages) == 1
        assert "digest:catchup" not in {s.id for s in Daemon(app).specs(now=clock.now)}
        daemon.digest()  # the regular 08:00 job of the same day, had it fired too
        assert len(srv.handler.messages) == 1
    assert previous_fire(cron("0 8 * * *"), clock.now) == T0


class FlakyStore(Store):
    """A real store whose database can be made unreachable."""

    broken = False

    def write(self, fn, action="write"):
        if self.broken:
            raise StoreError(f"{action} failed: unable to open database file")
        return super().write(fn, action)


def test_p5_store_unreachable_longer_than_the_lease_stops_the_daemon_non_zero(db, tmp_path):
    app = make_app(db, tmp_path)
    app._store = FlakyStore(db)
    ticks = [1000.0]
    daemon = Daemon(app, clock=lambda: ticks[0])
    daemon.acquire()
    daemon.heartbeat()
    app.store.broken = True
    ticks[0] += daemon.ttl_s / 2
    daemon.heartbeat()
    assert not daemon.stop_event.is_set()  # a short outage is survived
    app.store.broken = False
    daemon.heartbeat()
    app.store.broken = True
    ticks[0] += daemon.ttl_s + 1
    daemon.heartbeat()
    assert daemon.stop_event.is_set() and daemon.exit_code == EXIT_STORE  # never running but idle


def test_p5_lease_taken_by_another_daemon_stops_this_one(db, tmp_path):
    app = make_app(db, tmp_path)
    daemon = Daemon(app, owner="hostA:1:x")
    daemon.acquire()
    app.store.acquire_lock("daemon", "hostB:2:y", ttl_s=0)
    daemon.heartbeat()
    assert daemon.stop_event.is_set() and daemon.exit_code != 0


def test_p4_second_daemon_in_process_is_refused_with_a_clear_error(db, tmp_path):
    app = make_app(db, tmp_path)
    Daemon(app, owner="otherhost:123:abc").acquire()
    with pytest.raises(DaemonLocked, match=r"another divmon daemon .*otherhost:123:abc"):
        Daemon(app).acquire()


def test_k4_metrics_endpoint_binds_loopback_and_uses_its_own_registry(db, tmp_path):
    from prometheus_client import REGISTRY

    metrics = Metrics()
    host, port = metrics.serve(0)
    try:
        assert host == "127.0.0.1"
        assert metrics.server.socket.getsockname()[0] == "127.0.0.1"
        metrics.polls.labels("binance", "ok").inc()
        metrics.flags.labels("high").set(2)
        body = urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5).read().decode()
        assert 'divmon_polls_total{outcome="ok",source="binance"} 1.0' in body
        assert 'divmon_flags{severity="high"} 2.0' in body
        assert REGISTRY.get_sample_value("divmon_polls_total", {"source": "binance", "outcome": "ok"}) is None
    finally:
        metrics.close()


@pytest.mark.parametrize("expr,expected", [
    ("0 7 * * 1", dt.datetime(2026, 11, 30, 7, tzinfo=UTC)),  # crontab 1 = Monday (APScheduler's own 1 = Tuesday)
    ("0 7 * * 0", dt.datetime(2026, 11, 29, 7, tzinfo=UTC)),  # 0 = Sunday
    ("0 7 * * 7", dt.datetime(2026, 11, 29, 7, tzinfo=UTC)),  # 7 = Sunday too
    ("30 6 * * 1-5", dt.datetime(2026, 11, 30, 6, 30, tzinfo=UTC)),  # T0 is a Friday after 06:30
])
def test_cron_day_of_week_follows_crontab_numbering(expr, expected):
    assert cron(expr).get_next_fire_time(None, T0) == expected


def test_p3_catch_up_is_decided_from_the_heartbeat_before_this_start(db, tmp_path):
    clock = Clock(T0 + dt.timedelta(hours=3))
    app = make_app(db, tmp_path, 25, clock)
    app.store.set_meta("daemon:heartbeat", "old:1:x 2026-11-27T05:00:00+00:00")
    daemon = Daemon(app)
    daemon.acquire()  # records a fresh heartbeat, but the previous daemon's one decides
    assert app.store.get_meta("daemon:heartbeat").startswith(daemon.owner)
    assert "digest:catchup" in {s.id for s in daemon.specs(now=clock.now)}
    daemon.release()
