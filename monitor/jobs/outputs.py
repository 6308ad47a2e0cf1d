"""Report and digest jobs: read the store, compute chart series, render, deliver once per period.

Delivery bookkeeping (table ``deliveries``, one row per (channel, period)): the row is created
``pending`` with a frozen window (since, until] and a stable Message-ID before anything is sent, and
marked ``sent`` after the server accepted it. A crash in between re-sends the same message (same
Message-ID) on the next run: at-least-once with at most one duplicate. A permanent rejection marks it
``failed`` (logged, not retried); a period with no new or resolved flag is marked ``empty``. Windows
chain: each period starts where the previous one ended, so no flag change is skipped.
"""

from __future__ import annotations

import json
import logging
import os
import socket
import uuid
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pandas as pd

from monitor import model as m
from monitor.errors import ConfigError, NotifyError
from monitor.report.build import (
    DigestData, ReportData, TokenSeries, build_digest, build_report, summarize_health, token_report,
)
from monitor.timeutil import epoch_s, from_epoch, parse_duration, to_utc

log = logging.getLogger(__name__)
CHART_METRICS = (m.OI_USD, m.TVL_USD, m.ACTIVE_ADDRESSES, m.DEV_COMMITS, m.FUNDING_RATE_8H,
                 m.LONG_SHORT_ACCOUNT_RATIO, m.PRICE_CLOSE_1H, m.PRICE_CLOSE, m.LIQ_LONG_USD, m.LIQ_SHORT_USD)
AGGREGATORS = ("coinglass",)  # already a cross-venue total: never added to per-venue sums
PERIOD_LENGTH = {"hour": timedelta(hours=1), "day": timedelta(days=1), "week": timedelta(weeks=1)}
DIGEST_CHARTS = 5


# ---------------------------------------------------------------- series


def _split(frame: pd.DataFrame) -> dict[str, dict[str, pd.Series]]:
    """metric -> source -> series (ts index), from one groupby over the long frame."""
    out: dict[str, dict[str, pd.Series]] = {}
    if frame.empty:
        return out
    # a tz-aware column's to_numpy() is an object array of Timestamps: index the DatetimeIndex instead
    ts, values = pd.DatetimeIndex(frame["ts"]), frame["value"].to_numpy()
    for (metric, source), rows in frame.groupby(["metric", "source"], sort=False).indices.items():
        series = pd.Series(values[rows], index=ts[rows], name=source).sort_index()
        out.setdefault(metric, {})[source] = series
    return out


def _venue_sum(per_source: dict[str, pd.Series]) -> pd.Series | None:
    """Sum across venues on an hourly grid (each venue carried forward up to 6 h); an aggregator's own
    total is used only when no venue series exists."""
    venues = {k: v for k, v in per_source.items() if k not in AGGREGATORS} or per_source
    if not venues:
        return None
    wide = pd.DataFrame({k: v[~v.index.duplicated(keep="last")] for k, v in venues.items()})
    wide = wide.resample("1h").last().ffill(limit=6)
    return wide.sum(axis=1, min_count=1).dropna()


def _longest(per_source: dict[str, pd.Series]) -> pd.Series | None:
    return max(per_source.values(), key=len) if per_source else None


def _rsi(close: pd.Series | None, period: int) -> pd.Series | None:
    if close is None or len(close) <= period:
        return None
    try:
        from monitor.signals.indicators import wilder_rsi
    except ImportError:  # the indicators module is another package's; the report still renders
        log.warning("RSI not drawn: monitor.signals.indicators is unavailable")
        return None
    return wilder_rsi(close, period=period)


