"""What the dashboard shows, read from the store and judged with the same code as `divmon check`.

No web framework here: the routes in api.py and pages.py only turn these values into responses.
Judging every token is the slow part, so verdicts are kept until the data changes (a new poll or new
points) or ``refresh_s`` passes; every other read is one indexed query per request.
"""

from __future__ import annotations

import logging
import math
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from monitor import model as m
from monitor.errors import ConfigError, MonitorError
from monitor.timeutil import epoch_s, from_epoch, to_utc

if TYPE_CHECKING:
    from monitor.app import App

log = logging.getLogger(__name__)
SEVERITIES = ("critical", "high", "warn", "info")
HEALTH_WINDOW = timedelta(days=1)
VOLUME_METRICS = (m.PERP_VOLUME_USD, m.SPOT_VOLUME_USD)
CHART_CACHE = 32  # tokens whose charts are kept


class NotFound(MonitorError):
    """A token the dashboard does not know (neither configured nor in the store)."""


def iso(value: datetime | int | float | None) -> str | None:
    if value is None:
        return None
    dt = from_epoch(value) if isinstance(value, (int, float)) else to_utc(value)
    return dt.strftime("%Y-%m-%dT%H:%M:%SZ")


@dataclass
class Snapshot:
    """Verdicts judged at one moment over one state of the data."""

    stamp: str
    judged_at: datetime
    mono: float  # time.monotonic() when judged
    verdicts: dict[str, m.Verdict] = field(default_factory=dict)
    order: list[str] = field(default_factory=list)  # ranked


