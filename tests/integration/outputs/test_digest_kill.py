"""M4: a sender killed (SIGKILL) around the send and restarted neither skips the period nor sends it
more than twice, and a duplicate carries the same Message-ID."""

from __future__ import annotations

import datetime as dt
import os
import signal
import subprocess
import sys
from pathlib import Path

from monitor.jobs.outputs import digest_job
from tests.integration.outputs.helpers import T0, SmtpServer, fire, make_app

ROOT = Path(__file__).resolve().parents[3]
SENDER = """
import sys, datetime as dt
from pathlib import Path
from tests.integration.outputs.helpers import T0, Clock, make_app
from monitor.jobs.outputs import digest_job
app = make_app(sys.argv[1], Path(sys.argv[2]), int(sys.argv[3]), Clock(T0 + dt.timedelta(minutes=int(sys.argv[4]))))
print([o.status for o in digest_job(app, send=True)], flush=True)
"""


def _sender(db: str, out: Path, port: int, minutes: int) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-c", SENDER, db, str(out), str(port), str(minutes)], cwd=ROOT,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def test_m4_killed_after_the_server_took_the_message_resends_once_with_the_same_message_id(tmp_path):
    db = f"sqlite:///{tmp_path / 'divmon.db'}"
    app = make_app(db, tmp_path)
    fire(app, "AIA", "oi_surge_unsupported", at=T0 - dt.timedelta(hours=1))
    with SmtpServer() as srv:
        proc = _sender(db, tmp_path, srv.port, 0)
        # the server has the whole message; the sender dies before it can read the 250 and commit "sent"
        srv.handler.on_data = lambda: os.kill(proc.pid, signal.SIGKILL)
        proc.wait(timeout=30)
        assert proc.returncode == -signal.SIGKILL
        srv.handler.on_data = None
        assert app.store.get_delivery("email", "day:2026-11-27")["status"] == "pending"
        again = _sender(db, tmp_path, srv.port, 5)
        out, err = again.communicate(timeout=30)
        assert again.returncode == 0, err
        assert "sent" in out
        ids = [m["Message-ID"] for m in srv.handler.parsed()]
        assert len(ids) == 2 and ids[0] == ids[1]  # at-least-once: one duplicate, recognisable by its id
        assert digest_job(app, send=True)[0].status == "skipped"
        assert len(srv.handler.messages) == 2
    row = app.store.get_delivery("email", "day:2026-11-27")
    assert row["status"] == "sent"
    assert app.store.integrity_ok()

