"""Loopback fakes in the documented shapes: a scripted JSON-RPC chain, and request counters."""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from werkzeug import Request, Response

from monitor.sources import evm

BLOCK_TIME = 12


def word(address: str) -> str:
    return "0x" + "0" * 24 + address.lower()[2:]


def txh(n: int) -> str:
    return "0x" + f"{n:064x}"


@dataclass
class FakeChain:
    """A chain whose block n has timestamp head_ts − (head − n)·block_time, answering eth_* over JSON-RPC.

    range_cap: getLogs over more blocks than this is refused with ``range_error``.
    count_cap: getLogs silently returns only the first ``count_cap`` logs (a provider's quiet cap).
    """

    head: int
    head_ts: int
    logs: list[dict[str, Any]] = field(default_factory=list)
    slots: dict[tuple[str, str], list[tuple[int, str]]] = field(default_factory=dict)
    range_cap: int | None = None
    range_error: dict[str, Any] = field(default_factory=lambda: {"code": -32005, "message": "query returned more than 10000 results"})
    count_cap: int | None = None
    null_blocks: bool = False
    calls: Counter = field(default_factory=Counter)
    ranges: list[tuple[int, int]] = field(default_factory=list)
    block_time: float = BLOCK_TIME  # seconds; 0.75 on BNB Chain

    def ts(self, block: int) -> int:
        return self.head_ts - int((self.head - block) * self.block_time)

    def block_at(self, ts: int) -> int:
        return self.head - int((self.head_ts - ts) / self.block_time)

    def add_log(self, *, address: str, topics: list[str], data: str = "0x", block: int, tx: int,
                log_index: int = 0, removed: bool = False) -> dict[str, Any]:
        entry = {
            "address": address, "topics": topics, "data": data, "blockNumber": hex(block),
            "transactionHash": txh(tx), "transactionIndex": "0x0", "blockHash": txh(10**9 + block),
            "logIndex": hex(log_index), "removed": removed,
        }
        self.logs.append(entry)
        return entry

    def set_slot(self, address: str, slot: str, block: int, value_address: str) -> None:
        self.slots.setdefault((address.lower(), slot), []).append((block, word(value_address)))

    def upgraded(self, proxy: str, impl: str, block: int, tx: int, log_index: int = 0) -> dict[str, Any]:
        self.set_slot(proxy, evm.SLOT_IMPLEMENTATION, block, impl)
        return self.add_log(address=proxy, topics=[evm.TOPIC_UPGRADED, word(impl)], block=block, tx=tx,
                            log_index=log_index)

    # ------------------------------------------------------------ JSON-RPC

    def handler(self, request: Request) -> Response:
        body = json.loads(request.get_data())
        self.calls[body["method"]] += 1
        try:
            result = getattr(self, "rpc_" + body["method"])(*body["params"])
            answer = {"jsonrpc": "2.0", "id": body["id"], "result": result}
        except RpcFault as fault:
            answer = {"jsonrpc": "2.0", "id": body["id"], "error": fault.error}
        return Response(json.dumps(answer), content_type="application/json")

    def rpc_eth_blockNumber(self) -> str:
        return hex(self.head)

    def rpc_eth_getBlockByNumber(self, tag: str, full: bool) -> Any:
        n = int(tag, 16)
        if n > self.head or self.null_blocks:
            return None
        return {"number": hex(n), "hash": txh(10**9 + n), "timestamp": hex(self.ts(n)), "transactions": []}

    def rpc_eth_getStorageAt(self, address: str, slot: str, tag: str) -> str:
        at = self.head if tag == "latest" else int(tag, 16)
        value = "0x" + "0" * 64
        for block, v in sorted(self.slots.get((address.lower(), slot), [])):
            if block <= at:
                value = v
        return value

    def rpc_eth_getLogs(self, query: dict[str, Any]) -> list[dict[str, Any]]:
        lo, hi = int(query["fromBlock"], 16), int(query["toBlock"], 16)
        self.ranges.append((lo, hi))
        if self.range_cap is not None and hi - lo + 1 > self.range_cap:
            raise RpcFault(self.range_error)
        addresses = {a.lower() for a in query.get("address") or []}
        topic0 = {t.lower() for t in (query.get("topics") or [[]])[0]}
        out = [
            entry for entry in self.logs
            if lo <= int(entry["blockNumber"], 16) <= hi
            and (not addresses or entry["address"].lower() in addresses)
            and (not topic0 or entry["topics"][0].lower() in topic0)
        ]
        out.sort(key=lambda e: (int(e["blockNumber"], 16), int(e["logIndex"], 16)))
        if self.count_cap is not None:
            out = out[: self.count_cap]
        return out


class RpcFault(Exception):
    def __init__(self, error: dict[str, Any]):
        super().__init__(error.get("message"))
        self.error = error


def json_response(payload: Any, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    return Response(json.dumps(payload), status=status, content_type="application/json", headers=headers or {})


class Script:
    """Answers a sequence of responses in order (the last one repeats), counting requests."""

    def __init__(self, *responses: Any):
        self.responses = list(responses)
        self.requests: list[Request] = []

    def __call__(self, request: Request) -> Response:
        self.requests.append(request)
        item = self.responses[min(len(self.requests) - 1, len(self.responses) - 1)]
        if isinstance(item, Response):
            return item
        if callable(item):
            return item(request)
        return json_response(item)
