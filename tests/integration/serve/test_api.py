"""The JSON API over a real store, answered by the real server on loopback."""

from __future__ import annotations

import csv
import hashlib
import io
import json
import sqlite3
from pathlib import Path
from urllib.parse import quote

import pytest

from monitor.errors import StoreError
from monitor.timeutil import epoch_s
from tests.cli.runner import divmon, offline_config, write_config
from tests.htmltags import TagCollector
from tests.integration.outputs.helpers import T0
from tests.integration.serve.conftest import HOSTILE, NOTE, start, stop


def _db_path(url: str) -> Path:
    return Path(url.removeprefix("sqlite:///"))


def test_verdict_is_the_document_divmon_check_json_prints(db, tmp_path):
    running = start(db, tmp_path, tokens=["SURGE", "CALM"])
    try:
        api = running.get("/api/tokens/SURGE")
    finally:
        stop(running)
    assert api.status_code == 200
    cfg = write_config(tmp_path / "c.yaml", offline_config(tokens=[{"symbol": "SURGE"}, {"symbol": "CALM"}]))
    cli = divmon("-c", str(cfg), "--db", db, "check", "SURGE", "--json", "--no-poll", "--at", T0.isoformat())
    assert cli.returncode in (0, 1, 2, 3), cli.stderr
    assert api.json() == json.loads(cli.stdout)
    assert api.json()["flags"], "the seeded surge should fire at least one rule"


def test_series_json_holds_exactly_the_stored_points_of_the_span(served, db):
    since, until = "2026-11-26T00:00:00Z", "2026-11-27T00:00:00Z"
    got = served.get(f"/api/tokens/SURGE/series?metric=oi_usd&since={since}&until={until}").json()
    with sqlite3.connect(_db_path(db)) as conn:
        rows = conn.execute("SELECT source, ts, value FROM observations WHERE token='SURGE' AND metric='oi_usd' "
                            "AND ts BETWEEN ? AND ? ORDER BY source, ts",
                            (epoch_s(T0.replace(day=26, hour=0)), epoch_s(T0.replace(day=27, hour=0)))).fetchall()
    flat = [(s["source"], t, v) for s in got["series"] for t, v in zip(s["ts"], s["value"], strict=True)]
    assert flat == rows and len(rows) == 2 * 25  # two venues, hourly, both ends included
    assert got["since"] == since and got["until"] == until


def test_series_csv_streams_the_same_points(served):
    q = "/api/tokens/SURGE/series?metric=funding_rate_8h&source=okx"
    as_json = served.get(q).json()["series"]
    resp = served.get(q + "&format=csv")
    assert resp.headers["content-type"].startswith("text/csv")
    table = list(csv.DictReader(io.StringIO(resp.text)))
    assert [r["source"] for r in table] == ["okx"] * len(as_json[0]["ts"])
    assert [float(r["value"]) for r in table] == as_json[0]["value"]
    assert table[-1]["ts"] == T0.strftime("%Y-%m-%dT%H:%M:%SZ")


@pytest.mark.parametrize("query, status", [
    ("/api/tokens/SURGE/series", 400),  # metric missing
    ("/api/tokens/SURGE/series?metric=oi_usd&since=yesterday", 400),
    ("/api/tokens/SURGE/series?metric=oi_usd&format=xml", 400),
    ("/api/tokens/SURGE/series?metric=" + "m" * 65, 400),
    ("/api/tokens/NOPE/series?metric=oi_usd", 404),
    ("/api/tokens/NOPE", 404),
    ("/tokens/NOPE", 404),
])
def test_bad_requests_are_answered_with_a_reason(served, query, status):
    resp = served.get(query)
    assert resp.status_code == status
    assert "NOPE" in resp.text or "metric" in resp.text or "since" in resp.text or "format" in resp.text


