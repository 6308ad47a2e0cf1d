"""A SQLite file damaged past its header is refused at start and left as is; on a full disk `divmon poll`
says which fetches were stored and which were not."""

from __future__ import annotations

import re
import sqlite3
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from monitor.store import Store
from tests.integration.reliability.loopback import divmon, env, scenario

# The disk is "full" once the file reaches a page limit, set on every SQLite connection of the process
# (PRAGMA max_page_count is per connection); the CLI itself runs unchanged.
FULL_DISK_CLI = """
import sys
from sqlalchemy import event
from sqlalchemy.pool import Pool
limit = int(sys.argv.pop(1))
event.listen(Pool, "connect", lambda conn, _rec: conn.execute(f"PRAGMA max_page_count = {limit}"))
from monitor.cli import main
sys.exit(main(sys.argv[1:]))
"""


def _seed(db: Path) -> None:
    store = Store(f"sqlite:///{db}")
    ts = pd.date_range("2026-01-01", periods=20_000, freq="1min", tz="UTC")
    store.upsert_observations(pd.DataFrame({"ts": ts, "source": "binance", "token": "OLD", "metric": "oi_usd",
                                            "value": 1.0}))
    store.close()


@pytest.mark.parametrize(("offset", "garbage"), [
    (0, b"\x00" * 8),  # the page's b-tree header: SQLite calls the file malformed
    (8, b"\xff\xff" * 4),  # its cell pointers: quick_check lists the damage
], ids=["page-header", "cell-pointers"])
def test_a_database_damaged_past_its_header_is_refused_at_start_and_left_as_is(tmp_path, offset, garbage):
    db = tmp_path / "divmon.db"
    _seed(db)
    with sqlite3.connect(db) as conn:
        page_size = conn.execute("PRAGMA page_size").fetchone()[0]
        leaves = [p for (p,) in conn.execute(
            "SELECT pageno FROM dbstat WHERE name = 'observations' AND pagetype = 'leaf' ORDER BY pageno")]
    page = leaves[len(leaves) // 2]  # a page no read of another token's series ever visits
    with db.open("r+b") as fh:
        fh.seek((page - 1) * page_size + offset)
        fh.write(garbage)
    damaged = db.read_bytes()
    with scenario(tmp_path, f"sqlite:///{db}", sources=("coingecko",)) as cfg:
        done = divmon(cfg, "check", "SURGE", "--no-poll")
    assert done.returncode == 74, done.stderr[-2000:]
    assert "damaged" in done.stderr and "restore it from a backup" in done.stderr
    assert db.read_bytes() == damaged


def _damage_a_leaf(db: Path) -> bytes:
    with sqlite3.connect(db) as conn:
        page_size = conn.execute("PRAGMA page_size").fetchone()[0]
        leaves = [p for (p,) in conn.execute(
            "SELECT pageno FROM dbstat WHERE name = 'observations' AND pagetype = 'leaf' ORDER BY pageno")]
    with db.open("r+b") as fh:
        fh.seek((leaves[len(leaves) // 2] - 1) * page_size + 8)
        fh.write(b"\xff\xff" * 4)
    return db.read_bytes()


@pytest.mark.parametrize(("age_s", "refused"), [(60, False), (2 * 86400, True)], ids=["pass-recent", "pass-old"])
def test_a_clean_quick_check_is_remembered_for_integrity_check_every(tmp_path, age_s, refused):
    """quick_check reads the whole file (seconds on a large one, on every `check`): a clean pass is kept in
    meta and repeated once it is older than storage.integrity_check_every (default 1d)."""
    db = tmp_path / "divmon.db"
    _seed(db)
    Store(f"sqlite:///{db}", integrity_every_s=86400).close()  # a clean pass, recorded
    conn = sqlite3.connect(db)
    (when,) = conn.execute("SELECT value FROM meta WHERE key = 'integrity:quick_check_ok_at'").fetchone()
    with conn:
        conn.execute("UPDATE meta SET value = ? WHERE key = 'integrity:quick_check_ok_at'", (str(float(when) - age_s),))
    conn.close()  # checkpoints the WAL, so the damaged bytes below are the whole file
    damaged = _damage_a_leaf(db)
    with scenario(tmp_path, f"sqlite:///{db}", sources=("coingecko",), storage={"integrity_check_every": "1d"}) as cfg:
        done = divmon(cfg, "check", "SURGE", "--no-poll")
    assert (done.returncode == 74 and "damaged" in done.stderr) is refused, done.stderr[-1500:]
    if refused:
        assert db.read_bytes() == damaged


def _fetched(db: Path, after_id: int = 0) -> set[str]:
    with sqlite3.connect(db) as conn:
        rows = conn.execute("SELECT source, token FROM poll_runs WHERE endpoint = 'fetch' AND id > ?", (after_id,))
        return {f"{s}/{t}" for s, t in rows}


def test_on_a_full_disk_poll_names_what_was_stored_and_what_was_not(tmp_path):
    db = tmp_path / "divmon.db"
    with scenario(tmp_path, f"sqlite:///{db}", sources=("binance", "coingecko", "defillama")) as cfg:
        assert divmon(cfg, "poll", "--source", "coingecko").returncode == 0
        with sqlite3.connect(db) as conn:
            pages = conn.execute("PRAGMA page_count").fetchone()[0]
            last_id = conn.execute("SELECT max(id) FROM poll_runs").fetchone()[0]
        done = subprocess.run([sys.executable, "-c", FULL_DISK_CLI, str(pages + 2), "-c", str(cfg), "poll"],
                              cwd=cfg.parent, env=env(), capture_output=True, text=True, timeout=120)
    assert done.returncode == 74, done.stderr[-2000:]
    found = re.search(r"stored (?P<stored>.*); not stored: (?P<lost>.*?): .*database or disk is full", done.stderr)
    assert found, done.stderr[-2000:]
    stored = set(found["stored"].split(", ")) - {"nothing"}
    lost = set(found["lost"].split(", "))
    assert {"binance/SURGE", "binance/ORGANIC", "binance/SPLIT"} <= lost
    assert stored.isdisjoint(lost) and len(stored | lost) == 3 * 4
    with sqlite3.connect(db) as conn:
        assert conn.execute("PRAGMA integrity_check").fetchall() == [("ok",)]
    assert _fetched(db, last_id) == stored  # exactly what the message says was stored is there
