"""The bundled demo end to end: `divmon demo` in a subprocess, and a recording replayed twice giving
byte-identical JSON reports."""

import base64
import gzip
import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

from monitor.demo.recording import read_manifest
from monitor.demo.replay import replay_app
from monitor.demo.run import DATA_DIR, demo_config
from monitor.timeutil import to_utc

ROOT = Path(__file__).resolve().parents[3]


def test_bundled_recording_has_every_source_and_no_secret():
    manifest = read_manifest(DATA_DIR)
    assert set(manifest["sources"]) >= {"binance", "bybit", "okx", "gate", "defillama", "dune", "github", "etherscan",
                                        "chain"}
    assert manifest["time"] == "2026-11-20T06:00:00Z"
    for path in DATA_DIR.rglob("*"):
        if path.is_file():
            data = gzip.decompress(path.read_bytes()) if path.suffix == ".gz" else path.read_bytes()
            assert b"build-" not in data, f"a build placeholder key leaked into {path}"


def test_divmon_demo_prints_four_verdicts_and_writes_a_report_with_charts(tmp_path):
    code = "import sys; from monitor.cli import main; sys.exit(main(sys.argv[1:]))"
    out = subprocess.run([sys.executable, "-c", code, "demo", "--dir", str(tmp_path), "--json"],
                         capture_output=True, text=True, timeout=180, cwd=ROOT)
    assert out.returncode == 0, out.stderr[-2000:]
    result = json.loads(out.stdout)
    labels = {v["token"]: v["label"] for v in result["verdicts"]}
    assert set(labels) == {"SURGE", "ORGANIC", "DARK", "SPLIT"}
    assert labels["SURGE"] == "speculation"
    assert labels["ORGANIC"] == "adoption"
    assert labels["DARK"] == "insufficient data"
    surge = next(v for v in result["verdicts"] if v["token"] == "SURGE")
    assert {"oi_surge_unsupported", "oi_surge_with_redeployment", "perp_spot_ratio"} <= {f["rule"] for f in surge["flags"]}
    organic = next(v for v in result["verdicts"] if v["token"] == "ORGANIC")
    assert surge["confidence"] >= 0.95 and organic["confidence"] >= 0.95  # healthy data reads as healthy
    split = next(v for v in result["verdicts"] if v["token"] == "SPLIT")
    assert split["label"] == "mixed" and split["degraded"] and split["confidence"] < 0.9
    assert "source_disagreement" in {f["rule"] for f in split["flags"]}
    dark = next(v for v in result["verdicts"] if v["token"] == "DARK")
    assert dark["degraded"] and dark["confidence"] < 0.5
    assert result["problems"] == []  # every request the clients made was in the recording
    html = (tmp_path / "divmon-report.html").read_text()
    images = re.findall(r'<img[^>]*src="data:image/png;base64,([A-Za-z0-9+/=]+)"', html)
    assert len(images) >= 4  # one chart panel per token, inline so the file opens anywhere
    assert all(base64.b64decode(img)[:8] == b"\x89PNG\r\n\x1a\n" for img in images)
    assert (tmp_path / "divmon-report.json").is_file() and (tmp_path / "demo.db").is_file()


def _replayed_report(folder: Path) -> bytes:
    from monitor.jobs.outputs import report_job
    from monitor.jobs.poll import poll

    folder.mkdir()
    manifest = read_manifest(DATA_DIR)
    app = replay_app(demo_config(folder), DATA_DIR, cache_dir=folder / "cache")
    try:
        outcomes = poll(app, since=to_utc(manifest["since"]))
        assert app.unmatched() == {}
        [path] = report_job(app, formats=["json"], out=str(folder / "report.json"))
    finally:
        app.close()
    assert {o.status for o in outcomes if o.token == "SURGE" and o.source == "binance"} == {"ok"}
    return path.read_bytes()


@pytest.mark.slow
def test_a_recording_replayed_twice_gives_byte_identical_json_reports(tmp_path):
    first = _replayed_report(tmp_path / "one")
    second = _replayed_report(tmp_path / "two")
    assert first == second
    report = json.loads(first)
    assert "2026-11-20T06:00:00" in json.dumps(report)[:2000]  # stamped with the recording's clock
