"""`divmon config check` refuses, with the YAML path and exit 78, every config that used to pass it and
then crash at the first poll with "internal error"; the commands that would have crashed exit 78 too."""

from __future__ import annotations

import pytest

from tests.cli.runner import ROOT, divmon, offline_config, write_config

TOKEN = {"symbol": "ENA", "venues": {"binance": {"perp": "ENA/USDT:USDT"}}}

BAD = {
    "hr unit": ({"sources": {"binance": {"poll_interval": "1hr"}}}, "sources.binance.poll_interval"),
    "spelled unit": ({"signals": {"window": "7 days"}}, "signals.window"),
    "zero interval": ({"sources": {"defillama": {"poll_interval": "0s"}}}, "sources.defillama.poll_interval"),
    "bad overlap": ({"sources": {"github": {"overlap": "2 days"}}}, "sources.github.overlap"),
    "negative overlap": ({"sources": {"github": {"overlap": "-1h"}}}, "sources.github.overlap"),
    "retention": ({"storage": {"health_retention": "forever"}}, "storage.health_retention"),
    "exchange id": ({"tokens": [{"symbol": "ENA", "venues": {"binance": {"perp": "ENAUSDT"}}}]},
                    "tokens[0].venues.binance.perp"),
    "spot as perp": ({"tokens": [{"symbol": "ENA", "venues": {"gate": {"perp": "ENA/USDT"}}}]},
                     "tokens[0].venues.gate.perp"),
    "dated future": ({"tokens": [{"symbol": "ENA", "venues": {"okx": {"perp": "ENA/USDT:USDT-251226"}}}]},
                     "tokens[0].venues.okx.perp"),
    "spot dash": ({"tokens": [{"symbol": "ENA", "venues": {"gate": {"spot": "ENA-USDT"}}}]},
                  "tokens[0].venues.gate.spot"),
    "migration ts": ({"tokens": [{**TOKEN, "migrations": [{"id": "v2", "ts": "next week"}]}]},
                     "tokens[0].migrations[0].ts"),
    "migration month 13": ({"tokens": [{**TOKEN, "migrations": [{"id": "v2", "ts": "2025-13-01"}]}]},
                           "tokens[0].migrations[0].ts"),
    "percent newline": ({"email": {"subject_prefix": "[divmon]%0ABcc: x@example.org"}}, "email.subject_prefix"),
    "encoded word": ({"email": {"subject_prefix": "=?utf-8?q?=0D=0ABcc:_x@example.org?="}}, "email.subject_prefix"),
    "vertical tab": ({"email": {"subject_prefix": "[divmon]\x0bBcc: x"}}, "email.subject_prefix"),
    "sender newline": ({"email": {"sender": "a@example.org\nBcc: x@example.org"}}, "email.sender"),
}


def bad_config(tmp_path, data):
    sections = {"storage": {"url": f"sqlite:///{tmp_path / 'divmon.db'}"}, "tokens": [TOKEN]}
    for key, value in data.items():
        sections[key] = {**sections.get(key, {}), **value} if isinstance(value, dict) else value
    return write_config(tmp_path / "bad.yaml", offline_config(**sections))


@pytest.mark.parametrize("case", sorted(BAD))
def test_config_check_refuses_with_the_yaml_path_and_exit_78(tmp_path, case):
    data, path = BAD[case]
    out = divmon("config", "check", "--config", str(bad_config(tmp_path, data)))
    assert out.returncode == 78, out.stdout + out.stderr
    assert f"  - {path}: " in out.stderr
    assert "config OK" not in out.stderr and "internal error" not in out.stderr


@pytest.mark.parametrize("case", ["hr unit", "bad overlap", "exchange id", "migration ts", "encoded word"])
@pytest.mark.parametrize("command", [["poll"], ["run", "--once"], ["check", "ENA"]])
def test_the_commands_that_crashed_on_such_a_config_exit_78(tmp_path, case, command):
    data, path = BAD[case]
    out = divmon(*command, "--config", str(bad_config(tmp_path, data)))
    assert out.returncode == 78, out.stdout + out.stderr
    assert path in out.stderr and "internal error" not in out.stderr
    assert not (tmp_path / "divmon.db").exists()  # refused before anything was opened


def test_a_file_that_is_not_utf8_is_a_config_error(tmp_path):
    path = tmp_path / "latin1.yaml"
    path.write_bytes("tokens:\n  - symbol: ENA\n    name: Ethena résumé\n".encode("latin-1"))
    out = divmon("config", "check", "--config", str(path))
    assert out.returncode == 78, out.stderr
    assert "not UTF-8" in out.stderr and "line 3" in out.stderr


def test_valid_spellings_still_pass(tmp_path):
    tokens = [{"symbol": "PEPE", "venues": {"binance": {"perp": "1000PEPE/USDT:USDT"},
                                            "hyperliquid": {"perp": "kPEPE/USDC:USDC"},
                                            "gate": {"perp": "PEPE/USDT:USDT", "spot": "PEPE/USDT"}},
               "migrations": [{"id": "v2", "ts": "2025-10-01T00:00:00Z"}, {"id": "v3", "ts": "2025-11-01"},
                              {"id": "v4", "ts": "2025-11-02T12:00:00+02:00"}]}]
    config = write_config(tmp_path / "ok.yaml", offline_config(
        tokens=tokens, sources={"github": {"enabled": False, "overlap": "0s", "poll_interval": "1.5h"},
                                "dune": {"enabled": False, "max_age": "0s"}},
        signals={"window": "7d", "stale_after": "90m"}, email={"subject_prefix": "[divmon] 50% off → alerts"}))
    out = divmon("config", "check", "--config", str(config))
    assert out.returncode == 0, out.stderr
    assert "config OK: 1 token(s)" in out.stderr
    assert "ts: '2025-11-02T10:00:00Z'" in out.stdout  # resolved to UTC


def test_the_shipped_config_still_passes():
    out = divmon("config", "check", "--config", str(ROOT / "config.yaml"))
    assert out.returncode == 0, out.stderr
    assert "config OK" in out.stderr
