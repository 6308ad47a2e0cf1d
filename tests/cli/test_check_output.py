"""`divmon check` as a person and a monitoring system read it, run as a subprocess on a real SQLite file.

The store holds a SURGE-like episode (OI x2.6 in a day on four venues, perp volume ~150x spot, a proxy
upgrade a day before): seven or so flags with nested evidence.
"""

from __future__ import annotations

import json
import os
import pty
import re
import subprocess
import sys
from datetime import timedelta
from pathlib import Path

import pytest
import yaml

from monitor.store import Store
from tests.scenarios import episodes as E
from tests.scenarios.test_episodes import surge_frames

ROOT = Path(__file__).resolve().parents[2]
MAIN = "import sys; from monitor.cli import main; sys.exit(main(sys.argv[1:]))"
OFF = {name: {"enabled": False} for name in ("binance", "bybit", "okx", "gate", "bitget", "hyperliquid", "coinglass",
                                              "coingecko", "defillama", "dune", "github", "etherscan", "chain")}
ANSI = re.compile(r"\x1b\[[0-9;]*m")
NAGIOS = re.compile(r"^DIVMON (OK|WARNING|CRITICAL|UNKNOWN) - (\S+) ([a-z ]+) \(score (\d+), confidence (\d\.\d\d)\)"
                    r" \| (.+)$")
PERF = re.compile(r"^'?[^'=]+'?=-?[0-9.]+(s|ms|us|%|B|KB|MB|TB|c)?(;(-?[0-9.]*)){0,4}$")


@pytest.fixture
def surge_config(tmp_path):
    db = f"sqlite:///{tmp_path / 'check.db'}"
    cfg = E.config()
    cfg["storage"] = {"url": db}
    cfg["sources"] = OFF
    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump(cfg))
    store = Store(db)
    upgrade = E.event("proxy_upgraded", E.NOW - timedelta(hours=30), chain="ethereum", tx="0x" + "cd" * 32)
    E.make_app(store, surge_frames(), events=[upgrade], runs=E.ok_runs([*E.VENUES, "coingecko", "defillama"]))
    store.close()
    return str(path)


def divmon(*argv, env=None):
    env = {**os.environ, **(env or {})}
    env.pop("NO_COLOR", None) if env.get("NO_COLOR") is None else None
    return subprocess.run([sys.executable, "-c", MAIN, *argv], capture_output=True, text=True, cwd=ROOT,
                          env=env, timeout=120)


def check(cfg, *extra, env=None):
    return divmon("-c", cfg, "check", "AIA", "--no-poll", "--at", E.NOW.isoformat(), *extra, env=env)


def test_default_view_fits_one_screen(surge_config):
    done = check(surge_config)
    out = done.stdout
    assert done.returncode == 2, done.stderr
    lines = out.rstrip("\n").split("\n")
    assert len(lines) <= 25, out
    assert max(len(line) for line in lines) <= 120, out
    assert lines[0].startswith("AIA  SPECULATION  score 100/100  confidence 1.00"), out
    assert "\x1b[" not in out  # not a terminal: no colour
    # why this label, top flags as title plus a few facts in units, freshness in one line
    assert "Why:" in out and "on-chain:" in out
    assert "OI surge without on-chain growth" in out and "OI growth (7d) +161%" in out
    assert "Open interest $" in out
    assert re.search(r"^Data: .*binance", out, re.M), out
    assert not re.search(r"[{}]|\w+_\w+ ?=|e\+0\d", out), out
    assert "--verbose" in out  # the rest is one flag away


def test_verbose_shows_every_flag_and_fact(surge_config):
    short = check(surge_config).stdout
    full = check(surge_config, "--verbose")
    assert full.returncode == 2
    data = json.loads(check(surge_config, "--json").stdout)
    for flag in data["flags"]:
        assert flag["rule"] in full.stdout or flag["message"][:20] in full.stdout
    assert len(full.stdout.splitlines()) > len(short.splitlines())
    assert "Thresholds" in full.stdout and "Thresholds" not in short
    assert not re.search(r"[{}]|e\+0\d", full.stdout), full.stdout


