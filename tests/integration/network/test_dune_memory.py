"""Issue 14: Dune through our own client on its documented REST API. A failed (billed) execution and a
billing pause survive a restart of the process; results are read in pages (limit/offset), each page
under the body cap; the billed execute POST is never retried."""

from __future__ import annotations

from pathlib import Path

import yaml

from monitor.jobs.poll import poll
from tests.cli.runner import divmon, offline_config, write_config
from tests.faults.canary import CANARIES
from tests.integration.onchain.conftest import NOW, TOKEN_ADDR, build_app
from tests.integration.onchain.fakes import Script, json_response
from tests.integration.onchain.test_dune import QID, SINCE, STALE, result_body, serve, status_body

FAILED = status_body("QUERY_STATE_FAILED", error={"type": "FAILED_TYPE_EXECUTION_FAILED",
                                                  "message": "line 3:10: Column 'x' cannot be resolved"})


def _config(tmp_path: Path, httpserver, **dune) -> Path:
    token = {"symbol": "AIA", "chains": [{"chain": "ethereum", "chain_id": 1, "token_address": TOKEN_ADDR}]}
    data = offline_config(sources={"dune": {"base_url": httpserver.url_for("/dune").rstrip("/"),
                                            "query_ids": {"active_addresses": QID}, "poll_every_s": 0.01,
                                            "execution_deadline_s": 5, "max_retries": 0,
                                            # the child's test guard drops DUNE_API_KEY itself
                                            "api_key_env": "DIVMON_TEST_DUNE_KEY", **dune}})
    data["tokens"] = [token]
    data["storage"] = {"url": f"sqlite:///{tmp_path / 'db.sqlite'}", "cache_dir": str(tmp_path / "cache")}
    return write_config(tmp_path / "config.yaml", yaml.safe_dump(data))


def _app(httpserver, sqlite_url, tmp_path, **dune):
    return build_app(httpserver, sqlite_url, sources={"dune": {"query_ids": {"active_addresses": QID}, **dune}},
                     cache_dir=tmp_path / "cache")


def _run(app):
    [outcome] = poll(app, sources=["dune"], tokens=["AIA"], since=SINCE, until=NOW)
    return outcome


def _poll(config: Path):
    return divmon("-c", str(config), "poll", "--source", "dune",
                  env={"DIVMON_TEST_DUNE_KEY": CANARIES["DUNE_API_KEY"]})


def test_a_restarted_process_does_not_re_execute_a_failed_query_within_the_backoff(tmp_path, httpserver):
    scripts = serve(httpserver, latest=Script(STALE), status=Script(FAILED))
    config = _config(tmp_path, httpserver)
    first = _poll(config)
    assert "cannot be resolved" in first.stderr + first.stdout, first.stderr[-600:]
    assert len(scripts["execute"].requests) == 1
    second = _poll(config)  # a new process: only the state file remembers
    assert "not re-run" in second.stderr + second.stdout, second.stderr[-600:]
    assert len(scripts["execute"].requests) == 1


def test_a_restarted_process_keeps_the_billing_pause(tmp_path, httpserver):
    execute = Script(json_response({"error": "This API request would exceed your configured datapoint limit "
                                             "per billing cycle."}, 402))
    scripts = serve(httpserver, latest=Script(STALE), execute=execute)
    config = _config(tmp_path, httpserver)
    _poll(config)
    calls = len(scripts["latest"].requests) + len(execute.requests)
    assert len(execute.requests) == 1
    second = _poll(config)
    assert "billing" in second.stderr + second.stdout, second.stderr[-600:]
    assert len(scripts["latest"].requests) + len(execute.requests) == calls  # no Dune call while paused


def test_results_are_read_in_pages_each_under_the_body_cap(httpserver, sqlite_url, tmp_path):
    rows = [{"day": f"2026-11-{d:02d} 00:00:00.000 UTC", "active_addresses": 100 + d} for d in range(11, 20)]
    pages = {0: (rows[:5], 5), 5: (rows[5:], None)}
    seen: list[tuple[str, str]] = []

    def latest(request):
        seen.append((request.args["limit"], request.args["offset"]))
        page, next_offset = pages[int(request.args["offset"])]
        body = result_body(rows=page)
        body["next_offset"] = next_offset
        return json_response(body)

    serve(httpserver, latest=Script(latest))
    outcome = _run(_app(httpserver, sqlite_url, tmp_path, max_body_bytes=4096))
    assert outcome.status == "ok", outcome.message
    assert seen == [("10000", "0"), ("10000", "5")]
    assert outcome.rows == 9


def test_a_results_page_over_the_cap_is_refused(httpserver, sqlite_url, tmp_path):
    rows = [{"day": "2026-11-19 00:00:00.000 UTC", "active_addresses": 1, "pad": "x" * 5000}]
    scripts = serve(httpserver, latest=Script(result_body(rows=rows)))
    outcome = _run(_app(httpserver, sqlite_url, tmp_path, max_body_bytes=4096))
    assert outcome.status != "ok" and "cap" in outcome.message
    assert scripts["execute"].requests == []


def test_the_execute_post_is_sent_once_on_a_429(httpserver, sqlite_url, tmp_path):
    execute = Script(json_response({"error": "Too many requests"}, 429))
    serve(httpserver, execute=execute)
    outcome = _run(_app(httpserver, sqlite_url, tmp_path, max_retries=3))
    assert outcome.status == "throttled" and len(execute.requests) == 1
