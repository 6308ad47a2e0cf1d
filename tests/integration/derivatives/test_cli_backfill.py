"""`divmon backfill TOKEN --since DATE` and `divmon poll --source S` against a loopback Binance."""

from __future__ import annotations

import yaml

from monitor import model as m
from monitor.cli import main
from monitor.store import Store

from .conftest import ALL_VENUES, NOW_MS, H
from .payloads import binance_exchange_info
from .test_binance import serve_binance


def write_config(tmp_path, base):  # noqa: ANN001, ANN201
    sources = {n: {"enabled": False} for n in (*ALL_VENUES, "coinglass", "coingecko", "defillama", "dune", "github",
                                               "etherscan", "chain")}
    sources["binance"] = {"enabled": True, "ccxt_id": "binanceusdm", "base_url": base, "deadline_s": 10}
    cfg = {"network": {"allow_loopback": True}, "sources": sources,
           "tokens": [{"symbol": "AIA", "venues": {"binance": {"perp": "AIA/USDT:USDT"}}}]}
    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump(cfg))
    return path


def test_backfill_command_stores_history_and_prints_a_summary(routes, httpserver, tmp_path, sqlite_url,  # noqa: ANN001
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


def test_poll_command_with_unknown_symbol_only_exits_source_error(routes, httpserver, tmp_path, sqlite_url,  # noqa: ANN001
                                                                 monkeypatch, capsys):
    serve_binance(routes)
    routes.add("/fapi/v1/exchangeInfo", binance_exchange_info([("BTC", "USDT")], NOW_MS))  # AIA not listed
    monkeypatch.chdir(tmp_path)
    path = write_config(tmp_path, httpserver.url_for("").rstrip("/"))
    rc = main(["--config", str(path), "--db", sqlite_url, "poll", "--source", "binance"])
    out = capsys.readouterr().out
    assert rc == 69  # EX_UNAVAILABLE: every polled source failed
    assert "unsupported" in out and "not listed" in out
