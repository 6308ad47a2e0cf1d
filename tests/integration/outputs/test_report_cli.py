"""`divmon report` end to end over a real SQLite store: formats, self-contained HTML, data health."""

from __future__ import annotations

import datetime as dt
import json
import re
import subprocess
import sys
from pathlib import Path

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
        # gate answered earlier, then banned us (418): dark, even though its last success is recent
        PollRun("gate", "AIA", started - dt.timedelta(hours=2), started - dt.timedelta(hours=2), "ok", 200,
                endpoint="fetch", rows=10),
        PollRun("gate", "AIA", started, started, "banned", 418, "TransientSourceError", "banned until later",
                endpoint="fetch"),
    ])
    app.store.upsert_events([Event(T0 - dt.timedelta(days=1), "AIA", "exchange", "perp_delisted", "",
                                   "notice:binance:AIAUSDT", -1, None, {"venue": "binance"}, "binance")])
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
    assert "proxy upgrade" in html and "0x" + "b" * 64 in html
    assert re.search(r'<td>okx</td><td class="stale">dark \(throttled\)</td><td>–</td>\s*<td>[^<]*</td><td>1</td>'
                     r"<td>1</td><td>2</td>", html)
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


ROOT = Path(__file__).resolve().parents[3]
MAIN = "import sys; from monitor.cli import main; sys.exit(main(sys.argv[1:]))"
AT = "2026-11-27T08:00:00Z"


def divmon(cfg, *argv):
    done = subprocess.run([sys.executable, "-c", MAIN, "-c", str(cfg), *argv], capture_output=True, text=True,
                          cwd=ROOT, timeout=180)
    assert done.returncode == 0, done.stderr
    return done.stdout


def test_json_and_markdown_alone_list_contract_and_market_events(setup):
    cfg, _ = setup
    doc = json.loads(divmon(cfg, "report", "--format", "json", "--out", "-", "--at", AT))
    aia = next(t for t in doc["tokens"] if t["token"] == "AIA")
    assert {e["kind"] for e in aia["events"]} == {"proxy_upgraded", "perp_delisted"}
    md = divmon(cfg, "report", "--format", "md", "--out", "-", "--at", AT)
    assert "proxy upgrade" in md and "delisting" in md and "0x" + "b" * 64 in md


def test_every_label_explains_itself_in_each_format(setup):
    cfg, _ = setup
    doc = json.loads(divmon(cfg, "report", "--format", "json", "--out", "-", "--at", AT))
    md = divmon(cfg, "report", "--format", "md", "--out", "-", "--at", AT)
    for t in doc["tokens"]:
        assert t["explanation"] and t["explanation"][0].startswith(f"{t['label']}: score"), t
        assert t["explanation"][0].replace("(", "\\(").replace(")", "\\)")[:40] in md
        assert any(line.startswith("confidence") for line in t["explanation"])
    assert "**Why**" in md


def test_data_as_of_lists_each_series_once_in_one_notation(setup):
    cfg, _ = setup
    doc = json.loads(divmon(cfg, "report", "--format", "json", "--out", "-", "--at", AT))
    for t in doc["tokens"]:
        keys = list(t["data_as_of"])
        assert keys and all(re.fullmatch(r"[a-z0-9_]+:[a-z0-9_]+", k) for k in keys), keys
        assert all(re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", v) for v in t["data_as_of"].values())
        pairs = [tuple(k.split(":")) for k in keys]
        assert len(set(pairs)) == len(pairs)
    aia = next(t for t in doc["tokens"] if t["token"] == "AIA")
    assert "binance:oi_usd" in aia["data_as_of"]


def test_banned_venue_reads_dark_in_data_health(setup):
    cfg, _ = setup
    doc = json.loads(divmon(cfg, "report", "--format", "json", "--out", "-", "--at", AT))
    health = {h["source"]: h for h in doc["health"]}
    assert health["gate"]["dark"] and health["gate"]["status"] == "banned", health["gate"]
    assert health["gate"]["last_ok"] is not None  # it did answer earlier: still dark now
    assert health["binance"]["status"] == "ok" and not health["binance"]["dark"]
    md = divmon(cfg, "report", "--format", "md", "--out", "-", "--at", AT)
    row = next(line for line in md.splitlines() if line.startswith("| gate |"))
    assert "dark \\(banned\\)" in row, row  # Markdown-escaped parentheses


def test_markdown_flags_read_as_facts_not_raw_evidence(setup):
    cfg, _ = setup
    md = divmon(cfg, "report", "--format", "md", "--out", "-", "--at", AT)
    assert not re.search(r"\{|\w+_\w+=|e\+0\d", md), md


def test_text_report_reads_flags_by_title_and_facts_not_rule_ids(setup):
    from monitor.evidence import RULE_TITLES

    cfg, _ = setup
    doc = json.loads(divmon(cfg, "report", "--format", "json", "--out", "-", "--at", AT))
    rules = {f["rule"] for t in doc["tokens"] for f in t["flags"]}
    assert rules, doc["tokens"]  # the seeded world raises flags
    text = divmon(cfg, "report", "--format", "text", "--out", "-", "--at", AT)
    for rule in rules:
        assert RULE_TITLES[rule] in text, (rule, text)
        assert rule not in text, (rule, text)
    assert re.search(r"^ {11}\S.* · ", text, re.M), text  # labelled facts under each flag
    assert not re.search(r"\{|\w+_\w+=|e\+0\d", text), text
