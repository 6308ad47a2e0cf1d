"""DefiLlama TVL and GitHub developer activity from loopback fakes in the documented shapes."""

from __future__ import annotations

from datetime import timedelta

import pytest

from monitor.errors import TransientSourceError
from monitor.jobs.poll import poll
from monitor.sources.defillama import parse_protocol
from monitor.timeutil import epoch_s, from_epoch
from tests.integration.onchain.conftest import NOW
from tests.integration.onchain.fakes import Script, json_response

SINCE = NOW - timedelta(days=10)
D = 86_400
T0 = epoch_s(NOW) - 3 * D  # three midnights: T0, T0+D, T0+2D, then an intraday sample


def protocol_payload() -> dict:
    days = [T0, T0 + D, T0 + 2 * D]
    now_sample = T0 + 2 * D + 15 * 3600  # intraday "now" point of the last day
    return {
        "id": "4242", "name": "DeAgentAI", "symbol": "AIA", "category": "AI", "chains": ["Ethereum", "BSC"],
        "currentChainTvls": {"Ethereum": 1300.0, "BSC": 500.0, "Ethereum-staking": 9999.0, "staking": 9999.0},
        "chainTvls": {
            "Ethereum": {
                "tvl": [{"date": d, "totalLiquidityUSD": v} for d, v in zip(days, [1000.0, 1100.0, 1200.0])]
                + [{"date": now_sample, "totalLiquidityUSD": 1300.0}],
                "tokens": [{"date": d, "tokens": {"AIA": a, "USDT": 50.0}} for d, a in zip(days, [100.0, 100.0, 100.0])]
                + [{"date": now_sample, "tokens": {"AIA": 99.0, "USDT": 50.0}}],
                "tokensInUsd": [{"date": d, "tokens": {"AIA": 950.0, "USDT": 50.0}} for d in days],
            },
            "BSC": {
                "tvl": [{"date": d, "totalLiquidityUSD": 500.0} for d in days[1:]],
                "tokens": [{"date": d, "tokens": {"AIA": 40.0}} for d in days[1:]],
            },
            "Ethereum-staking": {"tvl": [{"date": d, "totalLiquidityUSD": 9999.0} for d in days],
                                 "tokens": [{"date": d, "tokens": {"AIA": 5000.0}} for d in days]},
            "staking": {"tvl": [{"date": d, "totalLiquidityUSD": 9999.0} for d in days]},
            "borrowed": {"tvl": [{"date": d, "totalLiquidityUSD": 7777.0} for d in days]},
        },
        "tvl": [{"date": d, "totalLiquidityUSD": 1.0} for d in days],
    }


def series(app, metric, source):
    frame = app.store.read_series("AIA", [metric], SINCE - timedelta(days=7), NOW + timedelta(days=1), [source])
    return {int(ts.timestamp()): v for ts, v in zip(frame["ts"], frame["value"])}


def test_defillama_tvl_excludes_double_counted_buckets_and_counts_token_units(make_app, httpserver):
    httpserver.expect_request("/llama/protocol/deagentai").respond_with_json(protocol_payload())
    app = make_app()
    [outcome] = poll(app, sources=["defillama"], tokens=["AIA"], since=SINCE, until=NOW)
    assert outcome.status == "ok", outcome.message
    # the midnight point of the last day wins over the intraday sample (1300)
    assert series(app, "tvl_usd", "defillama") == {T0: 1000.0, T0 + D: 1600.0, T0 + 2 * D: 1700.0}
    # TVL in token units stays flat while USD TVL grows: growth is price
    assert series(app, "tvl_token", "defillama") == {T0: 100.0, T0 + D: 140.0, T0 + 2 * D: 140.0}
    poll(app, sources=["defillama"], tokens=["AIA"], since=SINCE, until=NOW)
    assert len(series(app, "tvl_usd", "defillama")) == 3


def test_defillama_include_buckets_and_intraday_day_without_midnight():
    payload = protocol_payload()
    payload["chainTvls"]["Ethereum"]["tvl"].append({"date": T0 + 3 * D + 3600, "totalLiquidityUSD": 1400.0})
    records, notes = parse_protocol(payload, "AIA", "AIA", include_buckets=["staking"])
    usd = {ts: v for ts, _, _, metric, v in records if metric == "tvl_usd"}
    assert usd[T0] == 1000.0 + 9999.0 + 9999.0  # Ethereum-staking and staking now included, borrowed not
    assert usd[T0 + 3 * D] == 1400.0  # a day with only an intraday sample keeps it at the day start
    assert notes == []


def test_defillama_without_the_token_in_its_breakdown_stores_no_tvl_token():
    payload = protocol_payload()
    for bucket in payload["chainTvls"].values():
        bucket.pop("tokens", None)
    records, notes = parse_protocol(payload, "AIA", "AIA")
    assert {r[3] for r in records} == {"tvl_usd"}
    assert notes and "tvl_token" in notes[0]


