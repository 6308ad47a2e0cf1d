"""Rows H1-H5 and H13: transport faults from the raw-socket server against the real HttpClient."""

from __future__ import annotations

import time

import pytest

from monitor.errors import PermanentSourceError, SourceError, TransientSourceError
from tests.faults.faultserver import closed_port

SLACK_S = 0.6  # scheduling tolerance on elapsed-time assertions (2-core CI)


def _call(client, path="v1/data"):
    t0 = time.monotonic()
    with pytest.raises(SourceError) as info:
        client.get_json(path, token="AIA")
    return info.value, time.monotonic() - t0


def _statuses(client):
    return [r.status for r in client.health.drain()]


def test_h1_connection_refused_is_retried_then_fails_clean(make_client):
    client = make_client(f"http://127.0.0.1:{closed_port()}/", max_retries=3)
    err, elapsed = _call(client)
    assert isinstance(err, TransientSourceError)
    assert "connection failed" in str(err)
    assert _statuses(client) == ["error"] * 4  # first try + 3 retries, each recorded for health
    assert elapsed < 2.0
    # the client (and so the daemon holding it) still works once the upstream is back
    assert client.limiter.blocked_for == 0


def test_h2_silent_server_read_timeout_ends_within_deadline(make_client, fault_server):
    server = fault_server("silent")
    client = make_client(server.url, read_timeout=0.3, deadline_s=1.0, max_retries=5)
    err, elapsed = _call(client)
    assert isinstance(err, TransientSourceError) and err.kind == "timeout"
    assert elapsed <= 1.0 + SLACK_S
    assert 1 <= server.connections <= 4  # retried, but only inside the deadline
    assert set(_statuses(client)) == {"timeout"}


def test_h3_trickled_body_is_cut_by_the_whole_request_deadline(make_client, fault_server):
    server = fault_server("trickle")
    client = make_client(server.url, read_timeout=2.0, deadline_s=1.5, max_retries=0)
    err, elapsed = _call(client)
    assert isinstance(err, TransientSourceError) and err.kind == "timeout"
    assert "deadline" in str(err)
    assert elapsed <= 1.5 + SLACK_S


def test_h3_trickled_headers_are_cut_by_the_whole_request_deadline(make_client, fault_server):
    server = fault_server("trickle_head")
    client = make_client(server.url, read_timeout=2.0, deadline_s=1.5, max_retries=0)
    err, elapsed = _call(client)
    assert isinstance(err, TransientSourceError) and err.kind == "timeout"
    assert elapsed <= 1.5 + SLACK_S


@pytest.mark.parametrize("mode", ["short_length", "cut_chunked", "reset"])
def test_h4_h5_truncated_or_reset_body_is_transient_retried_and_never_parsed(make_client, fault_server, mode):
    server = fault_server(mode)
    client = make_client(server.url, max_retries=2)
    err, elapsed = _call(client)
    # transient (a ParseError would mean a partial body reached the JSON parser)
    assert type(err) is TransientSourceError
    assert "body incomplete" in str(err) or "connection failed" in str(err)
    assert server.connections == 3
    assert _statuses(client) == ["error"] * 3
    assert elapsed < 2.0


def test_h5_reset_mid_body_names_no_partial_data(make_client, fault_server):
    server = fault_server("reset")
    client = make_client(server.url, max_retries=0)
    err, _ = _call(client)
    assert "1, 1" not in str(err)  # the half body is not echoed as if it were data


def test_h13_oversized_body_is_aborted_at_the_cap(make_client, fault_server):
    server = fault_server("oversized", body_size=100 * 1024 * 1024)
    client = make_client(server.url, max_body_bytes=1024 * 1024, deadline_s=5.0, max_retries=3)
    err, elapsed = _call(client)
    assert isinstance(err, PermanentSourceError) and "cap" in str(err)
    assert server.connections == 1  # a size breach is not retried
    time.sleep(0.2)
    assert server.sent_bytes < 20 * 1024 * 1024  # the read stopped early, not after 100 MB
    assert elapsed < 3.0


def test_h13_declared_length_over_the_cap_is_refused_before_reading(make_client, httpserver):
    httpserver.expect_request("/v1/data").respond_with_data("x" * 5000, content_type="application/json")
    client = make_client(httpserver.url_for("/"), max_body_bytes=1000)
    err, _ = _call(client)
    assert isinstance(err, PermanentSourceError) and "5000 bytes exceeds the cap of 1000" in str(err)
