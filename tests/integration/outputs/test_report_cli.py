"""`divmon report` end to end over a real SQLite store: formats, self-contained HTML, data health."""

from __future__ import annotations

import datetime as dt
import json
import re

import pytest
import yaml

from monitor.cli import main
from monitor.model import Event, PollRun
from tests.integration.outputs.helpers import T0, config_dict, make_app, seed_series


@pytest.fixture
def setup(tmp_path):
    db = f"sqlite:///{tmp_path / 'divmon.db'}"
    app = make_app(db, tmp_path)
    seed_series(app, "AIA", end=T0)
    seed_series(app, "BBB", end=T0 - dt.timedelta(days=2), hours=100)
    app.store.upsert_events([Event(T0 - dt.timedelta(days=3), "AIA", "ethereum", "proxy_upgraded", "0x" + "a" * 40,
                                   "0x" + "b" * 64, 7, 123, {"implementation": "0x" + "c" * 40}, "chain")])
    started = T0 - dt.timedelta(hours=1)
    app.store.record_poll_runs([
        PollRun("binance", "AIA", started, started, "ok", 200, endpoint="fetch", rows=10),
        PollRun("okx", "AIA", started, started, "throttled", 429, "TransientSourceError", "429 Too Many Requests",
                endpoint="/api/v5/rubik"),
        PollRun("okx", "AIA", started, started, "throttled", None, "TransientSourceError", "gave up after 429s",
                endpoint="fetch"),
    ])
    data = config_dict(db, tmp_path / "reports")
    data["tokens"] = [{"symbol": "AIA"}, {"symbol": "BBB"}]
    cfg = tmp_path / "config.yaml"
    cfg.write_text(yaml.safe_dump(data))
    return cfg, tmp_path


def test_html_report_is_one_self_contained_file_with_charts_events_and_data_health(setup, capsys):
    cfg, tmp = setup
    out = tmp / "r.html"
    assert main(["-c", str(cfg), "report", "--format", "html", "--out", str(out), "--at", "2026-11-27T08:00:00Z"]) == 0
    html = out.read_text()
    assert len(re.findall(r'<img class="chart" alt="charts for (AIA|BBB)" src="data:image/png;base64,', html)) == 2
    assert not re.search(r'(src|href)="(?!data:|#)', html)  # nothing fetched from elsewhere
    assert "proxy_upgraded" in html and "0x" + "b" * 64 in html
    assert re.search(r"<td>okx</td><td>–</td><td>[^<]*</td><td>1</td>\s*<td>1</td><td>2</td>", html)
    assert "Data reaches <strong>2026-11-27T08:00:00Z</strong>" in html


def test_markdown_and_json_reports_rank_tokens_and_state_the_data_point_in_time(setup, capsys):
    cfg, tmp = setup
    assert main(["-c", str(cfg), "report", "--format", "json", "--out", str(tmp / "r.json"),
                 "--at", "2026-11-27T08:00:00Z"]) == 0
    doc = json.loads((tmp / "r.json").read_text())
    assert doc["schema_version"] == 1 and doc["at"] == "2026-11-27T08:00:00Z"
    assert {t["token"] for t in doc["tokens"]} == {"AIA", "BBB"}
    assert [t["rank"] for t in doc["tokens"]] == [1, 2]
    scores = [t["score"] for t in doc["tokens"]]
    assert scores == sorted(scores, reverse=True) or doc["tokens"][-1]["label"] == "insufficient data"
    assert doc["data_until"] >= "2026-11-27T07:00:00Z"
    assert main(["-c", str(cfg), "report", "--format", "md", "--token", "bbb", "--out", str(tmp / "r.md"),
                 "--at", "2026-11-27T08:00:00Z"]) == 0
    md = (tmp / "r.md").read_text()
    assert "| 1 | BBB |" in md and "AIA |" not in md and "## Data health" in md


def test_report_for_an_unknown_token_is_a_config_error(setup, capsys):
    cfg, _ = setup
    assert main(["-c", str(cfg), "report", "--token", "NOPE"]) == 78
    assert "NOPE" in capsys.readouterr().err


def test_digest_cli_preview_writes_an_eml_file(setup, capsys):
    cfg, tmp = setup
    out = tmp / "d.eml"
    assert main(["-c", str(cfg), "digest", "--out", str(out)]) == 0
    assert out.read_bytes().startswith(b"Subject: [divmon]") or b"\nSubject: [divmon]" in out.read_bytes()
    assert "preview" in capsys.readouterr().out