# ---------------------------------------------------------------- GitHub

W0 = 1_762_646_400  # Sunday 2025-11-09 00:00 UTC
WEEKS = [epoch_s(NOW) - (epoch_s(NOW) - W0) % (7 * D) - k * 7 * D for k in (2, 1, 0)]  # the last three Sundays


def commit_activity() -> list:
    return [{"days": [0, 1, 2, 0, 0, 0, 0], "total": t, "week": w} for w, t in zip(WEEKS, [3, 10, 5])]


def contributors() -> list:
    def weeks(counts):
        return [{"w": w, "a": 10, "d": 1, "c": c} for w, c in zip(WEEKS, counts)]

    return [
        {"author": {"login": "alice", "id": 1, "type": "User"}, "total": 8, "weeks": weeks([2, 4, 2])},
        {"author": {"login": "bob", "id": 2, "type": "User"}, "total": 3, "weeks": weeks([0, 3, 0])},
        {"author": {"login": "dependabot[bot]", "id": 3, "type": "Bot"}, "total": 4, "weeks": weeks([1, 3, 0])},
        {"author": {"login": "renovate", "id": 4, "type": "Bot"}, "total": 1, "weeks": weeks([0, 0, 1])},
    ]


def serve_github(httpserver, activity: Script, contrib: Script | None = None, repo: dict | None = None) -> None:
    httpserver.expect_request("/gh/repos/DeAgentAI/core").respond_with_json(
        repo or {"id": 1, "full_name": "DeAgentAI/core", "fork": False})
    httpserver.expect_request("/gh/repos/DeAgentAI/core/stats/commit_activity").respond_with_handler(activity)
    httpserver.expect_request("/gh/repos/DeAgentAI/core/stats/contributors").respond_with_handler(
        contrib or Script(contributors()))


def test_gh1_202_then_200_stores_weekly_commits_and_human_contributors(make_app, httpserver):
    activity = Script(json_response({}, 202), json_response({}, 202), commit_activity())
    serve_github(httpserver, activity)
    app = make_app()
    [outcome] = poll(app, sources=["github"], tokens=["AIA"], since=SINCE, until=NOW)
    assert outcome.status == "ok", outcome.message
    assert len(activity.requests) == 3
    # bot commits are subtracted; the first week (before the window's week) is outside
    assert series(app, "dev_commits", "github") == {WEEKS[1]: 7.0, WEEKS[2]: 4.0}
    assert series(app, "dev_contributors", "github") == {WEEKS[1]: 2.0, WEEKS[2]: 1.0}
    assert activity.requests[0].headers["X-GitHub-Api-Version"] == "2022-11-28"


def test_gh1_202_forever_is_pending_and_stores_nothing(make_app, httpserver):
    activity = Script(json_response({}, 202))
    serve_github(httpserver, activity)
    app = make_app()
    [outcome] = poll(app, sources=["github"], tokens=["AIA"], since=SINCE, until=NOW)
    assert outcome.status == "pending"
    assert len(activity.requests) == 3  # stats_attempts
    assert series(app, "dev_commits", "github") == {} and series(app, "dev_contributors", "github") == {}


def test_github_forked_repo_is_skipped(make_app, httpserver):
    activity = Script(commit_activity())
    serve_github(httpserver, activity, repo={"id": 1, "fork": True})
    app = make_app()
    [outcome] = poll(app, sources=["github"], tokens=["AIA"], since=SINCE, until=NOW)
    assert outcome.status == "ok" and "fork" in outcome.message
    assert activity.requests == [] and series(app, "dev_commits", "github") == {}


def test_github_token_is_sent_as_bearer_and_exhausted_limit_waits_for_reset(make_app, httpserver):
    reset = int(__import__("time").time()) + 120
    limited = json_response({"message": "API rate limit exceeded for user.", "documentation_url": "https://docs"},
                            403, {"x-ratelimit-remaining": "0", "x-ratelimit-reset": str(reset)})
    activity = Script(limited)
    serve_github(httpserver, activity)
    app = make_app(env={"GITHUB_TOKEN": "ghp_testtoken123"})
    source = app.sources(["github"])["github"]
    with pytest.raises(TransientSourceError) as err:
        source.fetch(app.config.token("AIA"), SINCE, NOW)
    assert err.value.kind == "throttled" and 100 <= err.value.retry_after <= 121
    assert activity.requests[0].headers["Authorization"] == "Bearer ghp_testtoken123"
    assert "ghp_testtoken123" not in str(err.value)
    assert source.http.limiter.blocked_for > 100  # no request to GitHub before the reset
    assert from_epoch(reset) > NOW
