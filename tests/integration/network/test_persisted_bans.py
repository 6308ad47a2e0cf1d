"""Issue 13: a Retry-After block or a ban outlives the process: a restarted App (same cache_dir) does not
ask the blocked host again before the time is up."""

from __future__ import annotations

import pytest

from monitor.errors import TransientSourceError
from tests.integration.network.families import ours


def test_a_retry_after_block_survives_a_restart(httpserver, make_app):
    httpserver.expect_request("/v2/api/").respond_with_data("slow down", status=429, headers={"Retry-After": "120"})
    first = make_app(httpserver.url_for("/"), deadline_s=1.0)
    with pytest.raises(TransientSourceError, match="429"):
        ours(first)
    assert len(httpserver.log) == 1

    restarted = make_app(httpserver.url_for("/"), deadline_s=1.0)  # same cache_dir: what a new process reads
    with pytest.raises(TransientSourceError) as info:
        ours(restarted)
    assert info.value.kind in ("throttled", "banned") and "no request slot" in str(info.value)
    assert len(httpserver.log) == 1, "the restarted process asked a host that had said Retry-After: 120"
    assert restarted.limiters.get("etherscan", 1000, 100).blocked_for > 100
