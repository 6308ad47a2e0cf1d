"""The replay server: exact matching, recorded sequences, the volatile-parameter fallback, loud misses,
JSON-RPC matched on method+params with this run's ids."""

import json

import requests

from monitor.demo.recording import ORIGIN_MARK, SourceRecording, SourceWriter, make_key
from monitor.demo.server import ReplayServer


def _recording(tmp_path, entries):
    writer = SourceWriter(tmp_path / "binance")
    for method, path, query, body, status, headers, payload in entries:
        writer.add(make_key(method, path, query, body), status, headers, payload)
    writer.close()
    return SourceRecording.load(tmp_path / "binance")


def _serve(rec, secrets=()):
    return ReplayServer(rec, secrets).start()


def test_exact_match_serves_recorded_body_and_safe_headers(tmp_path):
    rec = _recording(tmp_path, [
        ("GET", "/fapi/v1/fundingRate", "symbol=SURGEUSDT&startTime=1&limit=1000", b"",
         200, {"Content-Type": "application/json", "Set-Cookie": "sid=1", "X-MBX-USED-WEIGHT-1M": "7"},
         b'[{"symbol":"SURGEUSDT","fundingRate":"0.00100000","fundingTime":1763596800000,"markPrice":"1.2"}]'),
    ])
    server = _serve(rec)
    try:
        # parameter order does not matter
        r = requests.get(server.origin + "/fapi/v1/fundingRate?limit=1000&startTime=1&symbol=SURGEUSDT", timeout=5)
    finally:
        server.stop()
    assert r.status_code == 200
    assert r.json()[0]["fundingRate"] == "0.00100000"
    assert r.headers["x-mbx-used-weight-1m"] == "7"
    assert "set-cookie" not in {k.lower() for k in r.headers}
    assert server.unmatched == [] and server.fallbacks == []


def test_repeated_requests_walk_the_recorded_sequence_then_repeat_the_last(tmp_path):
    rec = _recording(tmp_path, [
        ("GET", "/api/v4/futures/usdt/contract_stats", "contract=DARK_USDT", b"", 429,
         {"Content-Type": "application/json", "Retry-After": "120"}, b'{"label":"TOO_MANY_REQUESTS","message":"x"}'),
        ("GET", "/api/v4/futures/usdt/contract_stats", "contract=DARK_USDT", b"", 200,
         {"Content-Type": "application/json"}, b"[]"),
    ])
    server = _serve(rec)
    try:
        url = server.origin + "/api/v4/futures/usdt/contract_stats?contract=DARK_USDT"
        codes = [requests.get(url, timeout=5).status_code for _ in range(3)]
        first = requests.get(url.replace("DARK", "DARK"), timeout=5)
    finally:
        server.stop()
    assert codes == [429, 200, 200]
    assert first.status_code == 200


def test_fallback_ignores_volatile_params_but_never_changes_the_symbol(tmp_path):
    rec = _recording(tmp_path, [
        ("GET", "/fapi/v1/klines", "symbol=AUSDT&interval=1h&startTime=1000&endTime=5000", b"", 200,
         {"Content-Type": "application/json"}, b'["near"]'),
        ("GET", "/fapi/v1/klines", "symbol=AUSDT&interval=1h&startTime=900000&endTime=990000", b"", 200,
         {"Content-Type": "application/json"}, b'["far"]'),
    ])
    server = _serve(rec)
    try:
        near = requests.get(server.origin + "/fapi/v1/klines?symbol=AUSDT&interval=1h&startTime=1200&endTime=5200",
                            timeout=5)
        other = requests.get(server.origin + "/fapi/v1/klines?symbol=BUSDT&interval=1h&startTime=1000&endTime=5000",
                             timeout=5)
        interval = requests.get(server.origin + "/fapi/v1/klines?symbol=AUSDT&interval=4h&startTime=1000&endTime=5000",
                                timeout=5)
    finally:
        server.stop()
    assert near.json() == ["near"]
    assert len(server.fallbacks) == 1
    assert other.status_code == 404 and interval.status_code == 404
    assert other.json()["error"] == "not in recording" and "BUSDT" in other.json()["request"]
    assert len(server.unmatched) == 2


def test_secret_query_params_do_not_take_part_in_matching(tmp_path):
    rec = _recording(tmp_path, [
        ("GET", "/v2/api", "chainid=1&module=account&action=txlist", b"", 200,
         {"Content-Type": "application/json"}, b'{"status":"1","message":"OK","result":[]}'),
    ])
    server = _serve(rec, secrets=["placeholder-key-123"])
    try:
        r = requests.get(server.origin + "/v2/api?chainid=1&module=account&action=txlist&apikey=whatever", timeout=5)
    finally:
        server.stop()
    assert r.status_code == 200 and server.fallbacks == []


def test_jsonrpc_matches_method_and_params_and_answers_with_this_runs_id(tmp_path):
    call = {"jsonrpc": "2.0", "method": "eth_getStorageAt", "params": ["0xabc", "0x0", "latest"], "id": 7}
    rec = _recording(tmp_path, [
        ("POST", "/rpc/ethereum", "", json.dumps(call).encode(), 200, {"Content-Type": "application/json"},
         b'{"jsonrpc":"2.0","id":7,"result":"0x01"}'),
        ("POST", "/rpc/ethereum", "", json.dumps({**call, "method": "eth_blockNumber", "params": []}).encode(), 200,
         {"Content-Type": "application/json"}, b'{"jsonrpc":"2.0","id":8,"result":"0x10"}'),
    ])
    server = _serve(rec)
    try:
        r = requests.post(server.origin + "/rpc/ethereum", json={**call, "id": 41}, timeout=5)
        b = requests.post(server.origin + "/rpc/ethereum",
                          json={"jsonrpc": "2.0", "method": "eth_blockNumber", "params": [], "id": 42}, timeout=5)
        miss = requests.post(server.origin + "/rpc/ethereum", json={**call, "params": ["0xabc", "0x1", "latest"]},
                             timeout=5)
    finally:
        server.stop()
    assert r.json() == {"jsonrpc": "2.0", "id": 41, "result": "0x01"}
    assert b.json()["result"] == "0x10" and b.json()["id"] == 42
    assert miss.status_code == 404


def test_origin_marker_is_filled_with_the_server_origin(tmp_path):
    rec = _recording(tmp_path, [
        ("GET", "/repos/o/r/commits", "per_page=100", b"", 200,
         {"Content-Type": "application/json", "Link": f'<{ORIGIN_MARK}/repos/o/r/commits?page=2>; rel="next"'},
         f'[{{"url": "{ORIGIN_MARK}/repos/o/r/commits/abc"}}]'.encode()),
    ])
    server = _serve(rec)
    try:
        r = requests.get(server.origin + "/repos/o/r/commits?per_page=100", timeout=5)
    finally:
        server.stop()
    assert r.headers["link"].startswith(f"<{server.origin}/repos/o/r/commits?page=2>")
    assert r.json()[0]["url"] == server.origin + "/repos/o/r/commits/abc"
