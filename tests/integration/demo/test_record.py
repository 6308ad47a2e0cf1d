"""`record` against a loopback upstream: secrets never reach the recording, and a replay of it feeds
the real clients the same data the live poll saw."""

import gzip
import json
import re
from datetime import UTC, datetime, timedelta

import pytest

from monitor.config import Secrets, parse_config
from monitor.demo.record import record
from monitor.demo.replay import replay_app
from monitor.errors import ConfigError
from monitor.jobs.poll import poll
from monitor.store import Store

CANARY = "CANARY-3f9a1c-secret-key"
NOW = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)
DEPLOYER = "0x" + "ab" * 20
CREATED = "0x" + "cd" * 20
DAY = 86400


def _protocol():
    start = int((NOW - timedelta(days=20)).timestamp()) // DAY * DAY
    days = [start + i * DAY for i in range(21)]
    return {
        "id": "1", "name": "Org Proto", "symbol": "ORG", "chains": ["Ethereum"],
        "currentChainTvls": {"Ethereum": 2_000_000.0},
        "chainTvls": {"Ethereum": {
            "tvl": [{"date": d, "totalLiquidityUSD": 1_000_000.0 + 50_000 * i} for i, d in enumerate(days)],
            "tokens": [{"date": d, "tokens": {"ORG": 500_000.0 + 10_000 * i}} for i, d in enumerate(days)],
            "tokensInUsd": [],
        }},
        "tvl": [{"date": d, "totalLiquidityUSD": 1_000_000.0 + 50_000 * i} for i, d in enumerate(days)],
    }


def _txlist():
    ts = int((NOW - timedelta(days=3)).timestamp())
    return {"status": "1", "message": "OK", "result": [{
        "blockNumber": "21000000", "timeStamp": str(ts), "hash": "0x" + "11" * 32, "nonce": "5",
        "blockHash": "0x" + "22" * 32, "transactionIndex": "3", "from": DEPLOYER, "to": "", "value": "0",
        "gas": "3000000", "gasPrice": "1000000000", "isError": "0", "txreceipt_status": "1",
        "input": "0x60806040", "contractAddress": CREATED, "cumulativeGasUsed": "100", "gasUsed": "90",
        "confirmations": "5000", "methodId": "0x60806040",
        # some APIs echo the request: the key must be scrubbed from bodies too
        "functionName": f"echo apikey={CANARY}",
    }]}


def _config(httpserver, sources=("defillama", "etherscan")):
    srcs = {name: {"enabled": False} for name in ("binance", "bybit", "okx", "gate", "bitget", "hyperliquid",
                                                   "coinglass", "coingecko", "dune", "github", "chain")}
    srcs["defillama"] = {"base_url": httpserver.url_for("/").rstrip("/")}
    srcs["etherscan"] = {"base_url": httpserver.url_for("/v2/api"), "rate_limit_per_s": 100}
    return parse_config({
        "network": {"allow_loopback": True},
        "tokens": [{"symbol": "ORG", "defillama_slug": "orgproto",
                    "chains": [{"chain": "ethereum", "chain_id": 1, "deployers": [DEPLOYER]}]}],
        "sources": srcs,
    })


def _serve_upstream(httpserver):
    httpserver.expect_request("/protocol/orgproto").respond_with_json(
        _protocol(), headers={"X-Echo-Key": CANARY, "Set-Cookie": f"s={CANARY}"})
    httpserver.expect_request(re.compile(r"^/v2/api/?$"), query_string={
        "chainid": "1", "module": "account", "action": "txlist", "address": DEPLOYER, "startblock": "0",
        "endblock": "99999999", "page": "1", "offset": "1000", "sort": "desc", "apikey": CANARY,
    }).respond_with_json(_txlist())


def _all_bytes(folder):
    for path in sorted(folder.rglob("*")):
        if path.is_file():
            data = path.read_bytes()
            yield path, gzip.decompress(data) if path.suffix == ".gz" else data