def test_ranking_lists_every_token_with_worst_flag_and_freshness(served):
    body = served.get("/api/tokens").json()
    rows = {r["token"]: r for r in body["tokens"]}
    assert set(rows) == {"SURGE", "CALM", HOSTILE}
    assert [r["rank"] for r in body["tokens"]] == [1, 2, 3]
    surge = rows["SURGE"]
    assert surge["severity"] in ("warn", "high", "critical") and surge["worst_flag"]
    assert surge["data_until"] == T0.strftime("%Y-%m-%dT%H:%M:%SZ") and surge["age_h"] == 0
    assert body["status"]["last_poll"] == "2026-11-27T07:57:00Z"


def test_flag_history_shows_each_episode_opened_and_resolved(served):
    flags = served.get("/api/tokens/SURGE/flags").json()["flags"]
    surge = {f["rule"]: f for f in flags}
    assert surge["oi_surge_unsupported"]["opened"] == "2026-11-25T08:00:00Z"
    assert surge["oi_surge_unsupported"]["resolved"] == "2026-11-27T08:00:00Z"
    assert surge["crowded_longs"]["open"] is True and surge["crowded_longs"]["resolved"] is None


def test_health_counts_failures_and_throttling_per_source(served):
    rows = {r["source"]: r for r in served.get("/api/health").json()["sources"]}
    assert rows["okx"]["http_429"] == 1 and rows["okx"]["http_418"] == 1 and rows["okx"]["failures"] == 2
    assert rows["okx"]["last_ok"] is None
    assert rows["binance"]["failures"] == 0 and rows["binance"]["last_ok"] == "2026-11-27T07:55:00Z"
    assert rows["binance"]["latency_ms_avg"] == 120.0
    assert rows["github"]["newest_point"] == "2026-11-27T08:00:00Z" and rows["github"]["polls"] == 0  # no runs
    for source in ("defillama", "dune"):  # an empty answer and a partial one are not failures
        assert rows[source]["failures"] == 0 and rows[source]["last_ok"] is not None


def test_every_answer_carries_a_csp_that_allows_no_other_origin(served):
    for path in ("/", "/tokens/SURGE", "/health", "/config", "/api/tokens", "/static/token.js", "/api/tokens/NOPE"):
        csp = served.get(path).headers["content-security-policy"]
        assert "default-src 'self'" in csp and "script-src 'self'" in csp
        assert "unsafe-inline" not in csp and "http" not in csp and "*" not in csp
        assert served.get(path).headers["x-content-type-options"] == "nosniff"


def _tags(html: str) -> TagCollector:
    parsed = TagCollector()
    parsed.feed(html)
    return parsed


def test_pages_load_no_inline_script_and_nothing_from_another_origin(served):
    for path in ("/", "/tokens/SURGE", "/tokens/" + quote(HOSTILE, safe=""), "/health", "/config"):
        tags = _tags(served.get(path).text).tags
        scripts = [a for t, a in tags if t == "script"]
        assert scripts and all(a.get("src", "").startswith("/static/") for a in scripts), path
        assert not [(t, a) for t, a in tags if t == "img" or any(k.startswith("on") for k in a)], path
        for _, attrs in tags:
            for key in ("src", "href", "action"):
                assert not (attrs.get(key) or "").startswith(("http:", "https:", "//", "javascript:")), attrs


def test_a_token_named_with_markup_is_shown_as_text(served):
    page = served.get("/").text
    assert HOSTILE not in page
    assert HOSTILE in "".join(_tags(page).text)  # shown, as text
    assert "&lt;IMG SRC=X ONERROR=ALERT(1)&gt;" in page
    assert f'href="/tokens/{quote(HOSTILE, safe="")}"' in page
    token_page = served.get("/tokens/" + quote(HOSTILE, safe=""))
    assert token_page.status_code == 200 and HOSTILE not in token_page.text
    surge = served.get("/tokens/SURGE").text  # the event detail carries the same markup
    assert NOTE not in surge and "note: &lt;img src=x onerror=alert(1)&gt;" in surge


