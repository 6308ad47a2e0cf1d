"""Contract events from a scripted JSON-RPC chain served on loopback to the real web3 HTTPProvider."""

from __future__ import annotations

import itertools
from datetime import timedelta

import pytest

from monitor.jobs.poll import poll
from monitor.sources import evm
from monitor.timeutil import epoch_s, from_epoch
from tests.integration.onchain.conftest import IMPL_V1, IMPL_V2, NOW, OWNED, PROXY
from tests.integration.onchain.fakes import FakeChain, word

SINCE = NOW - timedelta(days=10)
HEAD = 300_000


@pytest.fixture
def chain(httpserver):
    fake = FakeChain(head=HEAD, head_ts=epoch_s(NOW) - 30)
    httpserver.expect_request("/rpc", method="POST").respond_with_handler(fake.handler)
    return fake


def day_block(chain: FakeChain, days: float) -> int:
    return chain.block_at(epoch_s(SINCE + timedelta(days=days)))


def run(app):
    return poll(app, sources=["chain"], tokens=["AIA"], since=SINCE, until=NOW)


def chain_events(app, kind=None):
    return [e for e in app.store.read_events("AIA") if e.source == "chain" and (kind is None or e.kind == kind)]


def test_upgraded_log_on_day_6_is_stored_with_slot_evidence(make_app, chain):
    chain.set_slot(PROXY, evm.SLOT_IMPLEMENTATION, 1, IMPL_V1)
    block = day_block(chain, 5.5)
    chain.upgraded(PROXY, IMPL_V2, block, tx=77, log_index=3)
    app = make_app()
    [outcome] = run(app)
    assert outcome.status == "ok", outcome.message
    [event] = chain_events(app, "proxy_upgraded")
    assert event.block == block and event.log_index == 3 and event.address == PROXY
    assert event.ts == from_epoch(chain.ts(block))
    assert SINCE + timedelta(days=5) <= event.ts < SINCE + timedelta(days=6)
    assert event.detail["implementation"] == IMPL_V2
    assert event.detail["slot"] == evm.SLOT_IMPLEMENTATION
    assert event.detail["slot_address"] == IMPL_V2 and event.detail["confirmed"] is True
    assert event.detail["slot_block"] == hex(block)
    assert event.detail["block_hash"] == chain.logs[0]["blockHash"]
    # only final blocks were asked for
    assert max(hi for _, hi in chain.ranges) == HEAD - 12


def test_slot_that_disagrees_with_the_log_is_reported_unconfirmed(make_app, chain):
    block = day_block(chain, 2)
    chain.add_log(address=PROXY, topics=[evm.TOPIC_UPGRADED, word(IMPL_V2)], block=block, tx=5)
    chain.set_slot(PROXY, evm.SLOT_IMPLEMENTATION, 1, IMPL_V1)  # slot never changed
    app = make_app()
    run(app)
    [event] = chain_events(app, "proxy_upgraded")
    assert event.detail["confirmed"] is False and event.detail["slot_address"] == IMPL_V1


def test_admin_beacon_and_ownership_events_are_decoded(make_app, chain):
    admin_old, admin_new, beacon = "0x" + "c1" * 20, "0x" + "c2" * 20, "0x" + "c3" * 20
    b = day_block(chain, 1)
    chain.set_slot(PROXY, evm.SLOT_ADMIN, b, admin_new)
    chain.add_log(address=PROXY, topics=[evm.TOPIC_ADMIN_CHANGED], data="0x" + word(admin_old)[2:] + word(admin_new)[2:],
                  block=b, tx=1)
    chain.set_slot(PROXY, evm.SLOT_BEACON, b + 1, beacon)
    chain.add_log(address=PROXY, topics=[evm.TOPIC_BEACON_UPGRADED, word(beacon)], block=b + 1, tx=2)
    chain.add_log(address=OWNED, topics=[evm.TOPIC_OWNERSHIP_TRANSFERRED, word(admin_old), word(admin_new)],
                  block=b + 2, tx=3)
    # an Upgraded log from a contract we do not watch as a proxy is ignored
    chain.add_log(address=OWNED, topics=[evm.TOPIC_UPGRADED, word(IMPL_V2)], block=b + 3, tx=4)
    app = make_app()
    run(app)
    kinds = {e.kind: e for e in chain_events(app) if e.kind != "token_migration"}
    assert set(kinds) == {"admin_changed", "beacon_upgraded", "ownership_transferred"}
    assert kinds["admin_changed"].detail["admin"] == admin_new and kinds["admin_changed"].detail["previous"] == admin_old
    assert kinds["admin_changed"].detail["confirmed"] is True
    assert kinds["beacon_upgraded"].detail["beacon"] == beacon and kinds["beacon_upgraded"].detail["confirmed"] is True
    assert kinds["ownership_transferred"].detail["new_owner"] == admin_new


def test_configured_migration_becomes_a_token_migration_event(make_app, chain):
    app = make_app()
    run(app)
    [event] = chain_events(app, "token_migration")
    assert event.tx_hash == "config:v2" and event.log_index == -1
    assert event.detail["note"] == "v1 to v2 swap"


