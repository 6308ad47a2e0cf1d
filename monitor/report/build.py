"""Verdicts, chart series and source health -> ReportData (pure: no I/O, no clock).

Every string that came from outside (token names, messages, evidence keys) passes through ``clean``
here, so the renderers only have to escape: control and bidi characters are dropped and long values
are cut.
"""

from __future__ import annotations

import math
import unicodedata
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import pandas as pd

from monitor.evidence import verdict_explanation
from monitor.model import SEVERITY_ORDER, Event, Verdict

SCHEMA_VERSION = 1
BLOCKED = ("banned", "throttled")  # the venue refuses us: no data until it lets us back
NAME_LIMIT = 64
TEXT_LIMIT = 500


def clean(value: Any, limit: int = TEXT_LIMIT) -> str:
    """Text safe to show: no control/format characters (NUL, U+202E, zero-width), at most ``limit``."""
    text = "" if value is None else str(value)
    text = "".join(ch if ch in "\n\t" else " " if ch in "\r\u2028\u2029" else ch
                   for ch in text if ch in "\n\t\r\u2028\u2029" or unicodedata.category(ch) not in ("Cc", "Cf", "Cs"))
    if len(text) > limit:
        text = text[: limit - 1] + "…"
    return text


def iso(ts: Any) -> str | None:
    if ts is None or (isinstance(ts, float) and math.isnan(ts)):
        return None
    stamp = pd.Timestamp(ts)
    if pd.isna(stamp):
        return None
    stamp = stamp.tz_localize("UTC") if stamp.tzinfo is None else stamp.tz_convert("UTC")
    return stamp.strftime("%Y-%m-%dT%H:%M:%SZ")


def _plain(value: Any) -> Any:
    """Evidence values as JSON-friendly scalars (non-finite floats become None)."""
    if isinstance(value, bool) or value is None or isinstance(value, int):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, (datetime, pd.Timestamp)):
        return iso(value)
    if isinstance(value, dict):
        return {clean(k, NAME_LIMIT): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value][:50]
    try:
        number = float(value)
        return number if math.isfinite(number) else None
    except (TypeError, ValueError):
        return clean(value, 200)


@dataclass(frozen=True)
class TokenSeries:
    """What the charts draw for one token; computed by the report job from the store."""

    oi: pd.Series | None = None  # sum across venues over the span where every venue has data, USD
    tvl: pd.Series | None = None
    active_addresses: pd.Series | None = None
    dev_activity: pd.Series | None = None
    funding: dict[str, pd.Series] = field(default_factory=dict)  # venue -> funding_rate_8h
    long_short: dict[str, pd.Series] = field(default_factory=dict)  # venue -> ratio
    rsi: pd.Series | None = None
    liq_long: pd.Series | None = None
    liq_short: pd.Series | None = None
    events: tuple[Event, ...] = ()
    oi_by_venue: dict[str, pd.Series] = field(default_factory=dict)  # venue -> oi_usd (stacked in the chart)
    funding_cap: dict[str, pd.Series] = field(default_factory=dict)  # venue -> cap per 8h, fraction

    def normalized(self) -> dict[str, pd.Series]:
        """OI, TVL, active addresses and dev activity rebased to 100 at their first positive value."""
        out = {}
        for label, series in (("OI", self.oi), ("TVL", self.tvl), ("Active addresses", self.active_addresses),
                              ("Dev activity", self.dev_activity)):
            if series is None:
                continue
            s = series.dropna()
            base = s[s > 0]
            if base.empty:
                continue
            out[label] = s / float(base.iloc[0]) * 100.0
        return out

    def is_empty(self) -> bool:
        return not (self.normalized() or self.oi_by_venue or self.funding or self.long_short
                    or (self.rsi is not None and not self.rsi.dropna().empty)
                    or self.liq_long is not None or self.liq_short is not None)


@dataclass(frozen=True)
class FlagView:
    rule: str
    severity: str
    message: str
    evidence: dict[str, Any]
    window: str


@dataclass(frozen=True)
class EventView:
    ts: str | None
    kind: str
    chain: str
    address: str
    tx_hash: str


@dataclass(frozen=True)
class HealthRow:
    source: str
    last_ok: str | None
    last_ts: str | None
    polls: int
    failures: int
    throttled: int
    stale: bool
    dark: bool = False
    last_error: str = ""
    status: str = ""  # ok | stale | failing | banned | throttled: what a reader sees first


@dataclass(frozen=True)
class TokenReport:
    token: str
    rank: int
    label: str
    score: float
    confidence: float
    max_severity: str | None
    flags: tuple[FlagView, ...]
    reasons: tuple[str, ...]
    as_of: str | None
    data_as_of: dict[str, str]
    health: tuple[HealthRow, ...]
    events: tuple[EventView, ...]
    series: TokenSeries | None = None
    explanation: tuple[str, ...] = ()  # why this label and what lowered the confidence


@dataclass(frozen=True)
class ReportData:
    generated_at: str | None
    at: str | None  # the requested point in time, None for "now"
    tokens: tuple[TokenReport, ...]
    health: tuple[HealthRow, ...]
    data_until: str | None  # the latest ts any series reaches
    schema_version: int = SCHEMA_VERSION


def _flag_view(flag: Any) -> FlagView:
    return FlagView(clean(flag.rule, NAME_LIMIT), clean(flag.severity, 16), clean(flag.message),
                    _plain(dict(flag.evidence or {})), clean(flag.window, 32))


