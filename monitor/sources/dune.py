"""Dune's REST API: daily active addresses, transfers, holders and DEX volume of a token.

Credits cost money, so a poll first reads the latest stored result of the saved query
(``GET /query/{id}/results``, no execution credits) and executes only when that is older than
``max_age``. dune-client's ``run_query`` polls without a deadline and re-sends POSTs (the billed execute)
on 429/5xx, so this module drives execute → status → results itself through our HttpClient, with
``execution_deadline_s``; POSTs are never retried and results are read in pages (``limit``/``offset``),
each under the body cap. A failed execution (billed) is remembered per query+parameters and not re-run
before ``failure_backoff``; an execution that outlives the deadline is remembered too and checked (not
re-executed) on the next poll. A 402 pauses every Dune call for ``billing_pause``. All three survive a
restart (``DuneMemory``). COMPLETED_PARTIAL rows are kept but the fetch is marked partial.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

from dune_client.models import ExecutionState
from dune_client.query import QueryBase
from dune_client.types import QueryParameter

from monitor.errors import ConfigError, ParseError, PermanentSourceError, SourceError, TransientSourceError
from monitor.model import ACTIVE_ADDRESSES, DEX_VOLUME_USD, HOLDERS, TRANSFER_COUNT, Event
from monitor.sources.base import FetchResult, Record, make_frame, to_float
from monitor.sources.dune_queries import query_ids
from monitor.sources.evm import hex_int, tx_hash
from monitor.sources.http import HttpClient
from monitor.sources.netstate import NetState
from monitor.timeutil import floor, parse_duration, to_utc

if TYPE_CHECKING:
    from monitor.config import DuneConfig
    from monitor.sources.base import SourceContext


log = logging.getLogger(__name__)

METRICS = (ACTIVE_ADDRESSES, TRANSFER_COUNT, HOLDERS, DEX_VOLUME_USD)
LIQUIDITY_QUERY = "liquidity_moves"  # optional: rows become liquidity_migrated events
DUNE_CHAINS = {"bsc": "bnb", "eth": "ethereum", "arb": "arbitrum", "matic": "polygon", "op": "optimism"}
# dune-client's own state names and parameter types; its HTTP client is not used (no deadline, retried POSTs)
RUNNING = {ExecutionState.PENDING.value, ExecutionState.EXECUTING.value}
FAILED = {ExecutionState.FAILED.value, ExecutionState.CANCELLED.value, ExecutionState.EXPIRED.value}
DONE = {ExecutionState.COMPLETED.value, "QUERY_STATE_COMPLETED_PARTIAL"}  # PARTIAL joined the enum after 1.7.2
_BILLING_WORDS = ("credit", "billing", "payment", "quota", "upgrade your plan", "limit reached")
_DAY_COLUMNS = ("day", "block_date", "date", "as_of", "ts")
PAGE_ROWS = 10_000  # rows per results page: a page of liquidity moves (~300 B a row) stays under the body cap


class DuneExecutionFailed(PermanentSourceError):
    """An execution ended FAILED / CANCELLED / EXPIRED; it was billed, so it is not re-run blindly."""


@dataclass(frozen=True)
class DuneResult:
    state: str
    ended_at: datetime | None
    rows: list[dict[str, Any]]
    execution_id: str | None
    next_offset: int | None


def parse_result(payload: Any) -> DuneResult:
    """Body of /query/{id}/results or /execution/{id}/results -> DuneResult (pure)."""
    if not isinstance(payload, dict):
        raise ParseError("results: expected an object", source="dune")
    state = payload.get("state")
    if not isinstance(state, str):
        raise ParseError("results: missing state", source="dune")
    ended = payload.get("execution_ended_at")
    try:
        ended_at = to_utc(ended) if isinstance(ended, str) and ended else None
    except ValueError:
        raise ParseError(f"results: bad execution_ended_at {str(ended)[:40]!r}", source="dune") from None
    rows: list[dict[str, Any]] = []
    if state in DONE:
        result = payload.get("result")
        if not isinstance(result, dict) or not isinstance(result.get("rows"), list):
            raise ParseError("results: completed state without result.rows", source="dune")
        rows = result["rows"]
        if not all(isinstance(r, dict) for r in rows):
            raise ParseError("results: a row is not an object", source="dune")
    next_offset = payload.get("next_offset")
    if next_offset is not None and (isinstance(next_offset, bool) or not isinstance(next_offset, int)):
        raise ParseError("results: next_offset is not an integer", source="dune")
    execution_id = payload.get("execution_id")
    return DuneResult(state, ended_at, rows, execution_id if isinstance(execution_id, str) else None, next_offset)


def _objects(rows: Any) -> Iterator[tuple[int, dict[str, Any]]]:
    """Each result row with its index; the list and every row must be JSON objects."""
    if not isinstance(rows, list):
        raise ParseError("rows: expected a list", source="dune")
    for i, row in enumerate(rows):
        if not isinstance(row, dict):
            raise ParseError(f"rows[{i}]: not an object", source="dune")
        yield i, row


def rows_to_records(rows: list[dict[str, Any]], metric: str, token: str) -> list[Record]:
    """Result rows -> (day, "dune", token, metric, value). A row names its day (day/block_date/…) and the
    value (a column named like the metric, or ``value``). A null value is a day without data: skipped."""
    out = []
    for i, row in _objects(rows):
        day_key = next((k for k in _DAY_COLUMNS if k in row), None)
        value_key = metric if metric in row else ("value" if "value" in row else None)
        if day_key is None or value_key is None:
            raise ParseError(f"rows[{i}]: needs a day column and a {metric!r} (or value) column; "
                             f"got {sorted(map(str, row))[:6]}", source="dune")
        if row[value_key] is None:
            continue
        try:
            day = floor(to_utc(str(row[day_key])), parse_duration("1d"))
        except (ValueError, OverflowError, OSError):
            raise ParseError(f"rows[{i}].{day_key}: not a date: {str(row[day_key])[:40]!r}", source="dune") from None
        out.append((day, "dune", token, metric, to_float(row[value_key], f"rows[{i}].{value_key}", source="dune",
                                                          allow_negative=False)))
    return out


def rows_to_events(rows: list[dict[str, Any]], token: str, chain: str) -> list[Event]:
    """liquidity_moves rows -> liquidity_migrated events keyed by (chain, tx hash, log index of the inflow)."""
    out = []
    for i, row in _objects(rows):
        missing = [k for k in ("block_time", "tx_hash", "evt_index", "from_pool", "to_pool") if row.get(k) is None]
        if missing:
            raise ParseError(f"rows[{i}]: missing {missing}", source="dune")
        try:
            ts = to_utc(str(row["block_time"]))
        except (ValueError, OverflowError, OSError):
            raise ParseError(f"rows[{i}].block_time: not a time", source="dune") from None
        amount_usd = row.get("amount_usd")
        out.append(Event(
            ts=ts, token=token, chain=chain, kind="liquidity_migrated", address=str(row["to_pool"]).lower(),
            tx_hash=tx_hash(row["tx_hash"], f"rows[{i}].tx_hash"), log_index=hex_int(row["evt_index"], "evt_index"),
            block=hex_int(row["block_number"], "block_number") if row.get("block_number") is not None else None,
            detail={"from_pool": str(row["from_pool"]).lower(), "to_pool": str(row["to_pool"]).lower(),
                    "amount": row.get("amount"), "amount_usd": None if amount_usd is None else
                    to_float(amount_usd, f"rows[{i}].amount_usd", source="dune"), "origin": "dune"},
            source="dune",
        ))
    return out


def make_client(name: str, cfg: DuneConfig, ctx: SourceContext) -> HttpClient:
    """Our HttpClient on Dune's documented REST API (``/api/v1``): guarded transport, a body cap per
    page, the shared retry policy for GETs; dune-client's own ``run_query`` has no deadline."""
    key = ctx.secrets.get(cfg.api_key_env)
    if not key:
        raise ConfigError(f"Dune needs an API key: set environment variable {cfg.api_key_env}")
    ctx.redactor.add([key])
    api = cfg.model_copy(update={"base_url": cfg.base_url.rstrip("/") + "/api/v1"})
    return HttpClient.from_config(name, api, session=ctx.session_factory(), headers={"X-Dune-API-Key": key},
                                  limiter=ctx.limiters.get(name, cfg.rate_limit_per_s, cfg.burst),
                                  redactor=ctx.redactor, health=ctx.health)