@pytest.mark.parametrize("error", [
    {"code": -32005, "message": "query returned more than 10000 results"},
    {"code": -32602, "message": "invalid params: block range too wide"},
    {"code": -32000, "message": "Log response size exceeded. You can make eth_getLogs requests with up to a 2K block range"},
])
def test_w1_rejected_range_is_bisected_until_accepted(make_app, chain, error):
    chain.range_cap = 3_000
    chain.range_error = error
    truth = set()
    for i, day in enumerate((0.3, 2.2, 5.5, 8.9)):
        b = day_block(chain, day)
        chain.upgraded(PROXY, "0x" + f"{i + 1:040x}", b, tx=100 + i)
        truth.add((b, "0x" + f"{100 + i:064x}"))
    app = make_app()
    [outcome] = run(app)
    assert outcome.status == "ok", outcome.message
    stored = {(e.block, e.tx_hash) for e in chain_events(app, "proxy_upgraded")}
    assert stored == truth
    accepted = [(lo, hi) for lo, hi in chain.ranges if hi - lo + 1 <= 3_000]
    assert len(chain.ranges) > len(accepted) > 0
    # the accepted ranges tile the scanned window without gaps or overlaps
    accepted.sort()
    assert all(b[0] == a[1] + 1 for a, b in itertools.pairwise(accepted))


def test_w2_result_equal_to_the_cap_is_split(make_app, chain):
    chain.count_cap = 3  # the provider silently returns at most 3 logs
    base = day_block(chain, 4)
    for i in range(7):
        chain.upgraded(PROXY, "0x" + f"{i + 1:040x}", base + i * 50, tx=200 + i)
    app = make_app(sources={"chain": {"max_results": 3}})
    [outcome] = run(app)
    assert outcome.status == "ok", outcome.message
    assert len(chain_events(app, "proxy_upgraded")) == 7


def test_w3_removed_log_is_dropped_and_unconfirmed_blocks_are_not_read(make_app, chain):
    block = day_block(chain, 7)
    entry = chain.upgraded(PROXY, IMPL_V2, block, tx=300)
    chain.upgraded(PROXY, IMPL_V1, HEAD - 5, tx=301)  # inside the confirmation depth: not final yet
    app = make_app()
    run(app)
    assert [e.tx_hash for e in chain_events(app, "proxy_upgraded")] == [entry["transactionHash"]]
    entry["removed"] = True  # the block was reorged out
    [outcome] = run(app)
    assert outcome.status == "ok"
    assert chain_events(app, "proxy_upgraded") == []


def test_second_poll_adds_no_duplicate(make_app, chain):
    chain.upgraded(PROXY, IMPL_V2, day_block(chain, 3), tx=400)
    app = make_app()
    run(app)
    first = chain_events(app)
    run(app)
    assert chain_events(app) == first and len(first) == 2  # upgrade + configured migration


def test_w4_lagging_head_does_not_move_the_scan_back(make_app, chain):
    chain.upgraded(PROXY, IMPL_V2, day_block(chain, 3), tx=500)
    app = make_app()
    run(app)
    before = chain_events(app)
    chain.head -= 100  # a node behind the one we asked before
    [outcome] = run(app)
    assert outcome.status == "error" and "behind" in outcome.message
    assert chain_events(app) == before


def test_w4_null_block_is_a_transient_failure(make_app, chain):
    chain.null_blocks = True
    app = make_app()
    [outcome] = run(app)
    assert outcome.status == "error" and "not available" in outcome.message
    assert chain_events(app, "proxy_upgraded") == []


# ------------------------------------------------------------------ lookback as a time span


def test_lookback_is_a_time_span_on_a_fast_chain(make_app, httpserver):
    """BNB Chain makes a block every 0.75 s: 50,000 blocks are 10 hours there. A 7-day lookback reaches
    an upgrade 6 days ago and no further."""
    fast = FakeChain(head=2_000_000, head_ts=epoch_s(NOW) - 30, block_time=0.75)
    httpserver.expect_request("/rpc", method="POST").respond_with_handler(fast.handler)
    fast.upgraded(PROXY, IMPL_V2, fast.block_at(epoch_s(NOW - timedelta(days=6))), tx=61)
    fast.upgraded(PROXY, IMPL_V1, fast.block_at(epoch_s(NOW - timedelta(days=8))), tx=81)
    app = make_app(sources={"chain": {"lookback": "7d", "lookback_blocks": None}})
    [outcome] = run(app)
    assert outcome.status == "ok", outcome.message
    [event] = chain_events(app, "proxy_upgraded")
    assert event.tx_hash.endswith(f"{61:064x}")
    first, floor = min(lo for lo, _ in fast.ranges), epoch_s(NOW - timedelta(days=7))
    assert fast.ts(first) >= floor > fast.ts(first - 1)  # the scan starts at the first block of the span


def test_the_old_lookback_blocks_key_still_caps_the_scan(make_app, httpserver):
    fast = FakeChain(head=2_000_000, head_ts=epoch_s(NOW) - 30, block_time=0.75)
    httpserver.expect_request("/rpc", method="POST").respond_with_handler(fast.handler)
    fast.upgraded(PROXY, IMPL_V2, fast.block_at(epoch_s(NOW - timedelta(days=6))), tx=61)
    app = make_app(sources={"chain": {"lookback_blocks": 50_000}})
    [outcome] = run(app)
    assert outcome.status == "ok", outcome.message
    assert chain_events(app, "proxy_upgraded") == []  # 50,000 blocks of 0.75 s: the last 10.4 hours only
    assert min(lo for lo, _ in fast.ranges) == fast.head - 12 - 50_000 + 1
