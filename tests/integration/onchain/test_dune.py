"""Dune through the real dune-client pointed at a loopback fake (its base_url)."""

from __future__ import annotations

import json
from datetime import timedelta

import yaml

from monitor.cli import main
from monitor.jobs.poll import poll
from tests.integration.onchain.conftest import DUNE_KEY, NOW, TOKEN_ADDR
from tests.integration.onchain.fakes import Script, json_response

SINCE = NOW - timedelta(days=10)
QID = 101
ROOT = "/dune/api/v1"


def result_body(state: str = "QUERY_STATE_COMPLETED", ended: str = "2026-11-19T23:10:00.123456Z",
                rows: list | None = None, execution_id: str = "01JEXEC") -> dict:
    rows = rows if rows is not None else [
        {"day": "2026-11-17 00:00:00.000 UTC", "active_addresses": 120},
        {"day": "2026-11-18 00:00:00.000 UTC", "active_addresses": 135},
        {"day": "2026-11-19 00:00:00.000 UTC", "active_addresses": None},
    ]
    return {
        "execution_id": execution_id, "query_id": QID, "is_execution_finished": True, "state": state,
        "submitted_at": "2026-11-19T23:00:00.000Z", "expires_at": "2027-02-17T23:10:00Z",
        "execution_started_at": "2026-11-19T23:00:01.000Z", "execution_ended_at": ended,
        "result": {"rows": rows, "metadata": {
            "column_names": ["day", "active_addresses"], "column_types": ["timestamp with time zone", "bigint"],
            "row_count": len(rows), "result_set_bytes": 120, "total_row_count": len(rows),
            "total_result_set_bytes": 120, "datapoint_count": 2 * len(rows), "pending_time_millis": 10,
            "execution_time_millis": 900}},
    }


def status_body(state: str, **extra) -> dict:
    body = {"execution_id": "01JEXEC", "query_id": QID, "state": state,
            "is_execution_finished": state not in ("QUERY_STATE_PENDING", "QUERY_STATE_EXECUTING"),
            "submitted_at": "2026-11-20T00:00:00Z", "expires_at": "2027-02-18T00:00:00Z"}
    body.update(extra)
    return body


STALE = result_body(ended="2026-11-16T00:00:00Z")


def dune_app(make_app):
    return make_app(sources={"dune": {"query_ids": {"active_addresses": QID}}})


def serve(httpserver, *, latest=None, execute=None, status=None, results=None):
    scripts = {
        "latest": latest or Script(STALE),
        "execute": execute or Script({"execution_id": "01JEXEC", "state": "QUERY_STATE_PENDING"}),
        "status": status or Script(status_body("QUERY_STATE_COMPLETED")),
        "results": results or Script(result_body()),
    }
    httpserver.expect_request(f"{ROOT}/query/{QID}/results", method="GET").respond_with_handler(scripts["latest"])
    httpserver.expect_request(f"{ROOT}/query/{QID}/execute", method="POST").respond_with_handler(scripts["execute"])
    httpserver.expect_request(f"{ROOT}/execution/01JEXEC/status").respond_with_handler(scripts["status"])
    httpserver.expect_request(f"{ROOT}/execution/01JEXEC/results").respond_with_handler(scripts["results"])
    return scripts


def run(app):
    [outcome] = poll(app, sources=["dune"], tokens=["AIA"], since=SINCE, until=NOW)
    return outcome


def stored(app):
    frame = app.store.read_series("AIA", ["active_addresses"], SINCE, NOW, ["dune"])
    return [(ts.strftime("%Y-%m-%d"), v) for ts, v in zip(frame["ts"], frame["value"])]


