"""The daemon as a real process: one per database (P4), SIGTERM mid-batch (P6), `run --once`."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from pathlib import Path

import yaml

from monitor.cli import main
from monitor.store import Store
from tests.integration.outputs.helpers import config_dict

ROOT = Path(__file__).resolve().parents[3]
CLI = "import sys; from monitor.cli import main; sys.exit(main(sys.argv[1:]))"


def _config(tmp_path: Path, **sections) -> tuple[Path, str]:
    db = f"sqlite:///{tmp_path / 'divmon.db'}"
    data = config_dict(db, tmp_path / "reports", email={"enabled": False},
                       schedule={"heartbeat_s": 1, "shutdown_grace_s": 2}, **sections)
    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump(data))
    return path, db


def _daemon(cfg: Path, *extra: str) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-c", CLI, "-c", str(cfg), *extra, "run"], cwd=ROOT,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def _wait_for(check, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return
        time.sleep(0.1)
    raise AssertionError("condition not reached in time")


def test_p4_second_daemon_on_the_same_database_refuses_to_start_and_sigterm_stops_the_first(tmp_path):
    cfg, db = _config(tmp_path)
    first = _daemon(cfg)
    try:
        store = Store(db)
        _wait_for(lambda: store.lock_holder("daemon") is not None and store.get_meta("daemon:heartbeat"))
        second = _daemon(cfg)
        _, err = second.communicate(timeout=60)
        assert second.returncode == 75
        assert "another divmon daemon" in err and "stop it first" in err
        assert first.poll() is None  # the first one is untouched
        started = time.monotonic()
        first.send_signal(signal.SIGTERM)
        first.wait(timeout=15)
        assert first.returncode == 0
        assert time.monotonic() - started < 10
        assert store.lock_holder("daemon") is None  # lease released: a restart can start at once
    finally:
        if first.poll() is None:
            first.kill()


WRITER = """
import sys, itertools, pandas as pd
from apscheduler.triggers.interval import IntervalTrigger
from monitor.app import App
from monitor.config import parse_config, Secrets
from monitor.scheduler import Daemon, JobSpec
import yaml, os
cfg = parse_config(yaml.safe_load(open(sys.argv[1])))
app = App(cfg, secrets=Secrets({}))
BATCH = 20000
def writer():
    for n in itertools.count():
        ts = pd.date_range("2020-01-01", periods=BATCH, freq="1min", tz="UTC") + pd.Timedelta(days=30 * n)
        frame = pd.DataFrame({"ts": ts, "source": "binance", "token": "AIA", "metric": "oi_usd", "value": 1.0})
        app.store.write_batch(frame)
        print("batch", n, flush=True)
daemon = Daemon(app, extra_specs=(JobSpec("writer", writer, IntervalTrigger(hours=1), run_at_start=True),))
daemon.install_signals()
code, finished = daemon.run_forever(grace_s=1.5)
print("finished" if finished else "abandoned", flush=True)
os._exit(code)
"""


def test_p6_sigterm_mid_batch_leaves_whole_batches_and_exits_within_seconds(tmp_path):
    cfg, db = _config(tmp_path)
    proc = subprocess.Popen([sys.executable, "-c", WRITER, str(cfg)], cwd=ROOT, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    try:
        store = Store(db)
        count = lambda: store.read(lambda c: c.exec_driver_sql("SELECT count(*) FROM observations").scalar())  # noqa: E731
        _wait_for(lambda: count() >= 40000, timeout=60)
        started = time.monotonic()
        proc.send_signal(signal.SIGTERM)
        _out, err = proc.communicate(timeout=15)
        assert time.monotonic() - started < 8
        assert proc.returncode == 0, err
        assert "received SIGTERM" in err
    finally:
        if proc.poll() is None:
            proc.kill()
    assert store.integrity_ok()
    assert count() % 20000 == 0  # every batch is all or nothing
    assert count() >= 40000


def test_run_once_runs_a_full_cycle_and_writes_the_reports(tmp_path, capsys):
    cfg, db = _config(tmp_path)
    assert main(["-c", str(cfg), "run", "--once"]) == 0
    out = tmp_path / "reports"
    assert {p.name for p in out.iterdir()} >= {"divmon-report.html", "divmon-report.md", "divmon-report.json"}
    data = json.loads((out / "divmon-report.json").read_text())
    assert data["schema_version"] == 1 and data["tokens"] == []
    assert Store(db).lock_holder("daemon") is None


def test_run_once_refuses_while_a_daemon_holds_the_database(tmp_path, capsys):
    cfg, db = _config(tmp_path)
    Store(db).acquire_lock("daemon", "elsewhere:1:abc", ttl_s=60)
    assert main(["-c", str(cfg), "run", "--once"]) == 75
    assert "another divmon daemon" in capsys.readouterr().err
