"""Issue 14: one retry policy for our HttpClient, ccxt and the web3 RPC path. A 429 with Retry-After: 1
then a 200 is retried after the pause (the RPC path used to ignore Retry-After); a 400 is not retried;
a 429 without Retry-After blocks the host for the one default every family shares."""

from __future__ import annotations

import json

import pytest
from werkzeug import Request, Response

from monitor.errors import PermanentSourceError, SourceError, TransientSourceError
from monitor.sources import retry
from tests.integration.network.families import FAMILIES

# the path each family's call hits on the fake upstream, and a 200 in that API's documented shape
PATHS = {"ours": "/v2/api/", "ccxt": "/fapi/v1/time", "web3": "/rpc"}


def _ok(family: str, request: Request) -> Response:
    if family == "web3":
        call = json.loads(request.get_data())
        body = {"jsonrpc": "2.0", "id": call["id"], "result": "0x1b4"}
    elif family == "ccxt":
        body = {"serverTime": 1_700_000_000_000}
    else:
        body = {"status": "1", "message": "OK", "result": "0x1b4"}
    return Response(json.dumps(body), status=200, content_type="application/json")


def _serve(httpserver, family: str, first: Response) -> list[float]:
    """First answer ``first``, then 200s; returns the list the arrival times go to."""
    import time

    times: list[float] = []

    def handler(request: Request) -> Response:
        times.append(time.monotonic())
        return first if len(times) == 1 else _ok(family, request)

    httpserver.expect_request(PATHS[family]).respond_with_handler(handler)
    return times


@pytest.mark.parametrize("family", sorted(PATHS))
def test_a_429_with_retry_after_is_retried_after_the_pause(family, httpserver, make_app):
    times = _serve(httpserver, family, Response("slow down", status=429, headers={"Retry-After": "1"}))
    app = make_app(httpserver.url_for("/"), max_retries=2, deadline_s=6.0, read_timeout_s=2.0)
    FAMILIES[family](app)
    assert len(times) == 2, f"{family} sent {len(times)} requests"
    assert times[1] - times[0] >= 0.95, f"{family} retried {times[1] - times[0]:.2f}s after a Retry-After: 1"
    runs = [r for r in app.health.drain() if r.http_status == 429]
    assert [r.status for r in runs] == ["throttled"], f"{family} health rows {runs}"


@pytest.mark.parametrize("family", sorted(PATHS))
def test_a_400_is_not_retried(family, httpserver, make_app):
    body = json.dumps({"code": -1100, "msg": "Illegal characters found in parameter"})
    times = _serve(httpserver, family, Response(body, status=400, content_type="application/json"))
    app = make_app(httpserver.url_for("/"), max_retries=3, deadline_s=6.0)
    with pytest.raises(SourceError) as info:
        FAMILIES[family](app)
    assert len(times) == 1, f"{family} retried a 400 ({len(times)} requests)"
    assert not info.value.transient


@pytest.mark.parametrize("family", sorted(PATHS))
def test_a_429_without_retry_after_blocks_the_host_for_the_shared_default(family, httpserver, make_app):
    _serve(httpserver, family, Response("slow down", status=429))
    app = make_app(httpserver.url_for("/"), max_retries=2, deadline_s=3.0)
    with pytest.raises(SourceError) as info:
        FAMILIES[family](app)
    assert info.value.kind == "throttled"
    assert info.value.retry_after == pytest.approx(retry.DEFAULT_WAIT_S, abs=1.0)
    name = {"ours": "etherscan", "ccxt": "binance", "web3": "chain:ethereum"}[family]
    cfg = getattr(app.config.sources, name.split(":")[0])
    limiter = app.limiters.get(name, cfg.rate_limit_per_s, cfg.burst)
    assert limiter.blocked_for == pytest.approx(retry.DEFAULT_WAIT_S, abs=1.0)


def test_the_wait_parser_reads_retry_after_bans_and_defaults():
    assert retry.wait_from_answer(429, {"Retry-After": "7"}, "", cap=900) == 7
    assert retry.wait_from_answer(429, {}, "", cap=900) == retry.DEFAULT_WAIT_S
    assert retry.wait_from_answer(418, {}, "", cap=900) == retry.BAN_WAIT_S
    assert retry.wait_from_answer(429, {"Retry-After": "3600"}, "", cap=40) == 40
    banned = retry.wait_from_answer(418, {"Retry-After": "5"}, "IP banned until 1700000120000.", cap=900,
                                    now=lambda: 1_700_000_000.0)
    assert banned == pytest.approx(120)


def test_backoff_grows_with_jitter_and_stops_at_the_deadline():
    policy = retry.RetryPolicy(max_retries=5, backoff_base_s=1.0, clock=lambda: 0.0)
    delays = [policy.backoff(n) for n in range(1, 5)]
    assert all(0.5 * 2 ** i <= d <= 2 ** i for i, d in enumerate(delays))
    assert len({policy.backoff(3) for _ in range(20)}) > 1  # jittered
    err = TransientSourceError("x", source="s")
    assert policy.next_delay(err, 1, deadline=10.0) is not None
    assert policy.next_delay(err, 1, deadline=0.5) is None  # no time left
    assert policy.next_delay(err, 6, deadline=99.0) is None  # out of tries
    assert policy.next_delay(PermanentSourceError("x", source="s"), 1, deadline=99.0) is None
    assert policy.next_delay(TransientSourceError("x", source="s", kind="banned", retry_after=1), 1, 99.0) is None
    assert policy.next_delay(TransientSourceError("x", source="s", retry_after=3.0), 1, 99.0) == 3.0
