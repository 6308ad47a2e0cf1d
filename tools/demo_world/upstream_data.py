"""Scenario answers for the aggregate and on-chain sources (CoinGlass, CoinGecko, DefiLlama, Dune,
GitHub, Etherscan, JSON-RPC), in each API's documented format. Used only to build the bundle."""

from __future__ import annotations

import hashlib
import json
import zlib
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from tools.demo_world.scenarios import (
    DAY,
    HEAD_BLOCK,
    HOUR,
    SCENARIOS,
    START_S,
    T_S,
    Scenario,
    block_at,
    block_ts,
)
from tools.demo_world.upstream_venues import JSON, TF_MS, Answer, bars

T_MS = T_S * 1000
UPGRADED = "0xbc7cd75a20ee27fd9adebab32041f755214dbc6bffa90cc0225b39da2e5c2d3b"
IMPL_SLOT = "0x360894a13ba1a3210667c828492db98dca3e2076cc3735a920a3ca505d382bbc"
DUNE_IDS = {4_100_001: "active_addresses", 4_100_002: "transfer_count", 4_100_003: "holders",
            4_100_004: "dex_volume_usd"}


def _days(start_s: int, end_s: int) -> list[int]:
    first = start_s - start_s % DAY
    return list(range(first, end_s - end_s % DAY + 1, DAY))


def _by(pred: Callable[[Scenario], bool]) -> Scenario | None:
    return next((s for s in SCENARIOS.values() if pred(s)), None)


def _hexh(*key: object) -> str:
    return "0x" + hashlib.sha256("|".join(map(str, key)).encode()).hexdigest()


# ------------------------------------------------------------------ CoinGlass v4


def _cg(data: Any) -> Answer:
    return 200, JSON, {"code": "0", "msg": "success", "data": data}


