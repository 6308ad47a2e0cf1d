"""`divmon backfill TOKEN --since DATE` and `divmon poll --source S` against a loopback Binance."""

from __future__ import annotations

import yaml

from monitor import model as m
from monitor.cli import main
from monitor.store import Store

from .conftest import ALL_VENUES, NOW_MS, H
from .payloads import binance_exchange_info
from .test_binance import serve_binance


def write_config(tmp_path, base):
    sources = {n: {"enabled": False} for n in (*ALL_VENUES, "coinglass", "coingecko", "defillama", "dune", "github",
                                               "etherscan", "chain")}
    sources["binance"] = {"enabled": True, "ccxt_id": "binanceusdm", "base_url": base, "deadline_s": 10}
    cfg = {"network": {"allow_loopback": True}, "sources": sources,
           "tokens": [{"symbol": "AIA", "venues": {"binance": {"perp": "AIA/USDT:USDT"}}}]}
    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump(cfg))
    return path


def test_backfill_command_stores_history_and_prints_a_summary(routes, httpserver, tmp_path, sqlite_url,
                                                              monkeypatch, capsys):
    serve_binance(routes)
    monkeypatch.chdir(tmp_path)  # the markets cache lives under ./.divmon-cache
    path = write_config(tmp_path, httpserver.url_for("").rstrip("/"))
    rc = main(["--config", str(path), "--db", sqlite_url, "backfill", "AIA", "--since", "2026-11-20",
               "--source", "binance", "--no-progress"])
    out = capsys.readouterr().out
    assert rc == 0, out
    assert "binance" in out and "ok" in out
    frame = Store(sqlite_url).read_series("AIA", [m.OI_USD], sources=["binance"])
    assert [int(t.timestamp() * 1000) for t in frame["ts"]] == [NOW_MS - 3 * H, NOW_MS - 2 * H]
    since_ms = [int(a["startTime"]) for _, p, a in routes.hits if p == "/fapi/v1/fundingRate"]
    assert since_ms[0] == 1795132800000  # 2026-11-20T00:00Z, the requested start


def test_poll_command_with_unknown_symbol_only_exits_source_error(routes, httpserver, tmp_path, sqlite_url,
                                                                 monkeypatch, capsys):
    serve_binance(routes)
    routes.add("/fapi/v1/exchangeInfo", binance_exchange_info([("BTC", "USDT")], NOW_MS))  # AIA not listed
    monkeypatch.chdir(tmp_path)
    path = write_config(tmp_path, httpserver.url_for("").rstrip("/"))
    rc = main(["--config", str(path), "--db", sqlite_url, "poll", "--source", "binance"])
    out = capsys.readouterr().out
    assert rc == 69  # EX_UNAVAILABLE: every polled source failed
    assert "unsupported" in out and "not listed" in out


def test_divmon_poll_subprocess_announces_a_gate_delisting_once_with_its_cap(routes, httpserver, tmp_path,
                                                                             sqlite_url):
    import subprocess
    import sys
    import time
    from pathlib import Path

    from .test_venues import serve_gate

    delist_s = int(time.time()) + 2 * 86_400
    serve_gate(routes, in_delisting=True, delisting_time=delist_s)
    sources = {n: {"enabled": False} for n in (*ALL_VENUES, "coinglass", "coingecko", "defillama", "dune", "github",
                                               "etherscan", "chain")}
    sources["gate"] = {"enabled": True, "base_url": httpserver.url_for("").rstrip("/"), "deadline_s": 10}
    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump({"network": {"allow_loopback": True}, "sources": sources,
                                    "tokens": [{"symbol": "AIA", "venues": {"gate": {"perp": "AIA/USDT:USDT"}}}]}))
    root = Path(__file__).resolve().parents[3]
    started = int(time.time())
    for _ in range(2):
        out = subprocess.run([sys.executable, "-c", "import sys; from monitor.cli import main; sys.exit(main(sys.argv[1:]))",
                              "--config", str(path), "--db", sqlite_url, "poll", "--source", "gate"],
                             capture_output=True, text=True, timeout=120, cwd=root)
        assert out.returncode == 0, out.stdout + out.stderr
        time.sleep(1.1)  # the second poll is seen at a later second
    store = Store(sqlite_url)
    [event] = [e for e in store.read_events("AIA") if e.kind == "perp_delisted"]
    assert started <= event.ts.timestamp() <= started + 60  # the first poll's sighting, kept by the second
    assert event.detail["scheduled_at"].startswith(time.strftime("%Y-%m-%dT%H:%M", time.gmtime(delist_s)))
    assert list(store.read_series("AIA", [m.FUNDING_CAP], sources=["gate"])["value"]) == [0.003]
