"""What stderr says about sources: a missing API key is mentioned once, and only by a command that would
run that source; `check --at` says that it polls nothing."""

from __future__ import annotations

import logging

import pytest

from monitor.app import App
from monitor.config import Secrets, parse_config
from tests.cli.runner import ROOT, divmon, offline_config, write_config

WARNING = "source coinglass disabled: environment variable COINGLASS_API_KEY is not set"


@pytest.fixture
def config(tmp_path, httpserver):
    # coinglass wants a key that is not set; defillama answers 404 so a poll has something to do
    base = httpserver.url_for("").rstrip("/")
    return write_config(tmp_path / "config.yaml", offline_config(
        storage={"url": f"sqlite:///{tmp_path / 'divmon.db'}"}, schedule={"heartbeat_s": 1, "shutdown_grace_s": 2},
        tokens=[{"symbol": "ZED", "defillama_slug": "zed"}],
        sources={"coinglass": {"enabled": True, "base_url": base + "/cg"},
                 "defillama": {"enabled": True, "base_url": base + "/llama", "max_retries": 0},
                 "dune": {"enabled": False, "queries_dir": str(ROOT / "queries")}},
    ))


@pytest.mark.parametrize("argv", [["poll"], ["check", "ZED"], ["run", "--once"],
                                  ["backfill", "ZED", "--since", "2026-11-01", "--no-progress"]])
def test_a_command_that_runs_every_source_warns_once(config, argv):
    out = divmon(*argv, "--config", str(config))
    assert out.stderr.count(WARNING) == 1, out.stderr


@pytest.mark.parametrize("argv", [["report", "--format", "json", "--out", "r.json"], ["digest"],
                                  ["check", "ZED", "--no-poll"], ["check", "ZED", "--at", "2026-11-01T00:00:00Z"],
                                  ["poll", "--source", "defillama"], ["queries", "list"]])
def test_a_command_that_does_not_run_the_source_does_not_warn(config, tmp_path, argv):
    out = divmon(*argv, "--config", str(config), cwd=tmp_path)
    assert out.returncode not in (64, 78) and "internal error" not in out.stderr, out.stderr
    assert "COINGLASS_API_KEY" not in out.stderr


def test_check_at_says_it_polls_nothing(config, httpserver):
    out = divmon("check", "ZED", "--at", "2026-11-01T06:00:00+02:00", "--config", str(config))
    assert "divmon: --at judges the data stored as of 2026-11-01T04:00:00Z; nothing is polled" in out.stderr
    assert httpserver.log == []
    for argv in (["--no-poll"], ["--no-poll", "--at", "2026-11-01"], ["--at", "2026-11-01", "-q"]):
        out = divmon("check", "ZED", *argv, "--config", str(config))
        assert out.returncode == 3, out.stderr  # UNKNOWN: no data stored
        assert "nothing is polled" not in out.stderr  # --no-poll said it already; -q asked for errors only


def test_the_daemon_names_a_missing_key_once_at_start(config, tmp_path):
    import signal
    import subprocess
    import sys
    import time

    from monitor.store import Store
    from tests.cli.runner import CLI, ROOT

    proc = subprocess.Popen([sys.executable, "-c", CLI, "run", "--config", str(config)], cwd=tmp_path,
                            env={"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin"}, stderr=subprocess.PIPE, text=True)
    try:
        store = Store(f"sqlite:///{tmp_path / 'divmon.db'}")
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and not store.get_meta("daemon:heartbeat"):
            time.sleep(0.2)
        assert store.get_meta("daemon:heartbeat"), "the daemon did not start"
        store.close()
    finally:
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=30)
    assert err.count(WARNING) == 1, err


def test_apps_in_one_process_warn_once(caplog, monkeypatch):
    import monitor.app

    monkeypatch.setattr(monitor.app, "_WARNED", set())  # as in a fresh process
    caplog.set_level(logging.WARNING)
    config = parse_config({"sources": {"defillama": {"enabled": False}}})
    for _ in range(3):
        app = App(config, secrets=Secrets({}))
        app.sources(["defillama"])  # a source that is not the keyless one: no warning yet
        assert not any("COINGLASS" in r.getMessage() for r in caplog.records)
    App(config, secrets=Secrets({})).sources()
    App(config, secrets=Secrets({})).sources()
    assert sum("COINGLASS_API_KEY" in r.getMessage() for r in caplog.records) == 1
