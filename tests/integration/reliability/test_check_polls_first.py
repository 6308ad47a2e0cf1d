"""`divmon check` and `monitor.check()` poll the token's sources first, then judge the fresh data."""

from __future__ import annotations

import json

import monitor
from tests.integration.reliability.loopback import divmon, scenario
from tools.demo_world.scenarios import T

LATEST_DAY = T.replace(hour=0)  # the scenario's newest daily CoinGecko point


def _health(verdict_json: dict, source: str) -> dict:
    return next(h for h in verdict_json["health"] if h["source"] == source)


def test_divmon_check_polls_its_sources_first_and_judges_the_fresh_point(tmp_path):
    servers: dict = {}
    with scenario(tmp_path, f"sqlite:///{tmp_path / 'divmon.db'}", sources=("coingecko",), servers=servers) as cfg:
        without = divmon(cfg, "check", "SURGE", "--no-poll", "--json")
        asked_before = servers["coingecko"].requests
        polled = divmon(cfg, "check", "SURGE", "--json")
        asked = servers["coingecko"].requests - asked_before
    assert asked_before == 0 and _health(json.loads(without.stdout), "coingecko")["last_ts"] is None
    assert asked > 0, polled.stderr[-2000:]
    assert _health(json.loads(polled.stdout), "coingecko")["last_ts"] == LATEST_DAY.strftime("%Y-%m-%dT%H:%M:%SZ")


def test_monitor_check_polls_first(tmp_path):
    servers: dict = {}
    with scenario(tmp_path, f"sqlite:///{tmp_path / 'divmon.db'}", sources=("coingecko",), servers=servers) as cfg:
        verdict = monitor.check("SURGE", config=str(cfg))
        assert servers["coingecko"].requests > 0
    health = next(h for h in verdict.health if h.source == "coingecko")
    assert health.last_ts == LATEST_DAY