def _health_from_verdict(h: Any) -> HealthRow:
    return HealthRow(clean(h.source, NAME_LIMIT), iso(h.last_ok), iso(h.last_ts), 0, int(h.failures),
                     int(h.throttled), bool(h.stale), bool(h.dark), clean(h.detail, 200))


def series_key(key: str) -> str:
    """One notation for a series: ``source:metric`` (the verdict states ``metric@source``)."""
    if "@" in key:
        metric, _, source = key.partition("@")
        return f"{source}:{metric}"
    return key


def _data_as_of(stated: dict[str, Any]) -> dict[str, str]:
    """Each series once, ISO-8601 UTC; a later entry for the same series wins."""
    out: dict[str, str] = {}
    for key, ts in stated.items():
        out[clean(series_key(str(key)), 120)] = iso(ts) or clean(ts, 40)
    return dict(sorted(out.items()))


def token_report(verdict: Verdict, rank: int, series: TokenSeries | None = None,
                 events: tuple[Event, ...] | None = None) -> TokenReport:
    """``events`` default to the chart series' own; every format lists them, charts or not."""
    flags = sorted(verdict.flags, key=lambda f: (-SEVERITY_ORDER.get(f.severity, 0), f.rule))
    if events is None:
        events = series.events if series else ()
    views = tuple(
        EventView(iso(e.ts), clean(e.kind, 40), clean(e.chain, 32), clean(e.address, 80), clean(e.tx_hash, 80))
        for e in sorted(events, key=lambda e: e.ts)
    )
    return TokenReport(
        token=clean(verdict.token, NAME_LIMIT), rank=rank, label=clean(verdict.label, 32),
        score=round(float(verdict.score), 1), confidence=round(float(verdict.confidence), 2),
        max_severity=verdict.max_severity, flags=tuple(_flag_view(f) for f in flags),
        reasons=tuple(clean(r) for r in verdict.reasons), as_of=iso(verdict.as_of),
        data_as_of=_data_as_of(verdict.data_as_of or {}),
        health=tuple(_health_from_verdict(h) for h in verdict.health), events=views, series=series,
        explanation=tuple(clean(line) for line in verdict_explanation(verdict)),
    )


def build_report(
    verdicts: list[Verdict],
    series: dict[str, TokenSeries] | None = None,
    health: list[HealthRow] | tuple[HealthRow, ...] = (),
    *,
    generated_at: datetime | None = None,
    at: datetime | None = None,
    events: dict[str, tuple[Event, ...]] | None = None,
) -> ReportData:
    """Rank by speculation score (then severity, then name; "insufficient data" last) and assemble."""
    series = series or {}
    events = events or {}
    ranked = sorted(verdicts, key=lambda v: (v.label == "insufficient data", -float(v.score),
                                             -SEVERITY_ORDER.get(v.max_severity or "", -1), v.token))
    tokens = tuple(token_report(v, i + 1, series.get(v.token), events.get(v.token)) for i, v in enumerate(ranked))
    stamps = [ts for t in tokens for ts in t.data_as_of.values() if ts]
    stamps += [h.last_ts for h in health if h.last_ts]
    return ReportData(generated_at=iso(generated_at), at=iso(at), tokens=tokens, health=tuple(health),
                      data_until=max(stamps) if stamps else None)


def summarize_health(
    runs: pd.DataFrame,
    latest: dict[str, datetime],
    now: datetime,
    stale_after: dict[str, float],
) -> list[HealthRow]:
    """Per source: polls, failures, 429/418s, last success and freshness, from poll_runs rows.

    ``latest`` is the newest stored ts per source; ``stale_after`` seconds per source (no success for
    longer than that marks it stale).
    """
    sources = sorted(set(latest) | set(runs["source"].unique() if not runs.empty else []))
    rows = []
    for source in sources:
        mine = runs[runs["source"] == source] if not runs.empty else runs
        fetches = mine[mine["endpoint"] == "fetch"] if not mine.empty else mine
        ok = mine[mine["status"].isin(["ok", "empty", "partial"])] if not mine.empty else mine
        bad = fetches[~fetches["status"].isin(["ok", "empty", "partial"])] if not fetches.empty else fetches
        throttled = 0
        if not mine.empty:
            throttled = int((mine["http_status"].isin([429, 418]) | mine["status"].isin(["throttled", "banned"])).sum())
        last_ok = ok["finished_at"].max() if not ok.empty else None
        limit = stale_after.get(source)
        stale = last_ok is None or (limit is not None and (pd.Timestamp(now) - last_ok).total_seconds() > limit)
        last_error = ""
        if not bad.empty:
            last_error = clean(bad.iloc[-1]["message"] or bad.iloc[-1]["status"], 200)
        # a venue that banned or throttled us on its latest fetch is dark now, whatever it said before
        last = None
        if not fetches.empty:  # fetches ending in one instant (a frozen replay clock) have no order: a refusal wins
            newest = fetches.loc[fetches["finished_at"] == fetches["finished_at"].max(), "status"]
            last = next((b for b in BLOCKED if (newest == b).any()), newest.iloc[-1])
        blocked = last in BLOCKED
        dark = blocked or (last_ok is None and len(bad) > 0)
        status = str(last) if blocked else "failing" if dark else "stale" if stale else "ok"
        rows.append(HealthRow(clean(source, NAME_LIMIT), iso(last_ok), iso(latest.get(source)), len(fetches),
                              len(bad), throttled, bool(stale), bool(dark), last_error, status))
    return rows