def test_d3_fresh_latest_result_is_used_without_executing(make_app, httpserver):
    scripts = serve(httpserver, latest=Script(result_body()))
    app = dune_app(make_app)
    outcome = run(app)
    assert outcome.status == "ok" and "queries sync" in outcome.message  # three metrics have no query id yet
    assert stored(app) == [("2026-11-17", 120.0), ("2026-11-18", 135.0)]
    assert scripts["execute"].requests == []
    req = scripts["latest"].requests[0]
    assert req.args["params.chain"] == "ethereum" and req.args["params.token_address"] == TOKEN_ADDR
    assert req.headers["x-dune-api-key"] == DUNE_KEY


def test_d3_stale_result_executes_once_and_polls_status_to_completion(make_app, httpserver):
    status = Script(status_body("QUERY_STATE_PENDING", queue_position=3), status_body("QUERY_STATE_EXECUTING"),
                    status_body("QUERY_STATE_COMPLETED"))
    scripts = serve(httpserver, status=status)
    app = dune_app(make_app)
    run(app)
    assert stored(app) == [("2026-11-17", 120.0), ("2026-11-18", 135.0)]
    [post] = scripts["execute"].requests
    body = json.loads(post.get_data())
    assert body["query_parameters"] == {"chain": "ethereum", "token_address": TOKEN_ADDR, "days": "90"}
    assert body["performance"] == "medium"
    assert len(status.requests) == 3


def test_d3_execution_past_its_deadline_is_checked_next_time_not_rerun(make_app, httpserver):
    status = Script(status_body("QUERY_STATE_EXECUTING"))
    scripts = serve(httpserver, status=status)
    app = make_app(sources={"dune": {"query_ids": {"active_addresses": QID}, "execution_deadline_s": 0.05}})
    outcome = run(app)
    assert outcome.status == "timeout" and stored(app) == []
    status.responses = [status_body("QUERY_STATE_COMPLETED")]
    run(app)
    assert len(scripts["execute"].requests) == 1  # the running execution was picked up, not re-executed
    assert stored(app) == [("2026-11-17", 120.0), ("2026-11-18", 135.0)]


def test_d1_failed_execution_is_typed_stores_nothing_and_is_not_rerun(make_app, httpserver):
    failed = status_body("QUERY_STATE_FAILED", error={"type": "FAILED_TYPE_EXECUTION_FAILED",
                                                       "message": "line 3:10: Column 'x' cannot be resolved",
                                                       "metadata": {"line": 3, "column": 10}})
    scripts = serve(httpserver, status=Script(failed))
    app = dune_app(make_app)
    outcome = run(app)
    assert outcome.status == "error" and "FAILED" in outcome.message and "cannot be resolved" in outcome.message
    assert stored(app) == []
    again = run(app)
    assert again.status == "error" and "not re-run" in again.message
    assert len(scripts["execute"].requests) == 1


def test_d1_latest_result_that_failed_recently_is_not_reexecuted(make_app, httpserver):
    latest = result_body(state="QUERY_STATE_FAILED", ended="2026-11-19T20:00:00Z")
    latest.pop("result")
    scripts = serve(httpserver, latest=Script(latest))
    app = dune_app(make_app)
    outcome = run(app)
    assert outcome.status == "error" and scripts["execute"].requests == []


def test_d2_partial_result_is_kept_but_marked_partial(make_app, httpserver):
    serve(httpserver, latest=Script(result_body(state="QUERY_STATE_COMPLETED_PARTIAL")))
    app = dune_app(make_app)
    outcome = run(app)
    assert outcome.status == "partial" and "partial (truncated)" in outcome.message
    runs = app.store.read_poll_runs(NOW - timedelta(days=1), source="dune")
    assert "partial" in set(runs["status"])


def test_d4_billing_answer_pauses_dune_for_the_period(make_app, httpserver):
    execute = Script(json_response({"error": "This API request would exceed your configured datapoint limit "
                                             "per billing cycle."}, 402))
    scripts = serve(httpserver, execute=execute)
    app = dune_app(make_app)
    outcome = run(app)
    assert outcome.status == "throttled" and "billing" in outcome.message
    before = len(scripts["latest"].requests) + len(execute.requests)
    again = run(app)
    assert again.status == "throttled"
    assert len(scripts["latest"].requests) + len(execute.requests) == before  # no Dune call while paused


