"""`divmon run`: APScheduler 3 in UTC with jobs built from config.yaml.

Jobs: ``poll:<source>`` at each enabled source's poll_interval, ``evaluate``/``report``/``digest`` on
their cron expressions, ``prune`` (storage.retention) daily, ``heartbeat`` every schedule.heartbeat_s.
Every job is added with misfire_grace_time, coalesce=True and max_instances=1 (APScheduler's defaults are a 1 s grace and
local time). A job that raises is logged (redacted) and counted; the scheduler goes on. One daemon per
database: a lease in the meta table (``lock:daemon``), renewed by the heartbeat; when the lease cannot
be renewed for longer than its TTL the daemon exits non-zero instead of running idle.
"""

from __future__ import annotations

import logging
import signal
import threading
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import partial
from typing import TYPE_CHECKING, Any

from monitor.errors import EXIT_STORE, ConfigError, MonitorError, StoreError
from monitor.timeutil import parse_duration

if TYPE_CHECKING:
    from monitor.app import App
    from monitor.model import Verdict

log = logging.getLogger(__name__)
EXIT_LOCKED = 75  # EX_TEMPFAIL: another daemon holds the database
PRUNE_CRON = "17 3 * * *"  # storage.retention applied daily, off the hour the other jobs crowd


class DaemonLocked(MonitorError):
    exit_code = EXIT_LOCKED


@dataclass(frozen=True)
class JobSpec:
    id: str
    func: Callable[[], Any]
    trigger: Any
    run_at_start: bool = False
    first_run: datetime | None = None  # overrides the trigger's first fire time (a past one is a missed run)


class Metrics:
    """Prometheus metrics in a registry of their own (never the global one)."""

    def __init__(self) -> None:
        from prometheus_client import CollectorRegistry, Counter, Gauge

        self.registry = CollectorRegistry()
        self.polls = Counter("divmon_polls", "Source polls by outcome", ["source", "outcome"], registry=self.registry)
        self.last_success = Gauge("divmon_last_success_timestamp_seconds", "Last successful poll per source",
                                  ["source"], registry=self.registry)
        self.flags = Gauge("divmon_flags", "Open flags by severity", ["severity"], registry=self.registry)
        self.job_failures = Counter("divmon_job_failures", "Jobs that raised", ["job"], registry=self.registry)
        self.heartbeat = Gauge("divmon_heartbeat_timestamp_seconds", "Last heartbeat", registry=self.registry)
        self.server: Any = None

    def serve(self, port: int, addr: str = "127.0.0.1") -> tuple[str, int]:
        from prometheus_client import start_http_server

        self.server, _ = start_http_server(port, addr=addr, registry=self.registry)
        host, port = self.server.server_address[:2]
        return str(host), int(port)

    def close(self) -> None:
        if self.server is not None:
            self.server.shutdown()
            self.server.server_close()


def cron(expr: str) -> Any:
    """A CronTrigger in UTC from a standard crontab line (0/7 = Sunday, as crontab(5) says)."""
    from apscheduler.triggers.cron import CronTrigger

    from monitor.config import ScheduleConfig

    return CronTrigger(**ScheduleConfig.cron_fields(expr), timezone=UTC)


def previous_fire(trigger: Any, now: datetime, horizon: timedelta = timedelta(days=8)) -> datetime | None:
    """The latest fire time of a trigger at or before now (within the horizon)."""
    last, t = None, trigger.get_next_fire_time(None, now - horizon)
    for _ in range(20_000):
        if t is None or t > now:
            break
        last, t = t, trigger.get_next_fire_time(t, t + timedelta(microseconds=1))
    return last