def test_json_keeps_raw_evidence(surge_config):
    data = json.loads(check(surge_config, "--json").stdout)
    surge = next(f for f in data["flags"] if f["rule"] == "oi_surge_unsupported")
    assert surge["evidence"]["windows"]["7d"]["oi_growth_pct"] == pytest.approx(161, abs=2)


def test_nagios_status_line_and_perfdata(surge_config):
    done = check(surge_config, "--nagios")
    assert done.returncode == 2
    first, *rest = done.stdout.rstrip("\n").split("\n")
    m = NAGIOS.match(first)
    assert m, first
    assert m.group(1, 2, 3) == ("CRITICAL", "AIA", "speculation")
    assert first.startswith("DIVMON CRITICAL - AIA speculation (score 100, confidence 1.00) | "
                            "score=100;30;60;0;100 confidence=1.00;;;0;1 oi_usd="), first
    for item in m.group(6).split(" "):
        assert PERF.match(item), item
    perf = dict(item.split("=", 1) for item in m.group(6).split(" "))
    assert float(perf["oi_usd"].split(";")[0]) == pytest.approx(52.2e6, rel=0.01)
    assert int(perf["flags"].split(";")[0]) == len(json.loads(check(surge_config, "--json").stdout)["flags"])
    assert rest and all("|" not in line for line in rest)  # long text: one line per flag
    assert "\x1b[" not in done.stdout


def test_nagios_warning_thresholds_follow_config(surge_config, tmp_path):
    cfg = yaml.safe_load(Path(surge_config).read_text())
    cfg["verdict"] = {"speculation_score": 70, "adoption_score": 25}
    path = tmp_path / "other.yaml"
    path.write_text(yaml.safe_dump(cfg))
    first = check(str(path), "--nagios").stdout.split("\n")[0]
    assert "score=100;25;70;0;100" in first, first


def _tty_run(argv, env):
    """Run with stdout on a pseudo-terminal, as a person at a terminal sees it."""
    master, slave = pty.openpty()
    proc = subprocess.Popen([sys.executable, "-c", MAIN, *argv], stdout=slave, stderr=subprocess.DEVNULL,
                            cwd=ROOT, env=env)
    os.close(slave)
    chunks = []
    while True:
        try:
            data = os.read(master, 65536)
        except OSError:
            break
        if not data:
            break
        chunks.append(data)
    proc.wait(timeout=120)
    os.close(master)
    return proc.returncode, b"".join(chunks).decode()


def test_colour_on_a_terminal_and_no_color_honoured(surge_config):
    argv = ["-c", surge_config, "check", "AIA", "--no-poll", "--at", E.NOW.isoformat()]
    env = {k: v for k, v in os.environ.items() if k != "NO_COLOR"}
    code, out = _tty_run(argv, env)
    assert code == 2 and "\x1b[" in out
    plain = ANSI.sub("", out).replace("\r\n", "\n")
    assert plain.rstrip("\n") == check(surge_config).stdout.rstrip("\n")
    code, out = _tty_run(argv, {**env, "NO_COLOR": "1"})
    assert code == 2 and "\x1b[" not in out


def test_nagios_text_never_carries_a_second_pipe():
    from datetime import UTC, datetime

    from monitor.cli.check import render_nagios
    from monitor.model import Flag, Verdict

    v = Verdict("A|B", "mixed", 45, 0.8, (Flag("perp_spot_ratio", "warn", "perp | spot 12x\nsecond line"),),
                datetime(2025, 11, 20, tzinfo=UTC), evidence={"oi_usd": 1.5e6})
    out = render_nagios(v, warn=30, crit=60)
    assert out.count("|") == 1 and out.split("\n")[0].endswith("oi_usd=1500000;;;0 flags=1;;;0 dark_sources=0;;;0")
    assert len(out.split("\n")) == 2