def token_series(app: Any, token: str, start: datetime, end: datetime) -> tuple[TokenSeries, dict[str, str]]:
    """Chart series for one token and the latest ts of each series read (``source:metric`` -> ISO)."""
    frame = app.store.read_series(token, CHART_METRICS, start, end)
    by = _split(frame)
    as_of = {f"{src}:{met}": s.index.max().strftime("%Y-%m-%dT%H:%M:%SZ")
             for met, per in by.items() for src, s in per.items()}
    price = by.get(m.PRICE_CLOSE_1H) or by.get(m.PRICE_CLOSE) or {}
    series = TokenSeries(
        oi=_venue_sum(by.get(m.OI_USD, {})),
        tvl=_longest(by.get(m.TVL_USD, {})),
        active_addresses=_longest(by.get(m.ACTIVE_ADDRESSES, {})),
        dev_activity=_longest(by.get(m.DEV_COMMITS, {})),
        funding={k: v for k, v in by.get(m.FUNDING_RATE_8H, {}).items() if k not in AGGREGATORS},
        long_short=by.get(m.LONG_SHORT_ACCOUNT_RATIO, {}),
        rsi=_rsi(_longest(price), app.config.signals.rsi_period),
        liq_long=_venue_sum(by.get(m.LIQ_LONG_USD, {})),
        liq_short=_venue_sum(by.get(m.LIQ_SHORT_USD, {})),
        events=tuple(app.store.read_events(token, start, end)),
    )
    return series, as_of


def health_rows(app: Any, now: datetime, lookback: timedelta = timedelta(days=1)) -> list:
    runs = app.store.read_poll_runs(now - lookback)
    cat = app.store.catalogue()
    latest = {src: g["last_ts"].max().to_pydatetime() for src, g in cat.groupby("source")} if not cat.empty else {}
    floor_s = parse_duration(app.config.signals.stale_after).total_seconds()
    stale_after = {name: max(2 * parse_duration(cfg.poll_interval).total_seconds(), floor_s)
                   for name, cfg in app.config.sources.items()}
    return summarize_health(runs, latest, now, stale_after)


# ---------------------------------------------------------------- report


def _evaluate(app: Any, tokens: list[str] | None, at: datetime | None) -> list[m.Verdict]:
    from monitor.jobs.evaluate import evaluate_all

    return evaluate_all(app, tokens=tokens, at=at)


def make_report(app: Any, *, tokens: list[str] | None = None, at: datetime | None = None,
                verdicts: list[m.Verdict] | None = None, charts: bool = True) -> ReportData:
    now = app.now()
    end = to_utc(at) if at else now
    if verdicts is None:
        verdicts = _evaluate(app, tokens, at)
    if tokens:
        wanted = {t.upper() for t in tokens}
        verdicts = [v for v in verdicts if v.token.upper() in wanted]
    start = end - timedelta(days=app.config.report.chart_days)
    series, stated = {}, []
    for v in verdicts:
        if charts:
            series[v.token], as_of = token_series(app, v.token, start, end)
            v = replace(v, data_as_of={**as_of, **(v.data_as_of or {})})  # the verdict's own word wins
        stated.append(v)
    return build_report(stated, series, health_rows(app, end), generated_at=now, at=at)


def render_report(data: ReportData, fmt: str) -> str:
    from monitor.report import render

    if fmt == "html":
        from monitor.report.charts import data_uri, render_pngs

        return render.render_html(data, {rank: data_uri(png) for rank, png in render_pngs(data.tokens).items()})
    if fmt == "md":
        return render.render_markdown(data)
    if fmt == "json":
        return render.render_json(data)
    if fmt == "text":
        return render.render_text(data)
    raise ConfigError(f"unknown report format {fmt!r} (html, md, json)")


def write_atomic(path: Path, content: str | bytes) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_bytes(content.encode("utf-8") if isinstance(content, str) else content)
    os.replace(tmp, path)
    return path


def report_job(app: Any, *, formats: list[str] | None = None, out: str | None = None,
               tokens: list[str] | None = None, at: datetime | None = None,
               verdicts: list[m.Verdict] | None = None) -> list[Path]:
    """Write the report in each format (default: report.formats into report.out_dir)."""
    formats = formats or list(app.config.report.formats)
    data = make_report(app, tokens=tokens, at=at, verdicts=verdicts, charts="html" in formats)
    written = []
    for fmt in formats:
        path = Path(out) if out and len(formats) == 1 else Path(app.config.report.out_dir) / f"divmon-report.{fmt}"
        written.append(write_atomic(path, render_report(data, fmt)))
        log.info("report written: %s", path)
    return written


# ---------------------------------------------------------------- digest


def period_key(when: datetime, kind: str) -> str:
    when = to_utc(when)
    if kind == "hour":
        return f"hour:{when:%Y-%m-%dT%H}"
    if kind == "week":
        year, week, _ = when.isocalendar()
        return f"week:{year}-W{week:02d}"
    return f"day:{when:%Y-%m-%d}"


