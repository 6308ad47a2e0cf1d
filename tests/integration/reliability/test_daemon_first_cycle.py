"""`divmon run` started cold polls every enabled source in its first cycle (its poll jobs start together)."""

from __future__ import annotations

import signal
import sqlite3
import time

from tests.integration.reliability.loopback import SOURCES, TOKENS, scenario, start_divmon


def _fetched(db) -> dict[str, int]:
    if not db.exists():
        return {}
    try:
        with sqlite3.connect(db, timeout=5) as conn:
            rows = conn.execute("SELECT source, count(*) FROM poll_runs WHERE endpoint = 'fetch' GROUP BY source")
            return dict(rows.fetchall())
    except sqlite3.OperationalError:  # no tables yet
        return {}


def test_a_cold_daemon_polls_every_enabled_source_in_its_first_cycle(tmp_path):
    db = tmp_path / "divmon.db"
    with scenario(tmp_path, f"sqlite:///{db}", schedule={"heartbeat_s": 1, "shutdown_grace_s": 2}) as cfg:
        daemon = start_divmon(cfg, "run")
        try:
            deadline = time.monotonic() + 60
            while time.monotonic() < deadline and daemon.poll() is None:
                if _fetched(db) == {s: len(TOKENS) for s in SOURCES}:
                    break
                time.sleep(0.5)
            daemon.send_signal(signal.SIGTERM)
            _, err = daemon.communicate(timeout=30)
        finally:
            if daemon.poll() is None:
                daemon.kill()
    assert "not polled" not in err and "not enabled" not in err, err[-2000:]
    # every (source, token) fetched exactly once: the first cycle, and only that one (hourly intervals)
    assert _fetched(db) == {s: len(TOKENS) for s in SOURCES}, err[-2000:]
    assert daemon.returncode == 0, err[-2000:]
