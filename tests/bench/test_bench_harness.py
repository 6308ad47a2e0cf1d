"""The benchmark harness runs, keeps its output contract and survives a crashing module (issue 8)."""

from __future__ import annotations

import json
import subprocess
import sys
import uuid
from pathlib import Path

import pytest

from bench import bench_demo, bench_store, harness

ROOT = Path(__file__).resolve().parents[2]
MB = 2**20


def test_quick_cli_benchmark_prints_json_rows_with_the_protocol_keys():
    proc = subprocess.run([sys.executable, "-m", "bench", "--quick", "--only", "cli", "--json"], cwd=ROOT,
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert "cores (nproc)" in proc.stderr
    rows = json.loads(proc.stdout)
    assert [r["name"] for r in rows] == ["CLI start: divmon --help", "CLI start: divmon check --help"]
    for r in rows:
        assert set(harness.KEYS) <= set(r)
        assert r["unit"] == "ms" and r["target"] == "≤ 2× python -c pass" and r["error"] is None
        assert r["value"] > 0 and r["reference"] > 0
        assert r["ratio"] == pytest.approx(r["value"] / r["reference"])
        assert r["passed"] is (r["ratio"] <= 2.0)


def test_table_shows_core_count_values_ratio_target_and_status():
    rows = [
        {**harness.row("fast", 1234.5, unit="rows/s", reference=1000.0, ratio=1.2345, target="≥ 1×",
                       passed=True), "error": None},
        {**harness.row("slow", 0.5, unit="s", target="≤ 0.1 s", passed=False), "error": None},
        {**harness.row("later", None, unit="s", note="not measured"), "error": None},
        {**harness.row("boom", None, unit=""), "error": "RuntimeError: boom"},
    ]
    text = harness.format_table(rows, harness.header(quick=True))
    first, *_ = text.splitlines()
    assert "quick mode" in first and f"{harness.cores()[0]} cores" in first
    lines = {line.split()[0]: line for line in text.splitlines()[3:]}
    assert "1,234" in lines["fast"] and "1.23×" in lines["fast"] and "≥ 1×" in lines["fast"]
    assert lines["fast"].split()[-1] == "pass" and " MISS" in lines["slow"]
    assert " — " in lines["later"] and lines["later"].endswith("not measured")
    assert " ERROR" in lines["boom"]


@pytest.fixture
def fake_package(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    name = f"fakebench_{uuid.uuid4().hex[:8]}"
    pkg = tmp_path / name
    pkg.mkdir()
    (pkg / "__init__.py").write_text("")
    (pkg / "bench_boom.py").write_text("def run(quick):\n    raise RuntimeError('boom at ' + str(quick))\n")
    (pkg / "bench_malformed.py").write_text("def run(quick):\n    return [{'name': 'half a row'}]\n")
    (pkg / "bench_miss.py").write_text(
        "from bench.harness import row\n"
        "def run(quick):\n"
        "    return [row('too slow', 2.0, unit='s', reference=1.0, ratio=2.0, target='≤ 1×', passed=False)]\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    return name


def test_crashing_module_becomes_an_error_row_the_run_goes_on_and_exits_1(fake_package, capsys):
    assert harness.main(["--quick", "--json"], package=fake_package) == 1
    rows = {r["module"]: r for r in json.loads(capsys.readouterr().out)}
    assert set(rows) == {"boom", "malformed", "miss"}
    assert rows["boom"]["error"] == "RuntimeError: boom at True" and rows["boom"]["passed"] is None
    assert "lacks keys" in rows["malformed"]["error"]
    assert rows["miss"]["error"] is None and rows["miss"]["passed"] is False


def test_missed_target_exits_0_unless_fail_on_miss(fake_package, capsys):
    assert harness.main(["--quick", "--only", "miss"], package=fake_package) == 0
    assert "MISS" in capsys.readouterr().out
    assert harness.main(["--quick", "--only", "bench_miss", "--fail-on-miss"], package=fake_package) == 1


def test_table_ends_with_wall_and_cpu_time_per_module(fake_package, capsys):
    assert harness.main(["--quick", "--only", "miss", "--only", "boom"], package=fake_package) == 1
    out, err = capsys.readouterr()
    total, per_module = out.rstrip().splitlines()[-2:]
    assert total.startswith("2 module(s) in ") and " s CPU incl. subprocesses" in total
    assert per_module.startswith("per module (wall/CPU): boom ") and ", miss " in per_module
    assert "[bench] miss done in " in err and " (CPU " in err


def test_summary_adds_up_wall_and_cpu_seconds():
    text = harness.summary({"store": (10.0, 8.5), "poll": (20.0, 3.0)}, load=1.5)
    assert text.splitlines() == [
        "2 module(s) in 30.0 s wall, 11.5 s CPU incl. subprocesses; load average 1.50 at start",
        "per module (wall/CPU): store 10.0 s/8.5 s, poll 20.0 s/3.0 s"]
    assert "load average" not in harness.summary({"cli": (1.0, 0.5)}, load=None)


def test_unknown_only_name_is_a_usage_error(fake_package, capsys):
    assert harness.main(["--only", "nosuch"], package=fake_package) == 2
    assert "unknown benchmark" in capsys.readouterr().err


def test_every_module_of_the_bench_package_is_discovered():
    assert {"cli", "demo", "store"} <= set(harness.discover())


def test_peak_rss_counts_the_child_only_not_this_process():
    ballast = b"x" * (300 * MB)  # a fork+exec child would inherit this high-water mark in ru_maxrss
    result, peak = harness.call_isolated("tests.bench.rss_probe:allocate", 64)
    assert result == 64
    assert 64 * MB < peak < 250 * MB
    run = harness.run_command([sys.executable, "-c", "b = b'x' * (64 << 20); print('ok'); raise SystemExit(3)"])
    assert run.returncode == 3 and run.stdout.strip() == "ok"
    assert 64 * MB < run.peak_rss < 250 * MB and run.seconds > 0
    del ballast


def _fake_divmon(monkeypatch: pytest.MonkeyPatch, code: str) -> None:
    monkeypatch.setattr(bench_demo, "divmon_command", lambda: ([sys.executable, "-c", code], "fake divmon"))


def test_demo_not_implemented_yet_is_reported_not_failed(monkeypatch):
    _fake_divmon(monkeypatch, "import sys; sys.stderr.write(\"ModuleNotFoundError: No module named "
                              "'monitor.cli.demo'\\n\"); sys.exit(1)")
    (r,) = bench_demo.run(quick=True)
    assert r["passed"] is None and r["value"] is None and "not implemented" in r["note"]


def test_demo_failure_raises_and_success_is_timed(monkeypatch):
    _fake_divmon(monkeypatch, "import sys; sys.stderr.write('divmon: error: replay server died\\n'); sys.exit(69)")
    with pytest.raises(RuntimeError, match="exited 69: divmon: error: replay server died"):
        bench_demo.run(quick=True)
    _fake_divmon(monkeypatch, "import sys; assert sys.argv[1:3] == ['demo', '--dir']")
    (r,) = bench_demo.run(quick=True)
    assert r["passed"] is True and 0 < r["value"] < 20 and "peak RSS" in r["note"]


def test_store_benchmark_writes_every_row_and_reports_ratios():
    rows = bench_store.bench_sqlite(4_000, repeat=1)  # raises if the store does not hold every row
    assert [r["target"] for r in rows] == ["≥ 0.9× raw sqlite3 executemany", "≥ 3× pandas.to_sql",
                                           "≥ 1× first run (no slower)"]
    for r in rows:
        assert r["unit"] == "rows/s" and r["value"] > 0 and r["ratio"] == pytest.approx(r["value"] / r["reference"])
    pg_rows = bench_store.bench_postgres(4_000, repeat=1)  # first load vs COPY, then the re-run vs the first load
    assert pg_rows
    for pg in pg_rows:
        assert pg["note"].startswith("skipped:") or pg["ratio"] == pytest.approx(pg["value"] / pg["reference"])


def test_frame_for_the_store_benchmark_is_key_sorted_like_a_source_frame():
    frame = bench_store.make_frame(4_000)
    assert len(frame) == 4_000 and list(frame.columns) == ["ts", "source", "token", "metric", "value"]
    keys = list(zip(frame["token"], frame["metric"], frame["source"], frame["ts"]))
    assert keys == sorted(keys) and len(set(keys)) == len(keys)
    assert str(frame["ts"].dt.tz) == "UTC"