class DuneMemory:
    """What Dune answered that costs money to ask again, kept in the network state file (a restart must
    not re-execute a failed query within ``failure_backoff`` or call Dune during ``billing_pause``)."""

    def __init__(self, state: NetState | None):
        self._state = state or NetState(None)
        self._mem: dict[str, dict[str, Any]] = {s: self._state.read(s) for s in ("dune_failed", "dune_running",
                                                                                    "dune_paused")}

    def get(self, section: str, key: str) -> Any:
        return self._mem[section].get(key)

    def set(self, section: str, key: str, value: Any) -> None:
        if value is None:
            self._mem[section].pop(key, None)
        else:
            self._mem[section][key] = value
        self._state.update(section, key, value)


class DuneSource:
    concurrency = 1

    def __init__(self, name: str, cfg: DuneConfig, ctx: SourceContext, *, sleep: Callable[[float], None] = time.sleep,
                 clock: Callable[[], float] = time.monotonic):
        self.name = name
        self.cfg = cfg
        self.ctx = ctx
        self.client = make_client(name, cfg, ctx)
        self._sleep = sleep
        self._clock = clock
        self._lock = threading.Lock()
        # query+params -> [retry not before (ISO), why]; -> execution id that outlived its deadline;
        # and "all" -> end of a billing pause (ISO)
        self.memory = DuneMemory(getattr(ctx.limiters, "state", None))
        self._ids: dict[str, int] | None = None

    @property
    def _paused_until(self) -> datetime | None:
        until = self.memory.get("dune_paused", self.name)
        return to_utc(until) if until else None

    # ------------------------------------------------------------ HTTP

    def _api(self, method: str, route: str, body: Any = None) -> Any:
        now = self.ctx.now()
        paused = self._paused_until
        if paused is not None and now < paused:
            raise TransientSourceError("paused after a billing/credits answer", source=self.name, kind="throttled",
                                       retry_after=(paused - now).total_seconds())
        try:
            if method == "GET":
                return self.client.get_json(route, params=body)
            # never retried: an execute is billed and a repeated create makes a second query
            return self.client.request(method, route, json_body=body, retry=False).json()
        except SourceError as exc:
            err = self._classified(exc)
        raise err  # outside the except: the client's error is already redacted, nothing to chain

    def _classified(self, exc: SourceError) -> SourceError:
        if exc.status == 402:
            pause = parse_duration(self.cfg.billing_pause)
            self.memory.set("dune_paused", self.name, (self.ctx.now() + pause).isoformat())
            log.warning("dune: billing/credits limit; no Dune call for %s", self.cfg.billing_pause)
            return TransientSourceError(f"billing/credits limit: {exc}", source=self.name, status=402,
                                        kind="throttled", retry_after=pause.total_seconds())
        if exc.status == 404:
            return PermanentSourceError(f"not found ({exc}); run `divmon queries sync`", source=self.name,
                                        status=404)
        return exc

    # ------------------------------------------------------------ one query

    def _results(self, route: str, params: dict[str, Any]) -> DuneResult:
        """All pages of a results endpoint (allow_partial_results so a truncated result says so)."""
        rows: list[dict[str, Any]] = []
        offset = 0
        first: DuneResult | None = None
        for _ in range(1000):
            page = parse_result(self._api("GET", route, {**params, "allow_partial_results": "true",
                                                         "limit": PAGE_ROWS, "offset": offset}))
            first = first or page
            rows += page.rows
            if page.next_offset is None or page.next_offset <= offset:
                break
            offset = page.next_offset
        assert first is not None
        return DuneResult(first.state, first.ended_at, rows, first.execution_id, None)

    def run(self, query_id: int, params: dict[str, str], *, token: str = "*") -> DuneResult:
        """Fresh-enough latest result, or one deadline-bound execution."""
        key = f"{query_id}:{json.dumps(params, sort_keys=True)}"
        now = self.ctx.now()
        with self._lock:
            failed = self.memory.get("dune_failed", key)
        if failed and now < to_utc(failed[0]):
            raise DuneExecutionFailed(f"query {query_id} failed earlier ({failed[1]}); not re-run before "
                                      f"{to_utc(failed[0]):%Y-%m-%d %H:%M} UTC", source=self.name)
        running = self.memory.get("dune_running", key)
        if running is None:
            try:
                latest = self._results(f"/query/{query_id}/results", {f"params.{k}": v for k, v in params.items()})
            except PermanentSourceError as exc:
                if exc.status not in (404, 400):
                    raise
                latest = None  # never executed with these parameters
            max_age = parse_duration(self.cfg.max_age)
            if latest and latest.state in DONE and latest.ended_at and now - latest.ended_at <= max_age:
                return latest
            backoff = parse_duration(self.cfg.failure_backoff)
            if latest and latest.state in FAILED and latest.ended_at and now - latest.ended_at <= backoff:
                raise DuneExecutionFailed(f"query {query_id}: its latest execution ended "
                                          f"{latest.state.removeprefix('QUERY_STATE_')}; not re-run within "
                                          f"{self.cfg.failure_backoff}", source=self.name)
            query = QueryBase(query_id, params=[QueryParameter.text_type(k, v) for k, v in params.items()])
            body = {**query.request_format(), "performance": self.cfg.performance}
            started = self._api("POST", f"/query/{query_id}/execute", body)
            running = started.get("execution_id") if isinstance(started, dict) else None
            if not isinstance(running, str):
                raise ParseError("execute: no execution_id in the answer", source=self.name)
            log.info("dune: executing query %s (%s)", query_id, running)
        return self._wait(key, query_id, running)

    def _wait(self, key: str, query_id: int, execution_id: str) -> DuneResult:
        deadline = self._clock() + self.cfg.execution_deadline_s
        while True:
            status = self._api("GET", f"/execution/{execution_id}/status")
            state = status.get("state") if isinstance(status, dict) else None
            if not isinstance(state, str):
                raise ParseError("status: missing state", source=self.name)
            if state in FAILED:
                self.memory.set("dune_running", key, None)
                error = status.get("error") if isinstance(status.get("error"), dict) else {}
                why = f"{state.removeprefix('QUERY_STATE_')}: {str(error.get('message', ''))[:120]}".rstrip(": ")
                until = self.ctx.now() + parse_duration(self.cfg.failure_backoff)
                with self._lock:
                    self.memory.set("dune_failed", key, [until.isoformat(), why])
                raise DuneExecutionFailed(f"query {query_id} execution {execution_id} {why}", source=self.name)
            if state in DONE:
                self.memory.set("dune_running", key, None)
                return self._results(f"/execution/{execution_id}/results", {})
            if state not in RUNNING:
                raise ParseError(f"status: unknown state {state[:40]!r}", source=self.name)
            if self._clock() + self.cfg.poll_every_s > deadline:
                self.memory.set("dune_running", key, execution_id)  # billed already: look at it next time, do not re-execute
                raise TransientSourceError(
                    f"query {query_id} still {state.removeprefix('QUERY_STATE_').lower()} after "
                    f"{self.cfg.execution_deadline_s:.0f}s (execution {execution_id} is checked next poll)",
                    source=self.name, kind="timeout")
            self._sleep(self.cfg.poll_every_s)

    # ------------------------------------------------------------ fetch

    def params_for(self, token_cfg: Any) -> dict[str, str] | None:
        watch = next((w for w in token_cfg.chains if w.token_address), None)
        if watch is None:
            return None
        params = {"chain": DUNE_CHAINS.get(watch.chain, watch.chain), "token_address": watch.token_address,
                  "days": str(self.cfg.days)}
        params.update(token_cfg.dune_params)
        return params

    def fetch(self, token_cfg: Any, since: datetime, until: datetime) -> FetchResult:
        symbol = token_cfg.symbol
        result = FetchResult(self.name, symbol)
        params = self.params_for(token_cfg)
        if params is None:
            result.unsupported += list(METRICS)
            result.notes.append("no chains[].token_address configured")
            return result
        if self._ids is None:
            self._ids = query_ids(self.cfg, self.ctx.cache_dir)
        records: list[Record] = []
        errors: list[SourceError] = []
        for metric in METRICS:
            qid = self._ids.get(metric)
            if qid is None:
                result.unsupported.append(metric)
                result.notes.append(f"{metric}: no Dune query id (run `divmon queries sync`)")
                continue
            try:
                res = self.run(qid, params, token=symbol)
            except SourceError as exc:
                if exc.kind == "auth" or (exc.kind == "throttled" and self._paused_until):
                    raise
                errors.append(exc)
                result.partial = True
                result.notes.append(f"{metric}: {self.ctx.redactor(exc)[:160]}")
                continue
            if res.state == "QUERY_STATE_COMPLETED_PARTIAL":
                result.partial = True
                result.notes.append(f"{metric}: Dune returned a partial (truncated) result; kept "
                                    f"{len(res.rows)} rows, series may miss days")
            records += [r for r in rows_to_records(res.rows, metric, symbol) if since <= r[0] + _DAY <= until + _DAY]
        moves_id = self._ids.get(LIQUIDITY_QUERY)
        if moves_id is not None:
            try:
                res = self.run(moves_id, params, token=symbol)
                chain = next(w.chain for w in token_cfg.chains if w.token_address)
                result.events = [e for e in rows_to_events(res.rows, symbol, chain) if since <= e.ts <= until]
                result.partial = result.partial or res.state == "QUERY_STATE_COMPLETED_PARTIAL"
            except SourceError as exc:
                if exc.kind == "auth":
                    raise
                errors.append(exc)
                result.partial = True
                result.notes.append(f"{LIQUIDITY_QUERY}: {self.ctx.redactor(exc)[:160]}")
        if errors and not records and not result.events:
            raise errors[0]
        result.observations = make_frame(records)
        return result


_DAY = parse_duration("1d")


def build(name: str, cfg: DuneConfig, ctx: SourceContext) -> DuneSource:
    return DuneSource(name, cfg, ctx)
