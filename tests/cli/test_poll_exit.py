"""`divmon poll` / `backfill` exit codes say what happened: 0 everything fetched, 1 some fetches failed
(named on stderr), 69 nothing could be fetched. A source with nothing configured for the token (bitget
here) asks nothing, so it can neither rescue nor spoil the verdict. The sources are real ones against a
loopback server: DefiLlama answering in its documented shape, GitHub answering 500."""

from __future__ import annotations

import sqlite3
import time
from pathlib import Path

import pytest

from tests.cli.runner import divmon, offline_config, write_config

DAY = 86_400


def protocol_payload(days_ago: int = 0) -> dict:
    """/protocol/{slug}: three daily TVL points ending yesterday (dates in unix seconds)."""
    today = int(time.time()) // DAY * DAY - days_ago * DAY
    days = [today - 3 * DAY, today - 2 * DAY, today - DAY]
    return {"id": "4242", "name": "Zed", "symbol": "ZED", "chains": ["Ethereum"],
            "currentChainTvls": {"Ethereum": 1200.0},
            "chainTvls": {"Ethereum": {"tvl": [{"date": d, "totalLiquidityUSD": v}
                                               for d, v in zip(days, [1000.0, 1100.0, 1200.0])],
                                       "tokens": [{"date": d, "tokens": {"ZED": 100.0}} for d in days]}},
            "tvl": [{"date": d, "totalLiquidityUSD": 1.0} for d in days]}


def make_config(tmp_path: Path, base: str) -> Path:
    quick = {"max_retries": 0, "deadline_s": 5, "rate_limit_per_s": 100}
    return write_config(tmp_path / "config.yaml", offline_config(
        storage={"url": f"sqlite:///{tmp_path / 'divmon.db'}"},
        tokens=[{"symbol": "ZED", "defillama_slug": "zed", "github_repos": ["zed/core"]}],
        sources={"defillama": {"enabled": True, "base_url": base + "/llama", **quick},
                 "github": {"enabled": True, "base_url": base + "/gh", **quick},
                 "bitget": {"enabled": True, "base_url": base + "/bitget", **quick}},
    ))


def stored_rows(tmp_path: Path) -> int:
    with sqlite3.connect(tmp_path / "divmon.db") as conn:
        return conn.execute("SELECT count(*) FROM observations").fetchone()[0]


@pytest.fixture
def config(tmp_path, httpserver) -> Path:
    httpserver.expect_request("/gh/repos/zed/core").respond_with_json({"message": "boom"}, status=500)
    return make_config(tmp_path, httpserver.url_for("").rstrip("/"))


@pytest.mark.parametrize("command", [["poll"], ["backfill", "ZED", "--since", "2026-01-01", "--no-progress"]])
def test_nothing_fetched_exits_69_and_names_the_failed_sources(config, httpserver, tmp_path, command):
    httpserver.expect_request("/llama/protocol/zed").respond_with_json({"message": "down"}, status=503)
    out = divmon(*command, "--config", str(config))
    assert out.returncode == 69, out.stdout + out.stderr
    assert "nothing could be fetched" in out.stderr
    assert "defillama/ZED" in out.stderr and "github/ZED" in out.stderr
    assert "bitget/ZED" not in out.stderr
    assert stored_rows(tmp_path) == 0


@pytest.mark.parametrize("command", [["poll"], ["backfill", "ZED", "--since", "2026-01-01", "--no-progress"]])
def test_some_fetches_failed_exits_1_and_names_them(config, httpserver, tmp_path, command):
    httpserver.expect_request("/llama/protocol/zed").respond_with_json(protocol_payload())
    out = divmon(*command, "--config", str(config))
    assert out.returncode == 1, out.stdout + out.stderr
    assert "1 of 2 fetches failed or were partial: github/ZED (" in out.stderr
    assert "defillama/ZED" not in out.stderr.split("were partial:")[1]
    assert stored_rows(tmp_path) == 3 * 2  # tvl_usd and tvl_token for three days


def test_a_source_that_answered_with_nothing_new_still_counts_as_reached(config, httpserver, tmp_path):
    httpserver.expect_request("/llama/protocol/zed").respond_with_json(protocol_payload(days_ago=90))
    out = divmon("poll", "--config", str(config))
    assert "defillama    ZED        ok          rows=0" in out.stdout
    assert out.returncode == 1, out.stdout + out.stderr  # github failed, but DefiLlama was reached
    assert "1 of 2 fetches failed or were partial: github/ZED (" in out.stderr


def test_every_fetch_succeeding_exits_0(tmp_path, httpserver):
    httpserver.expect_request("/llama/protocol/zed").respond_with_json(protocol_payload())
    config = make_config(tmp_path, httpserver.url_for("").rstrip("/"))
    out = divmon("poll", "--config", str(config), "--source", "defillama", "--source", "bitget")
    assert out.returncode == 0, out.stdout + out.stderr
    assert "failed" not in out.stderr
    assert stored_rows(tmp_path) == 6


def test_a_source_with_nothing_configured_alone_is_not_a_failure(tmp_path, httpserver):
    config = make_config(tmp_path, httpserver.url_for("").rstrip("/"))
    out = divmon("poll", "--config", str(config), "--source", "bitget")
    assert out.returncode == 0, out.stdout + out.stderr
    assert "bitget" in out.stdout and "nothing could be fetched" not in out.stderr


def test_a_partial_fetch_counts_as_some_failed(tmp_path, httpserver):
    from tests.integration.derivatives.conftest import Routes, json_response
    from tests.integration.derivatives.test_binance import serve_binance

    routes = Routes(httpserver)
    serve_binance(routes)
    routes.add("/futures/data/takerlongshortRatio", json_response({"code": -1, "msg": "busy"}, 500))
    base = httpserver.url_for("").rstrip("/")
    config = write_config(tmp_path / "config.yaml", offline_config(
        storage={"url": f"sqlite:///{tmp_path / 'divmon.db'}"},
        tokens=[{"symbol": "AIA", "venues": {"binance": {"perp": "AIA/USDT:USDT"}}}],
        sources={"binance": {"enabled": True, "base_url": base, "max_retries": 0, "deadline_s": 10}}))
    out = divmon("poll", "--config", str(config), cwd=tmp_path)
    assert "binance      AIA        partial" in out.stdout, out.stdout + out.stderr
    assert out.returncode == 1
    assert "1 of 1 fetches failed or were partial: binance/AIA (partial)" in out.stderr
