"""`divmon check` end to end on a real SQLite file: text, --json, --at, exit codes, monitor.check()."""

from __future__ import annotations

import json
from datetime import timedelta

import pandas as pd
import pytest
import yaml

import monitor
from monitor.cli import main
from monitor.cli.check import exit_code
from monitor.model import Flag, Verdict
from monitor.store import Store
from tests.scenarios import episodes as E

OFF = {name: {"enabled": False} for name in ("binance", "bybit", "okx", "gate", "bitget", "hyperliquid", "coinglass",
                                              "coingecko", "defillama", "dune", "github", "etherscan", "chain")}


@pytest.fixture
def setup(tmp_path):
    """A config file with every source disabled (nothing to poll) and a store holding a surge."""
    db = f"sqlite:///{tmp_path / 'cli.db'}"
    cfg = E.config()
    cfg["storage"] = {"url": db}
    cfg["sources"] = OFF
    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump(cfg))
    frames = E.calm_market() + E.flat_onchain()
    for v in E.VENUES:
        frames = E.replace(frames, "oi_usd", v, E.series("oi_usd", v, E.ramp(5e6, 13e6, 24)))
    store = Store(db)
    store.upsert_observations(pd.concat(frames, ignore_index=True))
    store.close()
    return str(path)


def run(capsys, *argv):
    code = main(list(argv))
    return code, capsys.readouterr().out


def test_check_json_has_stable_keys_and_critical_exit(setup, capsys):
    at = E.NOW.isoformat()
    code, out = run(capsys, "-c", setup, "check", "aia", "--no-poll", "--json", "--at", at)
    data = json.loads(out)
    assert code == 2 and data["status"] == "CRITICAL" and data["exit_code"] == 2
    assert list(data) == ["version", "token", "status", "exit_code", "label", "score", "confidence", "as_of",
                          "degraded", "reasons", "flags", "health", "data_as_of", "score_breakdown"]
    assert data["label"] == "speculation" and data["as_of"] == "2025-11-20T12:00:00Z"
    surge = next(f for f in data["flags"] if f["rule"] == "oi_surge_unsupported")
    assert surge["evidence"]["windows"]["7d"]["oi_growth_pct"] == pytest.approx(160, abs=2)
    assert {h["source"] for h in data["health"]} >= {"binance", "defillama"}
    assert all(set(h) >= {"status", "last_ts", "age_s", "stale", "dark"} for h in data["health"])


def test_check_text_shows_label_flags_numbers_and_freshness(setup, capsys):
    code, out = run(capsys, "-c", setup, "check", "AIA", "--no-poll", "--at", E.NOW.isoformat())
    assert code == 2
    assert out.startswith("AIA  SPECULATION")
    assert "OI surge without on-chain growth" in out and "OI growth (7d) +160%" in out
    assert "Data: " in out and "binance" in out


def test_check_at_a_past_moment_uses_only_earlier_data(setup, capsys):
    at = (E.NOW - timedelta(days=3)).isoformat()
    code, out = run(capsys, "-c", setup, "check", "AIA", "--no-poll", "--json", "--at", at)
    data = json.loads(out)
    assert data["label"] != "speculation" and code in (0, 1)
    assert max(data["data_as_of"].values()) <= at


def test_check_unknown_when_data_is_missing(tmp_path, capsys):
    cfg = E.config()
    cfg["storage"] = {"url": f"sqlite:///{tmp_path / 'empty.db'}"}
    cfg["sources"] = OFF
    path = tmp_path / "c.yaml"
    path.write_text(yaml.safe_dump(cfg))
    code, out = run(capsys, "-c", str(path), "check", "AIA", "--no-poll", "--json")
    assert code == 3 and json.loads(out)["label"] == "insufficient data"


def test_check_polls_first_then_judges(setup):
    """With every source disabled the poll step is a no-op, and the verdict still comes back."""
    from monitor.app import App
    from monitor.config import load_config

    app = App(load_config(setup), now=lambda: E.NOW)
    verdict = monitor.check("AIA", app=app)
    assert isinstance(verdict, Verdict) and verdict.label == "speculation"
    assert [r["rule"] for r in app.store.read_flags(token="AIA") if r["rule"] == "oi_surge_unsupported"]


def test_bad_at_is_a_usage_error(setup, capsys):
    assert main(["-c", setup, "check", "AIA", "--no-poll", "--at", "yesterday-ish"]) == 64


@pytest.mark.parametrize(("label", "severities", "degraded", "code"), [
    ("insufficient data", ["critical"], False, 3),
    ("speculation", [], False, 2),
    ("mixed", ["critical"], False, 2),
    ("mixed", ["high"], False, 1),
    ("adoption", ["warn"], False, 1),
    ("mixed", ["info"], True, 1),
    ("adoption", ["info"], False, 0),
    ("mixed", [], False, 0),
])
def test_exit_code_mapping(label, severities, degraded, code):
    flags = tuple(Flag("r", s, "m") for s in severities)
    assert exit_code(Verdict("AIA", label, 50.0, 0.9, flags, E.NOW, degraded=degraded)) == code