def test_execute_post_is_never_retried_by_the_client(make_app, httpserver):
    execute = Script(json_response({"error": "An internal error occured"}, 503))
    serve(httpserver, execute=execute)
    app = dune_app(make_app)
    outcome = run(app)
    assert outcome.status == "error"
    assert len(execute.requests) == 1


def test_queries_sync_creates_then_updates_and_list_shows_ids(httpserver, tmp_path, monkeypatch, capsys):
    qdir = tmp_path / "queries"
    qdir.mkdir()
    sql = "-- metric: holders\n-- params: chain:text=ethereum, token_address:text=0x00, days:number=90\nSELECT {{days}}\n"
    (qdir / "holders.sql").write_text(sql)
    ids_file = tmp_path / "ids.json"
    cfg = {"network": {"allow_loopback": True}, "storage": {"url": f"sqlite:///{tmp_path / 'db.sqlite'}"},
           "sources": {"dune": {"base_url": httpserver.url_for("/dune").rstrip("/"), "ids_file": str(ids_file),
                                 "queries_dir": str(qdir)}}}
    (tmp_path / "config.yaml").write_text(yaml.safe_dump(cfg))
    create = Script({"query_id": 5001})
    update = Script({"query_id": 5001})
    httpserver.expect_request(f"{ROOT}/query/", method="POST").respond_with_handler(create)
    httpserver.expect_request(f"{ROOT}/query/5001", method="PATCH").respond_with_handler(update)
    monkeypatch.setenv("DUNE_API_KEY", DUNE_KEY)
    args = ["-c", str(tmp_path / "config.yaml"), "queries", "sync", "--dir", str(qdir)]
    assert main(args) == 0
    body = json.loads(create.requests[0].get_data())
    assert body["query_sql"] == sql and body["parameters"][2] == {"key": "days", "type": "number", "value": "90"}
    assert json.loads(ids_file.read_text())["holders"]["query_id"] == 5001
    assert main(args) == 0 and update.requests == []  # unchanged SQL: nothing sent
    (qdir / "holders.sql").write_text(sql + "-- v2\n")
    assert main(args) == 0 and len(update.requests) == 1 and len(create.requests) == 1
    capsys.readouterr()
    assert main(["-c", str(tmp_path / "config.yaml"), "queries", "list"]) == 0
    out = capsys.readouterr().out
    assert "holders" in out and "5001" in out and DUNE_KEY not in out


def test_liquidity_moves_query_rows_become_liquidity_migrated_events(make_app, httpserver):
    serve(httpserver, latest=Script(result_body()))
    moves = result_body(rows=[
        {"block_time": "2026-11-18 10:00:00.000 UTC", "block_number": 21_000_000, "tx_hash": "0x" + "ab" * 32,
         "evt_index": 7, "from_pool": "0x" + "01" * 20, "to_pool": "0x" + "02" * 20, "amount": 5.0e6,
         "amount_usd": 2.5e6},
        {"block_time": "2026-10-01 10:00:00.000 UTC", "block_number": 20_000_000, "tx_hash": "0x" + "cd" * 32,
         "evt_index": 1, "from_pool": "0x" + "01" * 20, "to_pool": "0x" + "03" * 20, "amount": 1.0,
         "amount_usd": None},  # before the window
    ])
    httpserver.expect_request(f"{ROOT}/query/202/results").respond_with_json(moves)
    app = make_app(sources={"dune": {"query_ids": {"active_addresses": QID, "liquidity_moves": 202}}})
    outcome = run(app)
    assert outcome.events == 1
    [event] = app.store.read_events("AIA")
    assert event.kind == "liquidity_migrated" and event.tx_hash == "0x" + "ab" * 32 and event.log_index == 7
    assert event.address == "0x" + "02" * 20 and event.detail["amount_usd"] == 2.5e6
    run(app)
    assert len(app.store.read_events("AIA")) == 1
