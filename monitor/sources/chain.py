"""Contract events read from a chain's JSON-RPC (web3 HTTPProvider): EIP-1967 Upgraded / AdminChanged /
BeaconUpgraded of watched proxies (confirmed by reading the slot the event claims to have changed),
OwnershipTransferred of owned contracts, and configured token migrations.

Only blocks at or below head − confirmations are read, so a scanned range is final. eth_getLogs ranges
are chunked (max_block_range), split in two when the provider rejects a range, and split again when a
result is exactly max_results long (a silent cap looks like that). ``removed: true`` logs go to
FetchResult.removed_tx so the job drops them; events are keyed by (chain, tx hash, log index).
"""

from __future__ import annotations

import logging
from datetime import datetime
from typing import TYPE_CHECKING, Any

from monitor.errors import ConfigError, ParseError, TransientSourceError
from monitor.model import Event
from monitor.sources.base import FetchResult
from monitor.sources.evm import (
    TOPIC_OWNERSHIP_TRANSFERRED,
    WATCHED_TOPICS,
    DecodedLog,
    decode_log,
    hex_int,
    tx_hash,
    word_to_address,
)
from monitor.sources.rpc import RangeRejected, Rpc, build_provider
from monitor.timeutil import epoch_s, from_epoch, parse_duration, to_utc

if TYPE_CHECKING:
    from monitor.config import ChainConfig, ChainWatch
    from monitor.sources.base import SourceContext


log = logging.getLogger(__name__)

SUBJECT_KEY = {"proxy_upgraded": "implementation", "admin_changed": "admin", "beacon_upgraded": "beacon",
               "ownership_transferred": "new_owner"}
MAX_CALLS_PER_SCAN = 5000  # a guard against a provider that rejects every range


def migration_events(token_cfg: Any, source: str) -> list[Event]:
    """Configured migrations -> token_migration events with a stable synthetic key."""
    out = []
    for m in token_cfg.migrations:
        try:
            ts = to_utc(m.ts)
        except ValueError:
            raise ConfigError(f"tokens[{token_cfg.symbol}].migrations[{m.id}].ts: not a date: {m.ts!r}") from None
        out.append(Event(ts=ts, token=token_cfg.symbol, chain=m.chain, kind="token_migration",
                         address=(m.new_address or m.old_address or "").lower(), tx_hash=f"config:{m.id}",
                         log_index=-1, block=None,
                         detail={"old_address": m.old_address, "new_address": m.new_address, "note": m.note,
                                 "origin": "config"}, source=source))
    return out