@pytest.mark.parametrize("compress", [False, True])
def test_record_never_keeps_the_key_and_writes_a_manifest(httpserver, tmp_path, compress):
    _serve_upstream(httpserver)
    out = tmp_path / "rec"
    result = record(_config(httpserver), out, secrets=Secrets({"ETHERSCAN_API_KEY": CANARY}), now=NOW,
                    compress=compress)
    assert {(o.source, o.status) for o in result.outcomes} == {("defillama", "ok"), ("etherscan", "ok")}
    assert result.entries == {"defillama": 1, "etherscan": 1}
    for path, data in _all_bytes(out):
        assert CANARY.encode() not in data, f"secret in {path}"
    index = [json.loads(x) for x in (out / "etherscan" / "index.jsonl").read_text().splitlines()]
    assert [k for k, _ in index[0]["query"]] == ["action", "address", "chainid", "endblock", "module", "offset",
                                                 "page", "sort", "startblock"]
    assert (out / "defillama" / "index.jsonl").read_text().count("x-echo-key") == 0
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["time"] == "2026-11-20T12:00:00Z"
    assert manifest["keys_present"] == ["etherscan"]
    assert manifest["sources"]["etherscan"]["base_path"] == "/v2/api"
    assert "ETHERSCAN_API_KEY" in (out / "config.yaml").read_text()  # the variable's name, never its value


def test_replay_feeds_the_real_clients_the_recorded_data_offline(httpserver, tmp_path, sqlite_url):
    _serve_upstream(httpserver)
    out = tmp_path / "rec"
    record(_config(httpserver), out, secrets=Secrets({"ETHERSCAN_API_KEY": CANARY}), now=NOW)
    httpserver.clear()  # the upstream is gone: everything must come from the recording
    app = replay_app(_config(httpserver), out, store=Store(sqlite_url))
    try:
        assert app.now() == NOW
        outcomes = poll(app)
        assert {(o.source, o.status) for o in outcomes} == {("defillama", "ok"), ("etherscan", "ok")}
        frame = app.store.read_series("ORG", ["tvl_usd", "tvl_token"], NOW - timedelta(days=40), NOW)
        events = app.store.read_events("ORG") if hasattr(app.store, "read_events") else []
        assert app.unmatched() == {}
        servers = list(app.servers.values())
    finally:
        app.close()
    assert len(frame) == 2 * 21
    assert frame[frame.metric == "tvl_token"].value.max() == 700_000.0
    assert [e.address for e in events] == [CREATED]
    assert not httpserver.log  # nothing reached the upstream
    assert all(s.socket.fileno() == -1 for s in servers)  # servers stopped with the app


def test_record_refuses_a_non_empty_directory(httpserver, tmp_path):
    (tmp_path / "old.txt").write_text("x")
    with pytest.raises(ConfigError, match="not empty"):
        record(_config(httpserver), tmp_path, secrets=Secrets({}), now=NOW)


def test_replay_disables_sources_the_recording_lacks(httpserver, tmp_path, sqlite_url):
    _serve_upstream(httpserver)
    out = tmp_path / "rec"
    record(_config(httpserver), out, secrets=Secrets({"ETHERSCAN_API_KEY": CANARY}), now=NOW, sources=["defillama"])
    app = replay_app(_config(httpserver), out, store=Store(sqlite_url))
    try:
        assert set(app.sources()) == {"defillama"}
        assert "etherscan" in app.disabled
    finally:
        app.close()


def test_recorder_sends_each_binance_path_to_its_real_host_and_chain_calls_to_their_rpc():
    from monitor.demo.record import make_route

    cfg = parse_config({"sources": {"chain": {"rpc_urls": {"bsc": "https://bsc.example.org/v1/abc"}}}}).sources
    route = make_route("binance", cfg.binance)
    assert route("/fapi/v1/klines") == ("https://fapi.binance.com/fapi/v1/klines", "https://fapi.binance.com")
    assert route("/futures/data/openInterestHist")[0] == "https://fapi.binance.com/futures/data/openInterestHist"
    assert route("/api/v3/klines") == ("https://api.binance.com/api/v3/klines", "https://api.binance.com")
    chain = make_route("chain", cfg.chain)
    assert chain("/rpc/bsc") == ("https://bsc.example.org/v1/abc", "https://bsc.example.org")
    assert chain("/rpc/_default")[0] == "https://ethereum-rpc.publicnode.com"
