"""Several `divmon` processes on one SQLite file at once, as cron and a person at a terminal run them:
the file stays whole and holds exactly the rows the same commands leave when run one at a time."""

from __future__ import annotations

import re
import sqlite3
import threading
from pathlib import Path

from tests.integration.reliability.loopback import divmon, scenario

SINCE = "2026-09-20"  # the backfill reaches two months behind the scenario's clock
STORE_OPENED = re.compile(r"monitor\.store\.store: store opened")
# exit codes that are no failure of the command itself: 1 = some fetches partial; check: its verdict
OK = {"poll": (0, 1), "backfill": (0, 1), "report": (0,), "check": (0, 1, 2, 3)}


def _counts(db: Path) -> dict[str, int]:
    with sqlite3.connect(db) as conn:
        out = {t: conn.execute(f"SELECT count(*) FROM {t}").fetchone()[0] for t in ("observations", "series", "events")}
        out["fetches"] = conn.execute("SELECT count(*) FROM poll_runs WHERE endpoint = 'fetch'").fetchone()[0]
        return out


def _run_all(cfg: Path, loops: dict[str, list[tuple[str, ...]]]) -> dict[str, list]:
    results: dict[str, list] = {name: [] for name in loops}

    def loop(name: str) -> None:
        for args in loops[name]:
            results[name].append(divmon(cfg, *args))

    threads = [threading.Thread(target=loop, args=(n,)) for n in loops]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return results


def test_mixed_concurrent_cli_runs_leave_the_sqlite_file_whole_with_exact_rows(tmp_path):
    db = tmp_path / "divmon.db"
    (tmp_path / "ref").mkdir()
    ref = tmp_path / "ref" / "divmon.db"
    with scenario(tmp_path, f"sqlite:///{db}") as cfg:
        results = _run_all(cfg, {
            "poll": [("-vv", "poll")] * 3,
            "report": [("report", "--format", "json", "--out", str(tmp_path / f"r{i}.json")) for i in range(3)],
            "check": [("check", "ORGANIC", "--no-poll")] * 4,
            "backfill": [("backfill", "ORGANIC", "--since", SINCE, "--no-progress")],
        })
        # the same commands one at a time, into a database of their own
        after = []
        for args in (("poll",), ("backfill", "ORGANIC", "--since", SINCE, "--no-progress")):
            done = divmon(cfg, "--db", f"sqlite:///{ref}", *args)
            assert done.returncode in OK["poll"] and "error:" not in done.stderr, done.stderr[-2000:]
            after.append(_counts(ref))
    for name, runs in results.items():
        for run in runs:
            tail = run.stderr[-2000:]
            assert "error:" not in run.stderr and "Traceback" not in run.stderr, (name, tail)
            assert run.returncode in OK[name], (name, run.returncode, tail)
    with sqlite3.connect(db) as conn:
        assert conn.execute("PRAGMA integrity_check").fetchall() == [("ok",)]
    expected = after[-1]
    assert expected["observations"] > 10_000 and expected["events"] > 0
    polls = len(results["poll"])
    fetches = polls * after[0]["fetches"] + after[1]["fetches"] - after[0]["fetches"]
    assert _counts(db) == {**expected, "fetches": fetches}
    # one Store per process, whatever number of threads polled through it
    assert [len(STORE_OPENED.findall(run.stderr)) for run in results["poll"]] == [1] * polls
