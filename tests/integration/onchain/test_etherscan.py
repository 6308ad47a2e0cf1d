"""Etherscan V2 through the real HttpClient against a loopback fake: creations and the status-"0" error forms."""

from __future__ import annotations

from datetime import timedelta

import pytest

from monitor.errors import PermanentSourceError, TransientSourceError
from monitor.jobs.poll import poll
from monitor.timeutil import epoch_s
from tests.integration.onchain.conftest import DEPLOYER, ETHERSCAN_KEY, NOW
from tests.integration.onchain.fakes import Script, txh

SINCE = NOW - timedelta(days=10)
CREATED = "0x" + "ee" * 20


def tx(n: int, *, days: float, to: str = "", contract: str = "", is_error: str = "0", confirmations: int = 500) -> dict:
    """A txlist row in the documented shape: every number a decimal string."""
    return {
        "blockNumber": str(19_000_000 + n), "timeStamp": str(epoch_s(SINCE + timedelta(days=days))), "hash": txh(n),
        "nonce": str(n), "blockHash": txh(10**6 + n), "transactionIndex": "3", "from": DEPLOYER, "to": to,
        "value": "0", "gas": "3000000", "gasPrice": "21000000000", "isError": is_error, "txreceipt_status": "1",
        "input": "0x60806040", "contractAddress": contract, "cumulativeGasUsed": "100", "gasUsed": "90",
        "confirmations": str(confirmations), "methodId": "0x60806040", "functionName": "",
    }


OK_ROWS = {"status": "1", "message": "OK", "result": [
    tx(3, days=6, contract=CREATED),
    tx(2, days=4, to="0x" + "44" * 20),  # an ordinary call: not a creation
    tx(1, days=2, contract="0x" + "55" * 20, is_error="1"),  # failed deployment
    tx(4, days=-3, contract="0x" + "66" * 20),  # before the window
]}
RATE = {"status": "0", "message": "NOTOK", "result": "Max calls per sec rate limit reached (3/sec)"}
DAILY = {"status": "0", "message": "NOTOK", "result": "Max daily rate limit reached. 100000 (100K) per day"}
BAD_KEY = {"status": "0", "message": "NOTOK", "result": "Invalid API Key"}
EMPTY = {"status": "0", "message": "No transactions found", "result": []}


def serve(httpserver, script: Script) -> Script:
    httpserver.expect_request("/v2/api").respond_with_handler(script)
    return script


def run(app):
    return poll(app, sources=["etherscan"], tokens=["AIA"], since=SINCE, until=NOW)


def test_contract_created_by_a_watched_deployer(make_app, httpserver):
    script = serve(httpserver, Script(OK_ROWS))
    app = make_app()
    [outcome] = run(app)
    assert outcome.status == "ok", outcome.message
    [event] = [e for e in app.store.read_events("AIA") if e.source == "etherscan"]
    assert event.kind == "contract_created" and event.address == CREATED and event.tx_hash == txh(3)
    assert event.block == 19_000_003 and event.detail["deployer"] == DEPLOYER
    args = script.requests[0].args
    assert args["chainid"] == "1" and args["action"] == "txlist" and args["address"] == DEPLOYER
    assert args["apikey"] == ETHERSCAN_KEY and args["sort"] == "desc"
    run(app)
    assert len([e for e in app.store.read_events("AIA") if e.source == "etherscan"]) == 1


def test_e1_per_second_rate_limit_is_throttled_and_retried(make_app, httpserver):
    script = serve(httpserver, Script(RATE, RATE, OK_ROWS))
    app = make_app()
    [outcome] = run(app)
    assert outcome.status == "ok", outcome.message
    assert len(script.requests) == 3
    assert [e.kind for e in app.store.read_events("AIA") if e.source == "etherscan"] == ["contract_created"]


def test_e2_daily_limit_stops_the_source_until_the_next_day(make_app, httpserver):
    script = serve(httpserver, Script(DAILY))
    app = make_app()
    source = app.sources(["etherscan"])["etherscan"]
    token = app.config.token("AIA")
    with pytest.raises(TransientSourceError) as first:
        source.fetch(token, SINCE, NOW)
    assert first.value.retry_after == pytest.approx(86_400)  # NOW is midnight: the next reset is a day away
    with pytest.raises(TransientSourceError):
        source.fetch(token, SINCE, NOW)
    assert len(script.requests) == 1  # no hammering


def test_e3_invalid_key_is_fatal_after_one_attempt_and_never_shows_the_key(make_app, httpserver):
    script = serve(httpserver, Script(BAD_KEY))
    app = make_app()
    [outcome] = run(app)
    assert outcome.status == "auth"
    assert "ETHERSCAN_API_KEY" in outcome.message and ETHERSCAN_KEY not in outcome.message
    [again] = run(app)
    assert again.status == "auth"
    assert len(script.requests) == 1
    runs = app.store.read_poll_runs(NOW - timedelta(days=1), source="etherscan")
    assert not runs.astype(str).apply(lambda col: col.str.contains(ETHERSCAN_KEY)).any().any()


def test_e3_error_class_is_permanent(make_app, httpserver):
    serve(httpserver, Script(BAD_KEY))
    app = make_app()
    source = app.sources(["etherscan"])["etherscan"]
    with pytest.raises(PermanentSourceError) as err:
        source.fetch(app.config.token("AIA"), SINCE, NOW)
    assert err.value.kind == "auth" and ETHERSCAN_KEY not in str(err.value)


def test_e4_no_records_is_an_empty_success(make_app, httpserver):
    script = serve(httpserver, Script(EMPTY))
    app = make_app()
    [outcome] = run(app)
    assert outcome.status == "ok" and outcome.events == 0
    assert len(script.requests) == 1


def test_key_in_a_failing_url_is_redacted(make_app, httpserver):
    httpserver.expect_request("/v2/api").respond_with_data("<html>oops</html>", status=502, content_type="text/html")
    app = make_app(sources={"etherscan": {"max_retries": 0}})
    [outcome] = run(app)
    assert outcome.status == "error" and ETHERSCAN_KEY not in outcome.message
    runs = app.store.read_poll_runs(NOW - timedelta(days=1), source="etherscan")
    assert len(runs) >= 2
    assert not runs.astype(str).apply(lambda col: col.str.contains(ETHERSCAN_KEY)).any().any()


def test_txlist_is_paged_newest_first_until_the_window_start(make_app, httpserver):
    page1 = {"status": "1", "message": "OK", "result": [tx(9, days=8, contract=CREATED), tx(8, days=7, to="0x" + "44" * 20)]}
    page2 = {"status": "1", "message": "OK", "result": [tx(7, days=3, contract="0x" + "77" * 20),
                                                        tx(6, days=-1, to="0x" + "44" * 20)]}
    script = serve(httpserver, Script(page1, page2))
    app = make_app(sources={"etherscan": {"page_size": 2}})
    [outcome] = run(app)
    assert outcome.status == "ok" and outcome.events == 2
    assert [r.args["page"] for r in script.requests] == ["1", "2"]  # page 2 reached before the window: stop