class Dashboard:
    def __init__(self, app: App, *, at: datetime | None = None, refresh_s: float = 60.0):
        self.app = app
        self.at = to_utc(at) if at is not None else None
        self.refresh_s = refresh_s
        self._snapshot: Snapshot | None = None
        self._charts: dict[str, tuple[Any, dict[str, Any]]] = {}  # symbol -> ((stamp, judged at), charts)
        self._lock = threading.Lock()
        self._ph = "%s" if app.store.dialect == "postgresql" else "?"

    # ------------------------------------------------------------ clock and freshness

    def now(self) -> datetime:
        return self.at if self.at is not None else self.app.now()

    def _rows(self, sql: str, params: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
        """One query on the raw driver cursor (placeholders written as ``?``)."""
        sql = sql.replace("?", self._ph)

        def run(conn: Any) -> list[tuple[Any, ...]]:
            cur = conn.connection.driver_connection.cursor()
            try:
                cur.execute(sql, params)
                return [tuple(r) for r in cur.fetchall()]
            finally:
                cur.close()

        rows: list[tuple[Any, ...]] = self.app.store.read(run, "dashboard read")
        return rows

    def status(self) -> dict[str, Any]:
        """When data last arrived: the live pages poll this and refresh when ``stamp`` changes."""
        # updated_at has whole seconds: the sum of every series' last point tells two writes in one second apart
        (updated, newest, reach, n), = self._rows("SELECT MAX(updated_at), MAX(last_ts), SUM(last_ts), COUNT(*) "
                                                  "FROM series")
        (run_id, last_poll), = self._rows("SELECT MAX(id), MAX(finished_at) FROM poll_runs "
                                          "WHERE id = (SELECT MAX(id) FROM poll_runs)")
        snap = self._snapshot
        return {"stamp": f"{updated or 0}-{n}-{reach or 0}-{run_id or 0}", "data_updated_at": iso(updated), "data_until": iso(newest),
                "last_poll": iso(last_poll), "judged_at": iso(snap.judged_at) if snap else None,
                "as_of": iso(self.now()), "fixed_time": self.at is not None}

    # ------------------------------------------------------------ verdicts

    def tokens(self) -> list[str]:
        configured = [t.symbol for t in self.app.config.tokens]
        return configured or [r[0] for r in self._rows("SELECT DISTINCT token FROM series ORDER BY token")]

    def symbol(self, token: str) -> str:
        wanted = token.upper()
        for symbol in self.tokens():
            if symbol == token or symbol.upper() == wanted:
                return symbol
        raise NotFound(f"unknown token {token!r}")

    def snapshot(self) -> Snapshot:
        stamp = self.status()["stamp"]
        snap = self._snapshot
        if snap is not None and self._fresh(snap, stamp):
            return snap
        with self._lock:  # one judgement at a time; a request that waited takes the fresh result
            snap = self._snapshot
            if snap is None or not self._fresh(snap, stamp):
                snap = self._snapshot = self._judge(stamp)
        return snap

    def _fresh(self, snap: Snapshot, stamp: str) -> bool:
        """Same data, and (judging live) judged recently: ages and staleness move with the clock."""
        return (snap.stamp == stamp
                and (self.at is not None or time.monotonic() - snap.mono < self.refresh_s))

    def _judge(self, stamp: str) -> Snapshot:
        from monitor.jobs.evaluate import evaluate_all

        now = self.now()
        started = time.perf_counter()
        verdicts = evaluate_all(self.app, tokens=self.tokens(), at=now)  # `at` given: no flag history written
        log.info("dashboard: judged %d token(s) in %.2f s", len(verdicts), time.perf_counter() - started)
        return Snapshot(stamp, now, time.monotonic(), {v.token: v for v in verdicts}, [v.token for v in verdicts])

    def verdict(self, token: str) -> m.Verdict:
        symbol = self.symbol(token)
        snap = self.snapshot()
        if symbol in snap.verdicts:
            return snap.verdicts[symbol]
        from monitor.jobs.evaluate import evaluate_token

        return evaluate_token(self.app, symbol, at=snap.judged_at)

    def ranking(self) -> list[dict[str, Any]]:
        """One row per token, ranked: label, score, confidence, worst flag, newest data point."""
        from monitor.evidence import RULE_TITLES

        snap = self.snapshot()
        fresh = {r[0]: (r[1], r[2]) for r in self._rows(
            "SELECT token, MAX(last_ts), MAX(updated_at) FROM series GROUP BY token")}
        now_s = epoch_s(snap.judged_at)
        rows = []
        for rank, token in enumerate(snap.order, 1):
            v = snap.verdicts[token]
            worst = max(v.flags, key=lambda f: m.SEVERITY_ORDER.get(f.severity, 0), default=None)
            newest = fresh.get(token, (None, None))[0]
            rows.append({
                "rank": rank, "token": token, "label": v.label, "score": round(float(v.score), 1),
                "confidence": round(float(v.confidence), 2), "degraded": bool(v.degraded),
                "severity": worst.severity if worst else None,
                "worst_flag": RULE_TITLES.get(worst.rule, worst.rule) if worst else None,
                "worst_rule": worst.rule if worst else None, "flags": len(v.flags),
                "data_until": iso(newest), "age_h": None if newest is None else round((now_s - newest) / 3600, 1),
            })
        return rows

    # ------------------------------------------------------------ series

    def span(self, token: str) -> tuple[datetime, datetime]:
        """The token's whole stored history, up to the judging moment."""
        (first, _last), = self._rows("SELECT MIN(first_ts), MAX(last_ts) FROM series WHERE token = ?", (token,))
        end = self.now()
        return (from_epoch(first) if first is not None else end - timedelta(days=30)), end

    def series_rows(self, token: str, metric: str, since: datetime | None, until: datetime | None,
                    source: str | None = None) -> list[tuple[int, str, float]]:
        """(epoch s, source, value) for one metric, by source then time: one indexed range read."""
        symbol = self.symbol(token)
        lo = epoch_s(since) if since is not None else -(2**62)
        hi = epoch_s(until) if until is not None else epoch_s(self.now())
        sql = ("SELECT ts, source, value FROM observations WHERE token = ? AND metric = ? AND ts >= ? AND ts <= ?"
               + (" AND source = ?" if source else "") + " ORDER BY source, ts")
        params = (symbol, metric, lo, hi, source) if source else (symbol, metric, lo, hi)
        return self._rows(sql, params)

    def charts(self, token: str) -> dict[str, Any]:
        """Every chart of the token page over its full stored history, as [epoch s], [value] pairs; kept
        until the data changes (a year of every series takes seconds to resample)."""
        symbol = self.symbol(token)
        key = (self.status()["stamp"], self.at or self.snapshot().judged_at)
        kept = self._charts.get(symbol)
        if kept is not None and kept[0] == key:
            return kept[1]
        data = self._chart_data(symbol)
        if len(self._charts) >= CHART_CACHE:
            self._charts.clear()
        self._charts[symbol] = (key, data)
        return data

    def _chart_data(self, symbol: str) -> dict[str, Any]:
        from monitor.jobs.outputs import token_series

        start, end = self.span(symbol)
        ts, _ = token_series(self.app, symbol, start, end)
        volume: dict[str, dict[str, Any]] = {}
        for metric in VOLUME_METRICS:
            for t, src, value in self.series_rows(symbol, metric, start, end):
                pair = volume.setdefault(f"{src} {'perp' if metric == m.PERP_VOLUME_USD else 'spot'}",
                                         {"t": [], "v": []})
                pair["t"].append(t)
                pair["v"].append(value)
        from monitor.evidence import EVENT_LABELS

        return {
            "token": symbol, "since": iso(start), "until": iso(end),
            "oi_by_venue": _many(ts.oi_by_venue), "oi": _one(ts.oi), "tvl": _one(ts.tvl),
            "active_addresses": _one(ts.active_addresses), "dev_activity": _one(ts.dev_activity),
            "funding": _many(ts.funding), "funding_cap": _many(ts.funding_cap), "long_short": _many(ts.long_short),
            "rsi": _one(ts.rsi), "rsi_levels": [70, 80, 90], "liq_long": _one(ts.liq_long),
            "liq_short": _one(ts.liq_short), "volume": volume,
            "events": [{"t": epoch_s(e.ts), "kind": e.kind, "label": EVENT_LABELS.get(e.kind, e.kind)}
                       for e in ts.events],
        }

    # ------------------------------------------------------------ flags, events, health

    def flag_history(self, token: str | None = None, limit: int = 500) -> list[dict[str, Any]]:
        """Flag episodes newest first: opened (first_seen), last seen at which severity, resolved."""
        from monitor.evidence import RULE_TITLES

        symbol = self.symbol(token) if token else None
        sql = ("SELECT token, rule, first_seen, last_seen, resolved_at, severity, message FROM flags"
               + (" WHERE token = ?" if symbol else "") + " ORDER BY last_seen DESC, token, rule LIMIT ?")
        rows = self._rows(sql, (symbol, limit) if symbol else (limit,))
        return [{"token": t, "rule": r, "title": RULE_TITLES.get(r, r), "opened": iso(a), "last_seen": iso(b),
                 "resolved": iso(c), "open": c is None, "severity": sev, "message": msg}
                for t, r, a, b, c, sev, msg in rows]

    def events(self, token: str) -> list[dict[str, Any]]:
        from monitor.evidence import EVENT_LABELS

        symbol = self.symbol(token)
        return [{"ts": iso(e.ts), "kind": e.kind, "label": EVENT_LABELS.get(e.kind, e.kind), "chain": e.chain,
                 "address": e.address, "tx_hash": e.tx_hash, "source": e.source,
                 "detail": {str(k): _plain(v) for k, v in (e.detail or {}).items()}}
                for e in self.app.store.read_events(symbol)]

    def health(self) -> list[dict[str, Any]]:
        """Per source over the last day: last success, newest point, failures, 429/418, latency."""
        since = epoch_s(self.now() - HEALTH_WINDOW)
        runs = self._rows(
            "SELECT source, COUNT(*), SUM(CASE WHEN status IN ('ok', 'empty', 'partial') THEN 0 ELSE 1 END), "
            "SUM(CASE WHEN http_status = 429 THEN 1 ELSE 0 END), SUM(CASE WHEN http_status = 418 THEN 1 ELSE 0 END), "
            "MAX(CASE WHEN status IN ('ok', 'empty', 'partial') THEN finished_at END), AVG(latency_ms), "
            "MAX(latency_ms) FROM poll_runs WHERE started_at >= ? GROUP BY source", (since,))
        newest = dict(self._rows("SELECT source, MAX(last_ts) FROM series GROUP BY source"))
        by_source = {r[0]: r for r in runs}
        out = []
        for source in sorted(set(by_source) | set(newest)):
            _, polls, failures, t429, t418, last_ok, avg_ms, max_ms = by_source.get(source, (source, 0, 0, 0, 0,
                                                                                             None, None, None))
            out.append({"source": source, "polls": int(polls or 0), "failures": int(failures or 0),
                        "http_429": int(t429 or 0), "http_418": int(t418 or 0), "last_ok": iso(last_ok),
                        "newest_point": iso(newest.get(source)), "latency_ms_avg": _round(avg_ms),
                        "latency_ms_max": _round(max_ms)})
        return out

    def config_text(self) -> str:
        """The config in force as `divmon config check` prints it: each secret only as set / not set."""
        from monitor.config import render_config

        return render_config(self.app.config, self.app.secrets)


def parse_time(text: str | None, name: str) -> datetime | None:
    if text in (None, ""):
        return None
    try:
        return to_utc(text)
    except (ValueError, OverflowError, OSError, TypeError):
        raise ConfigError(f"{name}: {text!r} is not an ISO-8601 time or epoch, e.g. 2025-09-01") from None


def _round(x: Any) -> float | None:
    return None if x is None else round(float(x), 1)


def _plain(v: Any) -> Any:
    if isinstance(v, (str, int, bool)) or v is None:
        return v
    if isinstance(v, float):
        return v if math.isfinite(v) else None
    return str(v)


def _one(series: Any) -> dict[str, list[Any]] | None:
    if series is None:
        return None
    s = series.dropna()
    if s.empty:
        return None
    return {"t": s.index.as_unit("s").asi8.tolist(), "v": [float(x) for x in s.to_numpy()]}


def _many(per: dict[str, Any]) -> dict[str, dict[str, list[Any]]]:
    return {str(k): pair for k, v in per.items() if (pair := _one(v)) is not None}


def csv_lines(rows: list[tuple[int, str, float]], chunk: int = 4096) -> Iterator[str]:
    """CSV in chunks (header first): ts as ISO-8601 UTC, source, value; formatted by numpy per chunk
    (a year of hourly points is ~9k rows: per-row datetime formatting would cost most of the budget)."""
    import numpy as np

    yield "ts,source,value\n"
    for start in range(0, len(rows), chunk):
        part = rows[start:start + chunk]
        ts = np.array([r[0] for r in part], dtype="int64").astype("datetime64[s]").astype(str)
        yield "".join(f"{t}Z,{_csv_cell(src)},{value!r}\n" for t, (_, src, value) in zip(ts, part, strict=True))


def _csv_cell(text: str) -> str:
    if any(c in text for c in ',"\n\r'):
        return '"' + text.replace('"', '""') + '"'
    return text
