"""Etherscan API V2 (one key, ``chainid`` per call): contracts created by watched deployers.

Etherscan reports its own errors as HTTP 200 with ``status: "0"``. ``check_envelope`` sorts them:
per-second rate limit → throttle and retry; daily limit → the source stops until the next UTC day;
"No records/transactions found" with ``result: []`` → empty success; "Invalid API Key" → a permanent
auth error naming the env var, never retried (Etherscan throttles an IP after 5 bad keys in 30 s).
The key travels in the query string (``apikey``); the shared Redactor masks it in every logged or raised URL.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from monitor.errors import ParseError, PermanentSourceError, TransientSourceError
from monitor.model import Event
from monitor.sources.base import FetchResult, require
from monitor.sources.evm import hex_int, tx_hash
from monitor.sources.http import HttpClient
from monitor.timeutil import epoch_s, floor, from_epoch

if TYPE_CHECKING:
    from monitor.config import EtherscanConfig
    from monitor.sources.base import SourceContext


log = logging.getLogger(__name__)

_EMPTY = ("no records found", "no transactions found", "no data found")
_PER_SECOND = ("max rate limit reached", "max calls per sec", "rate limit reached")
_DAILY = ("max daily", "daily rate limit", "daily limit")
_BAD_KEY = ("invalid api key", "too many invalid api key", "missing/invalid api key")
MAX_WINDOW = 10_000  # page × offset may not exceed this


class EtherscanRateLimited(TransientSourceError):
    """Per-second limit: wait a little and try again."""


def check_envelope(payload: Any, *, key_env: str = "ETHERSCAN_API_KEY", source: str = "etherscan") -> Any:
    """An Etherscan envelope -> its ``result`` (``[]`` for "no records"), or the error it stands for."""
    if not isinstance(payload, dict):
        raise ParseError(f"expected an envelope object, got {type(payload).__name__}", source=source)
    status = str(require(payload, "status", source=source, where="envelope"))
    message = str(payload.get("message", ""))
    result = payload.get("result")
    text = f"{message} {result if isinstance(result, str) else ''}".lower()
    if status == "1":
        if "invalid api key" in text:  # "OK-Missing/Invalid API Key, rate limit of 1/5sec applied"
            log.warning("%s: %s; set %s for the documented rate", source, message[:80], key_env)
        return require(payload, "result", source=source, where="envelope")
    if status != "0":
        raise ParseError(f"unknown envelope status {status[:10]!r}", source=source)
    if any(w in text for w in _EMPTY) and (result == [] or result is None):
        return []
    if any(w in text for w in _BAD_KEY):
        raise PermanentSourceError(f"Etherscan rejected the API key: check environment variable {key_env}",
                                   source=source, kind="auth")
    if any(w in text for w in _DAILY):
        raise TransientSourceError("daily rate limit reached; paused until the next UTC day", source=source,
                                   kind="throttled", retry_after=None)
    if any(w in text for w in _PER_SECOND):
        raise EtherscanRateLimited("rate limit reached (per second)", source=source, kind="throttled",
                                   retry_after=1.0)
    if "chainid" in text:
        raise PermanentSourceError(f"chain not supported by Etherscan V2: {text[:120]}", source=source)
    raise PermanentSourceError(f"Etherscan error: {text.strip()[:160]}", source=source)


def parse_creations(rows: Any, *, token: str, chain: str, deployer: str, source: str = "etherscan",
                    since: datetime | None = None, until: datetime | None = None,
                    min_confirmations: int = 0) -> list[Event]:
    """txlist rows -> contract_created events (to == "" with a contractAddress, successful, confirmed)."""
    if not isinstance(rows, list):
        raise ParseError("txlist result is not a list", source=source)
    out = []
    for i, row in enumerate(rows):
        where = f"txlist[{i}]"
        if not isinstance(row, dict):
            raise ParseError(f"{where}: not an object", source=source)
        created = row.get("contractAddress") or ""
        if row.get("to") not in ("", None) or not created:
            continue
        if str(row.get("isError", "0")) != "0":
            continue
        if not isinstance(created, str) or len(created) != 42 or not created.startswith("0x"):
            raise ParseError(f"{where}: bad contractAddress {str(created)[:50]!r}", source=source)
        ts = from_epoch(hex_int(require(row, "timeStamp", source=source, where=where), f"{where}.timeStamp"))
        if (since and ts < since) or (until and ts > until):
            continue
        confirmations = row.get("confirmations")
        if confirmations not in (None, "") and hex_int(confirmations, f"{where}.confirmations") < min_confirmations:
            continue
        out.append(Event(
            ts=ts, token=token, chain=chain, kind="contract_created", address=created.lower(),
            tx_hash=tx_hash(row.get("hash"), f"{where}.hash"), log_index=-1,
            block=hex_int(require(row, "blockNumber", source=source, where=where), f"{where}.blockNumber"),
            detail={"deployer": deployer, "from": str(row.get("from", "")).lower(),
                    "block_hash": row.get("blockHash"), "origin": "etherscan"},
            source=source,
        ))
    return out


class EtherscanSource:
    concurrency = 1

    def __init__(self, name: str, cfg: EtherscanConfig, ctx: SourceContext, *, sleep: Callable[[float], None] = time.sleep):
        self.name = name
        self.cfg = cfg
        self.ctx = ctx
        self.key = ctx.secrets.get(cfg.api_key_env)
        if self.key:
            ctx.redactor.add([self.key])
        self.http = HttpClient.from_config(
            name, cfg, session=ctx.session_factory(), limiter=ctx.limiters.get(name, cfg.rate_limit_per_s, cfg.burst),
            redactor=ctx.redactor, health=ctx.health, sleep=sleep,
        )
        self._sleep = sleep
        self._stopped_until: datetime | None = None  # daily limit hit
        self._fatal: PermanentSourceError | None = None  # invalid key: never ask again in this process

    def call(self, params: dict[str, Any], *, token: str = "*") -> Any:
        """One API call with the envelope checked; per-second limits retried a bounded number of times."""
        if self._fatal is not None:
            raise self._fatal
        now = self.ctx.now()
        if self._stopped_until is not None and now < self._stopped_until:
            raise TransientSourceError("daily rate limit reached earlier; paused until the next UTC day",
                                       source=self.name, kind="throttled",
                                       retry_after=(self._stopped_until - now).total_seconds())
        query = {**params, "apikey": self.key} if self.key else dict(params)
        for attempt in range(self.cfg.max_retries + 1):
            payload = self.http.get_json(self.cfg.base_url, query, token=token)  # exact URL, no "/" added
            try:
                return check_envelope(payload, key_env=self.cfg.api_key_env or "ETHERSCAN_API_KEY", source=self.name)
            except EtherscanRateLimited:
                if attempt >= self.cfg.max_retries:
                    raise
                wait = self.cfg.rate_limit_wait_s * (attempt + 1)
                self.http.limiter.block_for(wait)
                log.info("%s: per-second rate limit; next try in %.1fs", self.name, wait)
            except PermanentSourceError as exc:
                if exc.kind == "auth":
                    self._fatal = exc
                raise
            except TransientSourceError as exc:  # daily limit
                until = floor(now, timedelta(days=1)) + timedelta(days=1)
                self._stopped_until = until
                exc.retry_after = (until - now).total_seconds()
                raise
        raise AssertionError("unreachable")

    def fetch(self, token_cfg: Any, since: datetime, until: datetime) -> FetchResult:
        result = FetchResult(self.name, token_cfg.symbol)
        events: dict[tuple[str, str, int, str], Event] = {}
        for watch in token_cfg.chains:
            for deployer in watch.deployers:
                found, complete = self._creations(watch, deployer, token_cfg.symbol, since, until)
                for ev in found:
                    events[(ev.chain, ev.tx_hash, ev.log_index, ev.address)] = ev
                if not complete:
                    result.partial = True
                    result.notes.append(f"{deployer}: more than {MAX_WINDOW} transactions in the window; "
                                        "older creations not read")
        result.events = sorted(events.values(), key=lambda e: (e.ts, e.tx_hash))
        return result

    def _creations(self, watch: Any, deployer: str, symbol: str, since: datetime,
                   until: datetime) -> tuple[list[Event], bool]:
        """Newest first, page by page, until a page reaches back past ``since``; (events, complete)."""
        out: list[Event] = []
        offset = self.cfg.page_size
        page = 1
        while page * offset <= MAX_WINDOW:
            rows = self.call({"chainid": watch.chain_id, "module": "account", "action": "txlist",
                              "address": deployer, "startblock": watch.start_block, "endblock": 99_999_999,
                              "page": page, "offset": offset, "sort": "desc"}, token=symbol)
            out += parse_creations(rows, token=symbol, chain=watch.chain, deployer=deployer, source=self.name,
                                   since=since, until=until, min_confirmations=self.cfg.confirmations)
            if len(rows) < offset:
                return out, True
            oldest = min(hex_int(r.get("timeStamp", 0), "timeStamp") for r in rows if isinstance(r, dict))
            if oldest < epoch_s(since):
                return out, True
            page += 1
        return out, False


def build(name: str, cfg: EtherscanConfig, ctx: SourceContext) -> EtherscanSource:
    return EtherscanSource(name, cfg, ctx)
