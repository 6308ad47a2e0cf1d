"""`poll` for a configured token with every on-chain source on loopback: TVL, active addresses, dev activity
and events are stored, and a second run adds nothing."""

from __future__ import annotations

from datetime import timedelta

import sqlalchemy as sa

from monitor.jobs.poll import poll
from monitor.timeutil import epoch_s
from tests.integration.onchain.conftest import IMPL_V2, NOW, PROXY
from tests.integration.onchain.fakes import FakeChain, Script
from tests.integration.onchain.test_defillama_github import commit_activity, contributors, protocol_payload
from tests.integration.onchain.test_dune import QID, ROOT, result_body
from tests.integration.onchain.test_etherscan import OK_ROWS

SOURCES = ["defillama", "dune", "github", "etherscan", "chain"]


def counts(app):
    engine = sa.create_engine(app.store.url)
    with engine.connect() as conn:
        obs = conn.exec_driver_sql("SELECT metric, COUNT(*) FROM observations GROUP BY metric").all()
        events = conn.exec_driver_sql("SELECT COUNT(*) FROM events").scalar()
    engine.dispose()
    return dict(obs), events


def test_poll_stores_every_onchain_series_and_events_and_a_second_run_adds_nothing(make_app, httpserver):
    chain = FakeChain(head=300_000, head_ts=epoch_s(NOW) - 30)
    chain.upgraded(PROXY, IMPL_V2, chain.block_at(epoch_s(NOW - timedelta(days=4))), tx=9)
    httpserver.expect_request("/rpc", method="POST").respond_with_handler(chain.handler)
    httpserver.expect_request("/llama/protocol/deagentai").respond_with_json(protocol_payload())
    httpserver.expect_request(f"{ROOT}/query/{QID}/results").respond_with_handler(Script(result_body()))
    httpserver.expect_request("/gh/repos/DeAgentAI/core").respond_with_json({"fork": False})
    httpserver.expect_request("/gh/repos/DeAgentAI/core/stats/commit_activity").respond_with_json(commit_activity())
    httpserver.expect_request("/gh/repos/DeAgentAI/core/stats/contributors").respond_with_json(contributors())
    httpserver.expect_request("/v2/api").respond_with_handler(Script(OK_ROWS))
    app = make_app(sources={"dune": {"query_ids": {"active_addresses": QID}}})

    outcomes = poll(app, sources=SOURCES, tokens=["AIA"])
    assert {o.source: o.status for o in outcomes} == dict.fromkeys(SOURCES, "ok"), [o.message for o in outcomes]
    obs, events = counts(app)
    for metric in ("tvl_usd", "tvl_token", "active_addresses", "dev_commits", "dev_contributors"):
        assert obs.get(metric, 0) > 0, metric
    kinds = {e.kind for e in app.store.read_events("AIA")}
    assert kinds == {"proxy_upgraded", "contract_created", "token_migration"}

    again = poll(app, sources=SOURCES, tokens=["AIA"])
    assert all(o.status == "ok" for o in again)
    assert counts(app) == (obs, events)