class ChainSource:
    concurrency = 1

    def __init__(self, name: str, cfg: ChainConfig, ctx: SourceContext, *, sleep: Any = None):
        self.name = name
        self.cfg = cfg
        self.ctx = ctx
        self._sleep = sleep
        self._rpcs: dict[str, Rpc] = {}
        self._heads: dict[str, int] = {}  # highest head seen per chain: a lagging node must not move us back

    def rpc(self, chain: str) -> Rpc:
        if chain not in self._rpcs:
            url = self.cfg.rpc_urls.get(chain, self.cfg.base_url)
            factory = self.ctx.factories.get("web3")
            if factory is not None:
                provider = factory(url)
            else:
                provider = build_provider(url, self.ctx.session_factory(), self.cfg.connect_timeout_s,
                                          self.cfg.read_timeout_s, max_body_bytes=self.cfg.max_body_bytes)
            self.ctx.redactor.add([url])  # RPC URLs often embed a key in the path
            kwargs = {"sleep": self._sleep} if self._sleep else {}
            self._rpcs[chain] = Rpc(
                provider, source=self.name, chain=chain,
                limiter=self.ctx.limiters.get(self.name + ":" + chain, self.cfg.rate_limit_per_s, self.cfg.burst),
                redactor=self.ctx.redactor, health=self.ctx.health, max_retries=self.cfg.max_retries,
                deadline_s=self.cfg.deadline_s, now=self.ctx.now, **kwargs,
            )
        return self._rpcs[chain]

    # ------------------------------------------------------------ fetch

    def fetch(self, token_cfg: Any, since: datetime, until: datetime) -> FetchResult:
        result = FetchResult(self.name, token_cfg.symbol)
        found: dict[tuple[str, str, int], Event] = {}
        for ev in migration_events(token_cfg, self.name):
            if ev.ts <= until:
                found[(ev.chain, ev.tx_hash, ev.log_index)] = ev
        for watch in token_cfg.chains:
            addresses = sorted(set(watch.proxies) | set(watch.owned))
            if not addresses:
                continue
            rpc = self.rpc(watch.chain)
            rpc.restart_deadline()
            self._scan_watch(rpc, watch, token_cfg.symbol, since, until, found, result)
        result.events = sorted(found.values(), key=lambda e: (e.ts, e.chain, e.tx_hash, e.log_index))
        return result

    def _scan_watch(self, rpc: Rpc, watch: ChainWatch, symbol: str, since: datetime, until: datetime,
                    found: dict[tuple[str, str, int], Event], result: FetchResult) -> None:
        head = hex_int(rpc.call("eth_blockNumber", [], token=symbol), "eth_blockNumber")
        seen = self._heads.get(watch.chain, 0)
        if head < seen:
            raise TransientSourceError(f"{watch.chain}: provider head {head} is behind {seen} seen before; "
                                       "retrying next cycle", source=self.name)
        self._heads[watch.chain] = head
        safe = head - self.cfg.confirmations
        earliest = max(watch.start_block, 0)
        if self.cfg.lookback_blocks:
            earliest = max(earliest, safe - self.cfg.lookback_blocks + 1)
        if safe < earliest:
            return
        blocks: dict[int, tuple[int, str]] = {}
        # the lookback is a time span, found by block timestamp: right on every chain whatever its block time
        floor = epoch_s(until - parse_duration(self.cfg.lookback))
        lo = self._first_block_at(rpc, earliest, safe, max(epoch_s(since), floor), blocks, symbol)
        if lo is None:
            return
        top = self._last_block_at(rpc, lo, safe, epoch_s(until), blocks, symbol)
        raw_logs, capped = self._get_logs(rpc, watch.chain, sorted(set(watch.proxies) | set(watch.owned)),
                                          lo, top, symbol)
        if capped:
            result.partial = True
            result.notes.append(f"{watch.chain}: a single block returned max_results logs; some may be missing")
        proxies, owned = set(watch.proxies), set(watch.owned)
        for raw in raw_logs:
            decoded = decode_log(raw)
            if decoded is None:
                continue
            if decoded.kind == "ownership_transferred":
                if decoded.address not in owned and decoded.address not in proxies:
                    continue
            elif decoded.address not in proxies:
                continue
            if decoded.removed:
                result.removed_tx.append((watch.chain, decoded.tx_hash))
                found.pop((watch.chain, decoded.tx_hash, decoded.log_index), None)
                continue
            ts = decoded.timestamp if decoded.timestamp is not None else self._block(rpc, decoded.block, blocks,
                                                                                    symbol)[0]
            found[(watch.chain, decoded.tx_hash, decoded.log_index)] = self._event(rpc, watch, symbol, decoded, ts)

    def _event(self, rpc: Rpc, watch: Any, symbol: str, d: DecodedLog, ts: int) -> Event:
        detail: dict[str, Any] = {SUBJECT_KEY[d.kind]: d.subject, "block_hash": d.block_hash, "origin": "rpc"}
        if d.previous is not None:
            detail["previous"] = d.previous
        if d.slot is not None:
            detail.update(self._read_slot(rpc, d, symbol))
        return Event(ts=from_epoch(ts), token=symbol, chain=watch.chain, kind=d.kind, address=d.address,
                     tx_hash=d.tx_hash, log_index=d.log_index, block=d.block, detail=detail, source=self.name)

    def _read_slot(self, rpc: Rpc, d: DecodedLog, symbol: str) -> dict[str, Any]:
        """Read the EIP-1967 slot at the log's block (latest if the node keeps no history)."""
        out: dict[str, Any] = {"slot": d.slot}
        for tag in (hex(d.block), "latest"):
            try:
                word = rpc.call("eth_getStorageAt", [d.address, d.slot, tag], token=symbol)
                value = word_to_address(word, "eth_getStorageAt")
            except (TransientSourceError, ParseError) as exc:
                out["slot_error"] = str(exc)[:160]
                continue
            out.update(slot_value=word, slot_address=value, slot_block=tag, confirmed=value == d.subject)
            out.pop("slot_error", None)
            return out
        out["confirmed"] = None
        return out

    # ------------------------------------------------------------ blocks

    def _block(self, rpc: Rpc, number: int, cache: dict[int, tuple[int, str]], symbol: str) -> tuple[int, str]:
        if number not in cache:
            block = rpc.call("eth_getBlockByNumber", [hex(number), False], token=symbol)
            if block is None:  # lagging node: not an error to store, just not yet
                raise TransientSourceError(f"block {number} not available yet", source=self.name)
            if not isinstance(block, dict):
                raise ParseError(f"eth_getBlockByNumber({number}): not an object", source=self.name)
            cache[number] = (hex_int(block.get("timestamp"), "block.timestamp"), tx_hash(block.get("hash"), "hash"))
        return cache[number]

    def _first_block_at(self, rpc: Rpc, lo: int, hi: int, ts: int, cache: dict[int, tuple[int, str]], symbol: str) -> int | None:
        """First block in [lo, hi] with timestamp >= ts (binary search), None if none."""
        if self._block(rpc, hi, cache, symbol)[0] < ts:
            return None
        if self._block(rpc, lo, cache, symbol)[0] >= ts:
            return lo
        while hi - lo > 1:
            mid = (lo + hi) // 2
            if self._block(rpc, mid, cache, symbol)[0] >= ts:
                hi = mid
            else:
                lo = mid
        return hi

    def _last_block_at(self, rpc: Rpc, lo: int, hi: int, ts: int, cache: dict[int, tuple[int, str]], symbol: str) -> int:
        """Last block in [lo, hi] with timestamp <= ts (hi when the whole range qualifies)."""
        if self._block(rpc, hi, cache, symbol)[0] <= ts:
            return hi
        while hi - lo > 1:
            mid = (lo + hi) // 2
            if self._block(rpc, mid, cache, symbol)[0] <= ts:
                lo = mid
            else:
                hi = mid
        return lo

    # ------------------------------------------------------------ logs

    def _get_logs(self, rpc: Rpc, chain: str, addresses: list[str], lo: int, hi: int,
                  symbol: str) -> tuple[list[Any], bool]:
        """All watched logs in [lo, hi]: chunked, bisected on rejection or on a full (capped) page."""
        step = self.cfg.max_block_range
        todo = [(a, min(a + step - 1, hi)) for a in range(lo, hi + 1, step)]
        out: list[Any] = []
        capped = False
        calls = 0
        while todo:
            a, b = todo.pop(0)
            calls += 1
            if calls > MAX_CALLS_PER_SCAN:
                raise TransientSourceError(f"{chain}: eth_getLogs needed more than {MAX_CALLS_PER_SCAN} calls",
                                           source=self.name)
            query = {"fromBlock": hex(a), "toBlock": hex(b), "address": addresses, "topics": [WATCHED_TOPICS]}
            try:
                logs = rpc.call("eth_getLogs", [query], token=symbol)
            except RangeRejected as exc:
                if a == b:
                    raise TransientSourceError(f"{chain}: provider rejects even one block ({exc})",
                                               source=self.name) from None
                mid = (a + b) // 2
                todo[0:0] = [(a, mid), (mid + 1, b)]
                log.info("%s: eth_getLogs %d-%d rejected; splitting", chain, a, b)
                continue
            if not isinstance(logs, list):
                raise ParseError(f"{chain}: eth_getLogs result is not a list", source=self.name)
            if len(logs) >= self.cfg.max_results:
                if a < b:  # exactly the cap: assume truncated and split
                    mid = (a + b) // 2
                    todo[0:0] = [(a, mid), (mid + 1, b)]
                    continue
                capped = True
            out.extend(logs)
        return out, capped


def build(name: str, cfg: ChainConfig, ctx: SourceContext) -> ChainSource:
    return ChainSource(name, cfg, ctx)


__all__ = ["TOPIC_OWNERSHIP_TRANSFERRED", "ChainSource", "build", "migration_events"]
