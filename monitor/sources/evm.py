"""EVM constants and pure decoders shared by the Etherscan and JSON-RPC sources.

Topics and EIP-1967 slots are the Keccak-256 values listed in api-formats.md §8 (checked there against
test vectors). Decoders take one raw log / word and return plain values or raise ParseError.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from monitor.errors import ParseError

TOPIC_UPGRADED = "0xbc7cd75a20ee27fd9adebab32041f755214dbc6bffa90cc0225b39da2e5c2d3b"
TOPIC_ADMIN_CHANGED = "0x7e644d79422f17c01e4894b5f4f588d331ebfa28653d42ae832dc59e38c9798f"
TOPIC_BEACON_UPGRADED = "0x1cf3b03a6cf19fa2baba4df148e9dcabedea7f8a5c07840e207e5c089be95d3e"
TOPIC_OWNERSHIP_TRANSFERRED = "0x8be0079c531659141344cd1fd0a4f28419497f9722a3daafe3b4186f6b6457e0"

SLOT_IMPLEMENTATION = "0x360894a13ba1a3210667c828492db98dca3e2076cc3735a920a3ca505d382bbc"
SLOT_ADMIN = "0xb53127684a568b3173ae13b9f8a6016e243e63b6e8ee1178d6a717850b5d6103"
SLOT_BEACON = "0xa3f0ad74e5423aebfd80d3ef4346578335a9a72aeaee59ff6cb3582b35133d50"

PROXY_TOPICS = {
    TOPIC_UPGRADED: ("proxy_upgraded", SLOT_IMPLEMENTATION),
    TOPIC_ADMIN_CHANGED: ("admin_changed", SLOT_ADMIN),
    TOPIC_BEACON_UPGRADED: ("beacon_upgraded", SLOT_BEACON),
}
WATCHED_TOPICS = [*PROXY_TOPICS, TOPIC_OWNERSHIP_TRANSFERRED]

_HEX = re.compile(r"^0x[0-9a-fA-F]*$")
_HASH = re.compile(r"^0x[0-9a-fA-F]{64}$")


def hex_int(value: Any, what: str) -> int:
    """JSON-RPC quantity ('0x1a'; Etherscan renders zero as '0x') or a decimal string/int -> int."""
    if isinstance(value, bool):
        raise ParseError(f"{what}: expected a quantity, got {value!r}")
    if isinstance(value, int):
        if value < 0:
            raise ParseError(f"{what}: negative quantity {value}")
        return value
    if not isinstance(value, str):
        raise ParseError(f"{what}: expected a hex quantity, got {type(value).__name__}")
    text = value.strip()
    if text.lower().startswith("0x"):
        if not _HEX.match(text) or len(text) > 66:
            raise ParseError(f"{what}: not a hex quantity: {text[:40]!r}")
        return int(text[2:] or "0", 16)
    if re.fullmatch(r"[0-9]{1,78}", text):
        return int(text)
    raise ParseError(f"{what}: not a quantity: {text[:40]!r}")


def word_to_address(word: Any, what: str) -> str:
    """A 32-byte word (topic, storage slot, data chunk) -> lower-case 0x address (its last 20 bytes)."""
    if not isinstance(word, str) or not _HEX.match(word):
        raise ParseError(f"{what}: expected a hex word, got {str(word)[:40]!r}")
    body = word[2:].lower()
    if len(body) > 64:
        raise ParseError(f"{what}: word longer than 32 bytes")
    body = body.rjust(64, "0")
    if body[:24] != "0" * 24:
        raise ParseError(f"{what}: word {word[:20]}… does not hold an address")
    return "0x" + body[24:]


def tx_hash(value: Any, what: str = "transactionHash") -> str:
    if not isinstance(value, str) or not _HASH.match(value):
        raise ParseError(f"{what}: expected a 32-byte hex hash, got {str(value)[:40]!r}")
    return value.lower()


@dataclass(frozen=True)
class DecodedLog:
    """One watched log, decoded. ``subject`` is the new implementation/admin/beacon/owner."""

    kind: str
    address: str
    tx_hash: str
    log_index: int
    block: int
    block_hash: str | None
    removed: bool
    subject: str
    previous: str | None
    slot: str | None
    timestamp: int | None  # block time when the provider includes it


def decode_log(raw: Any) -> DecodedLog | None:
    """A raw eth_getLogs / Etherscan log -> DecodedLog; None for a topic we do not watch."""
    if not isinstance(raw, dict):
        raise ParseError(f"log: expected an object, got {type(raw).__name__}")
    topics = raw.get("topics")
    if not isinstance(topics, list) or not topics or not all(isinstance(t, str) for t in topics):
        raise ParseError("log: missing or malformed topics")
    topic0 = topics[0].lower()
    if topic0 not in PROXY_TOPICS and topic0 != TOPIC_OWNERSHIP_TRANSFERRED:
        return None
    address = raw.get("address")
    if not isinstance(address, str) or not re.fullmatch(r"0x[0-9a-fA-F]{40}", address):
        raise ParseError(f"log: bad address {str(address)[:50]!r}")
    data = raw.get("data") or "0x"
    if not isinstance(data, str) or not _HEX.match(data):
        raise ParseError("log: data is not hex")
    words = [("0x" + data[2 + i: 66 + i]) for i in range(0, len(data) - 2, 64)]
    previous: str | None = None
    slot: str | None = None
    if topic0 in (TOPIC_UPGRADED, TOPIC_BEACON_UPGRADED):
        kind, slot = PROXY_TOPICS[topic0]
        if len(topics) >= 2:
            subject = word_to_address(topics[1], "log topic1")
        elif words:
            subject = word_to_address(words[0], "log data")
        else:
            raise ParseError(f"log: {kind} without its address")
    elif topic0 == TOPIC_ADMIN_CHANGED:  # (previousAdmin, newAdmin) both in data
        kind, slot = PROXY_TOPICS[topic0]
        if len(words) < 2 or len(words[1]) != 66:
            raise ParseError("log: AdminChanged data must hold two words")
        previous = word_to_address(words[0], "log data[0]")
        subject = word_to_address(words[1], "log data[1]")
    else:
        kind = "ownership_transferred"
        if len(topics) < 3:
            raise ParseError("log: OwnershipTransferred needs two indexed addresses")
        previous = word_to_address(topics[1], "log topic1")
        subject = word_to_address(topics[2], "log topic2")
    block_hash = raw.get("blockHash")
    if block_hash is not None:
        block_hash = tx_hash(block_hash, "blockHash")
    ts_raw = raw.get("blockTimestamp", raw.get("timeStamp"))
    return DecodedLog(
        kind=kind,
        address=address.lower(),
        tx_hash=tx_hash(raw.get("transactionHash")),
        log_index=hex_int(raw.get("logIndex"), "logIndex"),
        block=hex_int(raw.get("blockNumber"), "blockNumber"),
        block_hash=block_hash,
        removed=raw.get("removed") is True,
        subject=subject,
        previous=previous,
        slot=slot,
        timestamp=hex_int(ts_raw, "blockTimestamp") if ts_raw not in (None, "") else None,
    )