def test_serving_never_writes_the_database(db, tmp_path):
    path = _db_path(db)
    before = {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in path.parent.glob("divmon.db*")}
    with sqlite3.connect(path) as conn:
        flags_before = conn.execute("SELECT * FROM flags ORDER BY token, rule, first_seen").fetchall()
    running = start(db, tmp_path, at=None)  # judging live is the path that would record flag history
    try:
        for p in ("/", "/tokens/SURGE", "/api/tokens/SURGE", "/api/tokens/SURGE/charts", "/health", "/api/flags"):
            assert running.get(p).status_code == 200
        with pytest.raises(StoreError, match=r"readonly|read-only"):
            running.dashboard.app.store.set_meta("x", "y")
    finally:
        stop(running)
    with sqlite3.connect(path) as conn:
        assert conn.execute("SELECT * FROM flags ORDER BY token, rule, first_seen").fetchall() == flags_before
    after = {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in path.parent.glob("divmon.db*")}
    assert after["divmon.db"] == before["divmon.db"]


def test_config_page_masks_secrets(db, tmp_path):
    secret = "cg-live-9f8e7d6c5b4a"
    running = start(db, tmp_path, secrets={"COINGLASS_API_KEY": secret})
    try:
        page = running.get("/config").text
    finally:
        stop(running)
    assert secret not in page and secret[:8] not in page
    assert "api_key: &#39;****&#39;" in page or "api_key: '****'" in page or "api_key: ****" in page


def test_a_symbol_is_found_whatever_its_case(served):
    assert served.get("/api/tokens/surge").json()["token"] == "SURGE"
    assert served.get("/api/tokens/Surge/series?metric=oi_usd").json()["token"] == "SURGE"


def test_csv_quotes_a_source_name_holding_separators():
    from monitor.serve.dashboard import csv_lines

    text = "".join(csv_lines([(0, 'a,"b"', 1.5), (3600, "okx", 2.0)]))
    assert list(csv.reader(io.StringIO(text))) == [["ts", "source", "value"], ["1970-01-01T00:00:00Z", 'a,"b"', "1.5"],
                                                   ["1970-01-01T01:00:00Z", "okx", "2.0"]]


def test_judging_live_is_redone_when_the_data_changes_or_refresh_s_passes(db, tmp_path):
    import time as _time

    import pandas as pd

    from monitor.store import Store

    running = start(db, tmp_path, at=None)
    board = running.dashboard
    try:
        first = board.snapshot()
        assert board.snapshot() is first  # same data, within refresh_s: kept
        board.refresh_s = 0.05
        _time.sleep(0.1)
        second = board.snapshot()
        assert second is not first and second.stamp == first.stamp  # refresh_s passed
        board.refresh_s = 3600
        writer = Store(db)
        writer.upsert_observations(pd.DataFrame({"ts": [T0], "source": "okx", "token": "NEW", "metric": "oi_usd",
                                                 "value": [1.0]}))
        writer.close()
        third = board.snapshot()
        assert third.stamp != second.stamp and "NEW" in third.verdicts
    finally:
        stop(running)


def test_two_writes_within_one_second_change_the_data_stamp(db, tmp_path):
    import time as _time

    import pandas as pd

    from monitor.store import Store

    running = start(db, tmp_path)
    writer = Store(db)
    try:
        _time.sleep(1 - _time.time() % 1 + 0.01)  # just past a second boundary: both writes share a second
        stamps = []
        for token in ("NEW1", "NEW2"):
            writer.upsert_observations(pd.DataFrame({"ts": [T0], "source": "okx", "token": token, "metric": "oi_usd",
                                                     "value": [1.0]}))
            stamps.append(running.dashboard.status()["stamp"])
        assert stamps[0] != stamps[1]
    finally:
        writer.close()
        stop(running)