@dataclass(frozen=True)
class DeliveryOutcome:
    channel: str
    period: str
    status: str  # sent | pending | failed | empty | skipped | preview
    detail: str = ""


def channels(app: Any) -> list[str]:
    return [c for c, on in (("email", app.config.email.enabled), ("webhook", app.config.webhook.enabled)) if on]


def _digest_for(app: Any, period: str, since: int, until: int) -> DigestData:
    rows = app.store.read_flags()  # by last_seen only; a flag resolved now may have been last seen long ago
    chosen: list[str] = []
    for r in sorted(rows, key=lambda r: -m.SEVERITY_ORDER.get(r["severity"], 0)):
        changed = since < r["first_seen"] <= until or (r["resolved_at"] is not None and since < r["resolved_at"] <= until)
        if changed and r["token"] not in chosen:
            chosen.append(r["token"])
    tokens = []
    end = from_epoch(until)
    start = end - timedelta(days=app.config.report.chart_days)
    for i, raw in enumerate(chosen[:DIGEST_CHARTS]):
        series, _ = token_series(app, raw, start, end)
        stub = m.Verdict(token=raw, label="", score=0.0, confidence=0.0, flags=(), as_of=end)
        tokens.append(token_report(stub, i + 1, series))
    return build_digest(period, rows, since, until, tuple(tokens))


def _email(app: Any, digest: DigestData, msg_id: str):  # noqa: ANN202
    from monitor.notify.email import build_message
    from monitor.report.charts import render_pngs
    from monitor.report.render import digest_subject, render_digest_html, render_digest_text

    pngs = render_pngs(digest.tokens)
    cids = {rank: f"chart{rank}.{msg_id.strip('<>').split('@')[0]}@divmon" for rank in pngs}
    html = render_digest_html(digest, {rank: f"cid:{cid}" for rank, cid in cids.items()})
    return build_message(app.config.email, subject=digest_subject(app.config.email.subject_prefix, digest),
                         text=render_digest_text(digest), html=html,
                         images={cids[rank]: png for rank, png in pngs.items()}, msg_id=msg_id,
                         date=app.now())


def _webhook_body(app: Any, digest: DigestData, key: str) -> dict[str, Any]:
    from monitor.notify.webhook import payload
    from monitor.report.render import digest_payload, digest_subject, render_digest_text

    text = digest_subject(app.config.email.subject_prefix, digest) + "\n\n" + render_digest_text(digest)
    return payload(app.config.webhook.style, text, digest_payload(digest), key)


def _deliver(app: Any, channel: str, digest: DigestData, msg_id: str) -> None:
    if channel == "email":
        from monitor.notify.email import send

        send(_email(app, digest, msg_id), app.config.email, app.secrets,
             smtp_factory=app.factories.get("smtp"))
    else:
        from monitor.notify.webhook import post, resolve_url

        url = resolve_url(app.config.webhook, app.secrets, app.config.network)
        post(url, _webhook_body(app, digest, msg_id), app.config.webhook, key=msg_id, session_factory=app.session)


def _window_start(app: Any, channel: str, until: int) -> int:
    ends = [json.loads(d["summary"] or "{}").get("until") for d in app.store.list_deliveries(channel)]
    ends = [e for e in ends if isinstance(e, int) and e <= until]
    if ends:
        return max(ends)
    return until - int(PERIOD_LENGTH[app.config.schedule.digest_period].total_seconds())