def coinglass(path: str, q: dict[str, str], body: bytes) -> Answer | None:
    sym = (q.get("symbol") or "").upper()
    s = _by(lambda x: sym in (x.symbol, x.symbol + "USDT"))
    if s is None:
        return 200, JSON, {"code": "400", "msg": f"symbol {sym[:20]} not supported", "data": None}
    tf = TF_MS.get(q.get("interval", "4h"), 4 * HOUR * 1000)
    qq = {"limit": q.get("limit", "1000"), "startTime": q.get("start_time", ""), "endTime": q.get("end_time", "")}
    times = bars(tf, {k: v for k, v in qq.items() if v}, default_limit=1000, max_limit=1000, include_open=False)
    if "open-interest" in path:
        rows = []
        for t in times:
            pts = [s.oi_usd(t / 1000 + h * HOUR) * s.cg_oi_factor for h in range(tf // (HOUR * 1000) + 1)]
            rows.append({"time": t, "open": f"{pts[0]:.2f}", "high": f"{max(pts):.2f}", "low": f"{min(pts):.2f}",
                         "close": f"{pts[-1]:.2f}"})
        return _cg(rows)
    if "funding-rate" in path:
        rows = []
        for t in times:
            interval, rate = s.funding(t / 1000)
            pct = rate * 100 * 8 / interval  # CoinGlass: percent, OI-weighted, per 8h equivalent
            rows.append({"time": t, "open": f"{pct:.6f}", "high": f"{pct * 1.05:.6f}", "low": f"{pct * 0.95:.6f}",
                         "close": f"{pct:.6f}"})
        return _cg(rows)
    if "liquidation" in path:
        rows = []
        for t in times:
            long = sum(s.liquidations_hour(t / 1000 + h * HOUR)[0] for h in range(tf // (HOUR * 1000)))
            short = sum(s.liquidations_hour(t / 1000 + h * HOUR)[1] for h in range(tf // (HOUR * 1000)))
            if "aggregated" in path:
                rows.append({"time": t, "aggregated_long_liquidation_usd": round(long, 2),
                             "aggregated_short_liquidation_usd": round(short, 2)})
            else:
                rows.append({"time": t, "long_liquidation_usd": f"{long:.2f}", "short_liquidation_usd": f"{short:.2f}"})
        return _cg(rows)
    if "long-short" in path:
        rows = []
        for t in times:
            r = s.long_short(t / 1000)
            long = 100 * r / (1 + r)
            rows.append({"time": t, "global_account_long_percent": round(long, 2),
                         "global_account_short_percent": round(100 - long, 2),
                         "global_account_long_short_ratio": round(r, 4)})
        return _cg(rows)
    return None


# ------------------------------------------------------------------ CoinGecko


def coingecko(path: str, q: dict[str, str], body: bytes) -> Answer | None:
    parts = path.strip("/").split("/")
    s = _by(lambda x: len(parts) > 3 and parts[3] == x.slug)
    if s is None or parts[-1] != "market_chart":
        return (404, JSON, {"error": "coin not found"}) if parts[-1] == "market_chart" else None
    days = q.get("days", "90")
    n = 365 if days == "max" else int(days)
    points = [*_days(T_S - n * DAY, T_S), T_S]  # daily at 00:00 UTC, then "now"
    prices, caps, vols = [], [], []
    for d in points:
        spot = sum(s.spot_volume_hour(d - h * HOUR) for h in range(1, 25)) * 3.0  # all tracked venues
        prices.append([d * 1000, round(s.price(d), 8)])
        caps.append([d * 1000, round(s.price(d) * s.supply, 2)])
        vols.append([d * 1000, round(spot, 2)])
    return 200, JSON, {"prices": prices, "market_caps": caps, "total_volumes": vols}


# ------------------------------------------------------------------ DefiLlama


def defillama(path: str, q: dict[str, str], body: bytes) -> Answer | None:
    if not path.startswith("/protocol/"):
        return None
    s = _by(lambda x: x.slug == path.rsplit("/", 1)[1])
    if s is None:
        return 400, {"Content-Type": "text/plain"}, "Protocol not found"
    days = _days(START_S, T_S)
    tvl = [{"date": d, "totalLiquidityUSD": round(s.tvl_usd(d), 2)} for d in days]
    tvl.append({"date": T_S - 1234, "totalLiquidityUSD": round(s.tvl_usd(T_S), 2)})  # intraday "now" sample
    tokens = [{"date": d, "tokens": {s.symbol: round(s.tvl_token(d), 4), "USDT": round(s.tvl_usd(d) * 0.1, 2)}}
              for d in days]
    in_usd = [{"date": d, "tokens": {s.symbol: round(s.tvl_usd(d), 2)}} for d in days]
    staking = [{"date": d, "totalLiquidityUSD": round(s.tvl_usd(d) * 0.3, 2)} for d in days]
    return 200, JSON, {
        "id": str(zlib.crc32(s.slug.encode()) % 10000), "name": s.name, "symbol": s.symbol, "category": "Dexs",
        "chains": ["Ethereum"], "gecko_id": s.slug, "url": f"https://{s.slug}.example", "description": s.story,
        "currentChainTvls": {"Ethereum": round(s.tvl_usd(T_S), 2), "Ethereum-staking": round(s.tvl_usd(T_S) * .3, 2),
                             "staking": round(s.tvl_usd(T_S) * .3, 2)},
        "chainTvls": {
            "Ethereum": {"tvl": tvl, "tokens": tokens, "tokensInUsd": in_usd},
            "Ethereum-staking": {"tvl": staking, "tokens": [], "tokensInUsd": []},
            "staking": {"tvl": staking, "tokens": [], "tokensInUsd": []},
        },
        "tvl": tvl, "tokens": tokens, "tokensInUsd": in_usd,
    }


# ------------------------------------------------------------------ Dune


def _dune_ts(ts: int) -> str:
    return datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


def dune(path: str, q: dict[str, str], body: bytes) -> Answer | None:
    parts = path.strip("/").split("/")  # api v1 query <id> results
    if len(parts) != 5 or parts[2] != "query" or parts[4] != "results":
        return None
    metric = DUNE_IDS.get(int(parts[3])) if parts[3].isdigit() else None
    s = _by(lambda x: x.token_address == q.get("params.token_address", "").lower())
    if metric is None or s is None:
        return 404, JSON, {"error": "Query not found"}
    days = int(q.get("params.days") or 90)
    fn = {"active_addresses": s.active_addresses, "transfer_count": s.transfers, "holders": s.holders,
          "dex_volume_usd": lambda d: round(s.dex_volume(d), 2)}[metric]
    rows = [{"day": datetime.fromtimestamp(d, UTC).strftime("%Y-%m-%d 00:00:00.000 UTC"), metric: fn(d)}
            for d in _days(T_S - days * DAY, T_S - DAY)]
    ended = T_S - 2 * HOUR
    return 200, JSON, {
        "execution_id": f"01DEMO{parts[3]}{s.symbol}", "query_id": int(parts[3]), "is_execution_finished": True,
        "state": "QUERY_STATE_COMPLETED", "submitted_at": _dune_ts(ended - 60),
        "expires_at": _dune_ts(ended + 90 * DAY), "execution_started_at": _dune_ts(ended - 50),
        "execution_ended_at": _dune_ts(ended),
        "result": {"rows": rows, "metadata": {
            "column_names": ["day", metric], "column_types": ["timestamp with time zone", "double"],
            "row_count": len(rows), "result_set_bytes": 40 * len(rows), "total_row_count": len(rows),
            "total_result_set_bytes": 40 * len(rows), "datapoint_count": 2 * len(rows),
            "pending_time_millis": 120, "execution_time_millis": 4100}},
    }


# ------------------------------------------------------------------ GitHub


def github(path: str, q: dict[str, str], body: bytes) -> Answer | None:
    parts = path.strip("/").split("/")
    if len(parts) < 3 or parts[0] != "repos":
        return None
    s = _by(lambda x: x.repo == f"{parts[1]}/{parts[2]}")
    if s is None:
        return 404, JSON, {"message": "Not Found", "documentation_url": "https://docs.github.com/rest"}
    headers = {**JSON, "x-ratelimit-limit": "5000", "x-ratelimit-remaining": "4990", "x-ratelimit-used": "10",
               "x-ratelimit-reset": str(T_S + 1800), "x-ratelimit-resource": "core"}
    last_sunday = (T_S - (T_S // DAY + 4) % 7 * DAY) // DAY * DAY  # 1970-01-04 was a Sunday
    weeks = [last_sunday - (51 - i) * 7 * DAY for i in range(52)]
    if len(parts) == 3:
        return 200, headers, {"id": 1000 + len(s.repo), "name": parts[2], "full_name": s.repo, "fork": False,
                              "private": False, "default_branch": "main", "archived": False,
                              "created_at": "2024-01-01T00:00:00Z", "pushed_at": _dune_ts(T_S - 3 * HOUR)}
    if parts[3:] == ["stats", "commit_activity"]:
        out = []
        for w in weeks:
            total = s.commits_week(w)
            per_day = [total // 7 + (1 if i < total % 7 else 0) for i in range(7)]
            out.append({"days": per_day, "total": total, "week": w})
        return 200, headers, out
    if parts[3:] == ["stats", "contributors"]:
        people = []
        most = max(s.contributors_week(w) for w in weeks)
        for i in range(most + 1):
            login = "dependabot[bot]" if i == most else f"dev{i}-{parts[1]}"
            rows = []
            for w in weeks:
                n, total = s.contributors_week(w), s.commits_week(w)
                if i == most:  # the bot: one commit every third week
                    c = int((w // (7 * DAY)) % 3 == 0)
                elif i < n:  # the week's commits shared among its contributors
                    c = total // n + int(i < total % n)
                else:
                    c = 0
                rows.append({"w": w, "a": 40 * c, "d": 12 * c, "c": c})
            people.append({"total": sum(r["c"] for r in rows), "weeks": rows,
                           "author": {"login": login, "id": 5000 + i,
                                      "type": "Bot" if login.endswith("[bot]") else "User"}})
        return 200, headers, people
    return None


# ------------------------------------------------------------------ Etherscan V2


def etherscan(path: str, q: dict[str, str], body: bytes) -> Answer | None:
    if q.get("module") != "account" or q.get("action") != "txlist":
        return 200, JSON, {"status": "0", "message": "NOTOK", "result": "Error! Invalid action"}
    s = _by(lambda x: x.deployer == (q.get("address") or "").lower())
    rows = []
    for i, (ts, created) in enumerate(sorted(s.creations() if s else [], reverse=True)):
        rows.append({
            "blockNumber": str(block_at(ts)), "timeStamp": str(ts), "hash": _hexh("create", s.symbol, i),
            "nonce": str(40 + i), "blockHash": _hexh("block", block_at(ts)), "transactionIndex": "17",
            "from": s.deployer, "to": "", "value": "0", "gas": "4200000", "gasPrice": "21000000000",
            "isError": "0", "txreceipt_status": "1", "input": "0x60806040523480156100",
            "contractAddress": created, "cumulativeGasUsed": "9100000", "gasUsed": "3900000",
            "confirmations": str(HEAD_BLOCK - block_at(ts)), "methodId": "0x60806040", "functionName": "",
        })
    if not rows:
        return 200, JSON, {"status": "0", "message": "No transactions found", "result": []}
    return 200, JSON, {"status": "1", "message": "OK", "result": rows}


# ------------------------------------------------------------------ JSON-RPC


def _pad(addr: str) -> str:
    return "0x" + "0" * 24 + addr[2:].lower()


def _logs(flt: dict[str, Any]) -> list[dict[str, Any]]:
    lo, hi = int(flt["fromBlock"], 16), int(flt["toBlock"], 16)
    addresses = flt.get("address") or []
    addresses = {a.lower() for a in ([addresses] if isinstance(addresses, str) else addresses)}
    out = []
    for s in SCENARIOS.values():
        if s.proxy not in addresses:
            continue
        for i, (ts, impl) in enumerate(s.upgrades()):
            n = block_at(ts)
            if lo <= n <= hi:
                out.append({"address": s.proxy, "topics": [UPGRADED, _pad(impl)], "data": "0x",
                            "blockNumber": hex(n), "blockHash": _hexh("block", n),
                            "transactionHash": _hexh("upgrade", s.symbol, i), "transactionIndex": "0x5",
                            "logIndex": hex(3 + i), "removed": False})
    return out


def _rpc_result(method: str, params: list[Any]) -> Any:
    if method == "eth_chainId":
        return "0x1"
    if method == "eth_blockNumber":
        return hex(HEAD_BLOCK)
    if method == "eth_getBlockByNumber":
        n = HEAD_BLOCK if params[0] == "latest" else int(params[0], 16)
        if n > HEAD_BLOCK:
            return None
        return {"number": hex(n), "hash": _hexh("block", n), "parentHash": _hexh("block", n - 1),
                "timestamp": hex(block_ts(n)), "miner": "0x" + "95" * 20, "gasLimit": hex(30_000_000),
                "gasUsed": hex(12_000_000), "baseFeePerGas": hex(9_000_000_000), "transactions": []}
    if method == "eth_getLogs":
        return _logs(params[0])
    if method == "eth_getStorageAt":
        addr, slot = params[0].lower(), params[1].lower()
        s = _by(lambda x: x.proxy == addr)
        if s is None or slot != IMPL_SLOT:
            return "0x" + "0" * 64
        tag = params[2]
        n = HEAD_BLOCK if tag == "latest" else int(tag, 16)
        impls = [impl for ts, impl in s.upgrades() if block_at(ts) <= n]
        return _pad(impls[-1]) if impls else _pad("0x" + "0a" * 20)
    raise KeyError(method)


def chain(path: str, q: dict[str, str], body: bytes) -> Answer | None:
    try:
        req = json.loads(body)
    except ValueError:
        return 400, JSON, {"jsonrpc": "2.0", "id": None, "error": {"code": -32700, "message": "Parse error"}}
    calls = req if isinstance(req, list) else [req]
    answers = []
    for call in calls:
        try:
            answers.append({"jsonrpc": "2.0", "id": call.get("id"),
                            "result": _rpc_result(call["method"], call.get("params") or [])})
        except KeyError:
            answers.append({"jsonrpc": "2.0", "id": call.get("id"),
                            "error": {"code": -32601, "message": "the method does not exist/is not available"}})
    return 200, JSON, answers if isinstance(req, list) else answers[0]


SOURCES: dict[str, Callable[[str, dict[str, str], bytes], Answer | None]] = {
    "coinglass": coinglass, "coingecko": coingecko, "defillama": defillama, "dune": dune, "github": github,
    "etherscan": etherscan, "chain": chain,
}