class Daemon:
    def __init__(self, app: App, *, owner: str | None = None, extra_specs: tuple[JobSpec, ...] = (),
                 clock: Callable[[], float] = time.monotonic):
        from monitor.jobs.digest import lock_owner

        self.app = app
        self.owner = owner or lock_owner()
        sched = app.config.schedule
        self.ttl_s = max(3 * sched.heartbeat_s, 10)
        self.extra_specs = extra_specs
        self.clock = clock
        self.stop_event = threading.Event()
        self.exit_code = 0
        self.metrics: Metrics | None = None
        self._running: dict[str, int] = {}
        self._cond = threading.Condition()
        self._last_beat = clock()
        self.scheduler: Any = None
        self._verdicts: list[Verdict] | None = None  # the latest evaluation, reused by the report job
        self._prior_beat: str | None = None

    # ------------------------------------------------------------ jobs

    def guard(self, job_id: str, fn: Callable[[], Any]) -> Callable[[], Any]:
        """Run fn; an exception is logged redacted and counted, never raised into APScheduler."""

        def run() -> Any:
            with self._cond:
                self._running[job_id] = self._running.get(job_id, 0) + 1
            try:
                return fn()
            except Exception as exc:
                log.error("job %s failed: %s\n%s", job_id, self.app.redactor(f"{type(exc).__name__}: {exc}"),
                          self.app.redactor(traceback.format_exc(limit=8)))
                if self.metrics:
                    self.metrics.job_failures.labels(job_id).inc()
                return None
            finally:
                with self._cond:
                    self._running[job_id] -= 1
                    self._cond.notify_all()

        run.__name__ = f"job_{job_id}"
        return run

    def running(self, prefix: str = "") -> int:
        with self._cond:
            return sum(n for k, n in self._running.items() if k.startswith(prefix))

    def wait_idle(self, prefix: str, timeout: float) -> bool:
        deadline = self.clock() + timeout
        with self._cond:
            while sum(n for k, n in self._running.items() if k.startswith(prefix)) > 0:
                left = deadline - self.clock()
                if left <= 0:
                    return False
                self._cond.wait(min(left, 0.5))
        return True

    def poll(self, source: str) -> None:
        from monitor.jobs.poll import poll

        outcomes = poll(self.app, sources=[source])
        if self.metrics:
            for o in outcomes:
                self.metrics.polls.labels(o.source, o.status).inc()
                if o.status in ("ok", "partial"):
                    self.metrics.last_success.labels(o.source).set(time.time())

    def evaluate(self) -> list[Verdict]:
        from monitor.jobs.evaluate import evaluate_all

        self.wait_idle("poll:", self.app.config.schedule.misfire_grace_s)  # judge after the polls land
        verdicts = evaluate_all(self.app)
        self._verdicts = verdicts
        from monitor.jobs.digest import alert_job

        try:  # immediate alerts for new critical episodes, when configured; a failure never loses the verdicts
            for outcome in alert_job(self.app):
                log.info("alert %s %s: %s %s", outcome.channel, outcome.period, outcome.status, outcome.detail)
        except Exception as exc:
            log.error("alerts not sent: %s", self.app.redactor(exc))
        if self.metrics:
            counts = {s: 0 for s in ("info", "warn", "high", "critical")}
            for v in verdicts:
                for f in v.flags:
                    counts[f.severity] = counts.get(f.severity, 0) + 1
            for sev, n in counts.items():
                self.metrics.flags.labels(sev).set(n)
        return verdicts

    def report(self, verdicts: list[Verdict] | None = None) -> None:
        from monitor.jobs.outputs import report_job

        report_job(self.app, verdicts=verdicts if verdicts is not None else self._verdicts)

    def digest(self) -> None:
        from monitor.jobs.digest import channels, digest_job

        if channels(self.app):
            for outcome in digest_job(self.app, send=True, verdicts=self._verdicts):
                log.info("digest %s %s: %s %s", outcome.channel, outcome.period, outcome.status, outcome.detail)

    def prune(self) -> None:
        from monitor.jobs.prune import prune

        prune(self.app)

    def heartbeat(self) -> None:
        """Renew the lease; exit non-zero when another daemon took it or the store stays unreachable."""
        try:
            held = self.app.store.acquire_lock("daemon", self.owner, self.ttl_s)
            if held:
                self.app.store.set_meta("daemon:heartbeat", f"{self.owner} {datetime.now(UTC).isoformat()}")
        except StoreError as exc:
            silent = self.clock() - self._last_beat
            log.error("heartbeat failed (%.0f s without one): %s", silent, self.app.redactor(exc))
            if silent > self.ttl_s:
                log.critical("store unreachable for longer than the lease (%d s); exiting", self.ttl_s)
                self.stop(EXIT_STORE)
            return
        if not held:
            log.critical("daemon lease taken over by another process; exiting")
            self.stop(EXIT_LOCKED)
            return
        self._last_beat = self.clock()
        if self.metrics:
            self.metrics.heartbeat.set(time.time())

    def digest_missed(self, now: datetime) -> bool:
        """True when the latest scheduled digest fired while the daemon was down (its last heartbeat is older)
        and that period has no delivery record."""
        from monitor.jobs.digest import channels, period_key

        chosen = channels(self.app)
        if not chosen:
            return False
        fired = previous_fire(cron(self.app.config.schedule.digest), now)
        if fired is None:
            return False
        beat = self._prior_beat if self._prior_beat is not None else self.app.store.get_meta("daemon:heartbeat")
        if not beat:  # first start ever: nothing was missed
            return False
        last_alive = datetime.fromisoformat(beat.rsplit(" ", 1)[-1])
        if last_alive >= fired:  # the daemon was up when it fired: the regular job handled it
            return False
        period = period_key(fired, self.app.config.schedule.digest_period)
        return any(self.app.store.get_delivery(c, period) is None for c in chosen)

    def specs(self, now: datetime | None = None) -> list[JobSpec]:
        from apscheduler.triggers.date import DateTrigger
        from apscheduler.triggers.interval import IntervalTrigger

        cfg = self.app.config
        out = []
        for name, source in cfg.sources.items():
            if name in self.app.disabled:
                continue
            seconds = parse_duration(source.poll_interval).total_seconds()
            out.append(JobSpec(f"poll:{name}", partial(self.poll, name),
                               IntervalTrigger(seconds=seconds, timezone=UTC), run_at_start=True))
        out.append(JobSpec("evaluate", self.evaluate, cron(cfg.schedule.evaluate)))
        out.append(JobSpec("report", self.report, cron(cfg.schedule.report)))
        out.append(JobSpec("digest", self.digest, cron(cfg.schedule.digest)))
        out.append(JobSpec("prune", self.prune, cron(PRUNE_CRON)))
        out.append(JobSpec("heartbeat", self.heartbeat,
                           IntervalTrigger(seconds=cfg.schedule.heartbeat_s, timezone=UTC)))
        now = now or datetime.now(UTC)
        try:
            missed = self.digest_missed(now)
        except StoreError as exc:
            log.warning("cannot check for a missed digest: %s", self.app.redactor(exc))
            missed = False
        if missed:  # one catch-up: the period the daemon slept through is delivered once
            out.append(JobSpec("digest:catchup", self.digest, DateTrigger(now, timezone=UTC)))
        return [*out, *self.extra_specs]

    def build(self, *, blocking: bool = False, now: datetime | None = None) -> Any:
        from apscheduler.executors.pool import ThreadPoolExecutor
        from apscheduler.schedulers.background import BackgroundScheduler
        from apscheduler.schedulers.blocking import BlockingScheduler

        grace = self.app.config.schedule.misfire_grace_s
        cls = BlockingScheduler if blocking else BackgroundScheduler
        specs = self.specs(now)
        sched = cls(timezone=UTC, executors={"default": ThreadPoolExecutor(max(4, len(specs)))},
                    job_defaults={"misfire_grace_time": grace, "coalesce": True, "max_instances": 1})
        start = now or datetime.now(UTC)
        for spec in specs:
            first = spec.first_run or (start if spec.run_at_start else None)
            extra = {"next_run_time": first} if first else {}
            sched.add_job(self.guard(spec.id, spec.func), spec.trigger, id=spec.id, name=spec.id,
                          misfire_grace_time=grace, coalesce=True, max_instances=1, replace_existing=True, **extra)
        self.scheduler = sched
        return sched

    # ------------------------------------------------------------ life cycle

    def acquire(self) -> None:
        from monitor.jobs.digest import owner_gone

        store = self.app.store
        holder = store.lock_holder("daemon")
        ttl = self.ttl_s
        if holder and owner_gone(holder[0]):
            log.warning("taking over the lease of %s, which is no longer running", holder[0])
            ttl = 0
        if not store.acquire_lock("daemon", self.owner, ttl):
            who, since = store.lock_holder("daemon") or ("?", None)
            raise DaemonLocked(f"another divmon daemon ({who}, heartbeat {since:%Y-%m-%d %H:%M:%S} UTC) uses this "
                               f"database; stop it first (its lease expires {ttl} s after its last heartbeat)"
                               if since else "another divmon daemon uses this database")
        self._last_beat = self.clock()
        self._prior_beat = store.get_meta("daemon:heartbeat") or ""  # when the previous daemon was last alive
        self.app.store.set_meta("daemon:heartbeat", f"{self.owner} {datetime.now(UTC).isoformat()}")

    def release(self) -> None:
        try:
            self.app.store.release_lock("daemon", self.owner)
        except StoreError as exc:
            log.warning("could not release the daemon lease: %s", self.app.redactor(exc))

    def stop(self, code: int = 0) -> None:
        if code and not self.exit_code:
            self.exit_code = code
        self.stop_event.set()

    def install_signals(self) -> None:
        def handler(signum: int, _frame: Any) -> None:
            log.warning("received %s: finishing the current job and stopping", signal.Signals(signum).name)
            self.stop(0)

        signal.signal(signal.SIGTERM, handler)
        signal.signal(signal.SIGINT, handler)

    def run_forever(self, *, grace_s: float = 10.0) -> tuple[int, bool]:
        """Start, wait for a stop, shut down. Returns (exit code, whether every job finished)."""
        self.acquire()
        port = self.app.config.schedule.metrics_port
        try:
            if self.app.config.schedule.serve:  # web stack imported only when asked for; a daemon thread
                from monitor.serve.server import start_for

                start_for(self.app)
            if port is not None:
                self.metrics = Metrics()
                try:
                    host, bound = self.metrics.serve(port)
                except OSError as exc:
                    raise ConfigError(f"schedule.metrics_port {port}: cannot listen on 127.0.0.1 ({exc.strerror})") from None
                log.info("metrics on http://%s:%d/metrics", host, bound)
            sched = self.build()
            sched.start()
            log.info("divmon daemon %s started with %d job(s)", self.owner, len(sched.get_jobs()))
            while not self.stop_event.wait(1.0):
                pass
            sched.shutdown(wait=False)
            finished = self.wait_idle("", grace_s)
            if not finished:
                log.error("jobs still running after %.0f s; exiting, their open transaction rolls back", grace_s)
            return self.exit_code, finished
        finally:
            if self.metrics:
                self.metrics.close()
            if self.exit_code != EXIT_STORE:
                self.release()

    def run_once(self) -> int:
        """One full cycle: poll everything, evaluate, report, digest. Non-zero when a step failed."""
        self.acquire()
        failed: list[str] = []
        try:
            steps: list[tuple[str, Callable[[], Any]]] = [
                ("poll", lambda: __import__("monitor.jobs.poll", fromlist=["poll"]).poll(self.app)),
            ]
            verdicts: dict[str, Any] = {}
            steps.append(("evaluate", lambda: verdicts.setdefault("v", self.evaluate())))
            steps.append(("report", lambda: self.report(verdicts.get("v"))))
            steps.append(("digest", self.digest))
            steps.append(("prune", self.prune))
            for name, fn in steps:
                marker = object()
                result = self.guard(name, partial(_or_marker, fn, marker))()
                if result is None:
                    failed.append(name)
        finally:
            self.release()
        if failed:
            log.error("cycle finished with failed step(s): %s", ", ".join(failed))
            return 1
        return 0


def _or_marker(fn: Callable[[], Any], marker: object) -> Any:
    """fn()'s result, or ``marker`` when it returns nothing (guard() returns None only on failure)."""
    return fn() or marker