def _attempt(app: Any, channel: str, record: dict[str, Any]) -> DeliveryOutcome:
    period, summary = record["period"], json.loads(record["summary"] or "{}")
    digest = _digest_for(app, period, summary["since"], summary["until"])
    if not digest.worth_sending:
        app.store.save_delivery(channel, period, status="empty", summary=json.dumps({**summary, **digest.counts}))
        return DeliveryOutcome(channel, period, "empty", "no new or resolved flags")
    attempts = int(record.get("attempts") or 0) + 1
    try:
        _deliver(app, channel, digest, record["message_id"])
    except NotifyError as exc:
        text = app.redactor(str(exc))
        status = "failed" if exc.permanent else "pending"
        (log.error if exc.permanent else log.warning)("digest %s %s %s: %s", channel, period,
                                                      "rejected permanently" if exc.permanent else "not sent yet", text)
        app.store.save_delivery(channel, period, status=status, attempts=attempts, last_error=text[:1000])
        return DeliveryOutcome(channel, period, status, text)
    app.store.save_delivery(channel, period, status="sent", attempts=attempts, last_error=None,
                            sent_at=epoch_s(app.now()), summary=json.dumps({**summary, **digest.counts}))
    log.info("digest %s %s sent (%s)", channel, period, record["message_id"])
    return DeliveryOutcome(channel, period, "sent", record["message_id"])


def digest_job(app: Any, *, send: bool = True, out: str | None = None, now: datetime | None = None) -> list[DeliveryOutcome]:
    """Deliver the current period's digest on every enabled channel (retrying older pending ones first),
    or with send=False write a preview (.eml and webhook .json) without touching the deliveries."""
    from monitor.notify.email import message_id

    now = to_utc(now) if now else app.now()
    period = period_key(now, app.config.schedule.digest_period)
    until = epoch_s(now)
    if not send:
        return _preview(app, period, until, out)
    chosen = channels(app)
    if not chosen:
        raise ConfigError("nothing to send to: set email.enabled or webhook.enabled (or drop --send to preview)")
    owner = lock_owner()
    holder = app.store.lock_holder("digest")
    ttl = 0 if holder and owner_gone(holder[0]) else 600  # a killed sender's lease is taken over at once
    if not app.store.acquire_lock("digest", owner, ttl_s=ttl):
        return [DeliveryOutcome(c, period, "skipped", "another digest run is in progress") for c in chosen]
    outcomes = []
    try:
        for channel in chosen:
            for record in app.store.list_deliveries(channel, status="pending"):
                if record["period"] != period:
                    outcomes.append(_attempt(app, channel, record))
            record = app.store.get_delivery(channel, period)
            if record is None:
                summary = {"since": _window_start(app, channel, until), "until": until}
                app.store.save_delivery(channel, period, message_id=message_id(channel, period, app.config.email.sender),
                                        status="pending", attempts=0, summary=json.dumps(summary))
                record = app.store.get_delivery(channel, period)
            if record["status"] == "pending":
                outcomes.append(_attempt(app, channel, record))
            else:
                outcomes.append(DeliveryOutcome(channel, period, "skipped", f"already {record['status']}"))
    finally:
        app.store.release_lock("digest", owner)
    return outcomes


def lock_owner() -> str:
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


def owner_gone(owner: str) -> bool:
    """True when a lease owner ("host:pid:nonce") was a process on this host that no longer runs."""
    host, _, rest = owner.partition(":")
    pid = rest.partition(":")[0]
    if host != socket.gethostname() or not pid.isdigit() or int(pid) == os.getpid():
        return False
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return True
    except PermissionError:
        return False
    return False


def _preview(app: Any, period: str, until: int, out: str | None) -> list[DeliveryOutcome]:
    from monitor.notify.email import message_id

    since = _window_start(app, "email", until)
    digest = _digest_for(app, period, since, until)
    path = Path(out) if out else Path(app.config.report.out_dir) / f"digest-{period.replace(':', '-')}.eml"
    msg_id = message_id("email", period, app.config.email.sender)
    config = app.config
    if not config.email.recipients:  # a preview needs an addressee; the real send requires one
        app = _with_recipient(app)
    write_atomic(path, bytes(_email(app, digest, msg_id)))
    body = _webhook_body(app, digest, message_id("webhook", period, config.email.sender))
    write_atomic(path.with_suffix(".json"), json.dumps(body, indent=2, ensure_ascii=False) + "\n")
    return [DeliveryOutcome("preview", period, "preview", str(path))]


class _Preview:
    def __init__(self, app: Any, config: Any):
        self._app, self.config = app, config

    def __getattr__(self, name: str) -> Any:
        return getattr(self._app, name)


def _with_recipient(app: Any) -> Any:
    email = app.config.email.model_copy(update={"recipients": ["preview@localhost.invalid"]})
    return _Preview(app, app.config.model_copy(update={"email": email}))
