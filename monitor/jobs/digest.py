"""Digest and alert jobs: read flag episodes, decide what changed, deliver once per period or episode.

Delivery bookkeeping (table ``deliveries``, one row per (channel, period)): the row is created
``pending`` with a frozen window (since, until] and a stable Message-ID before anything is sent, and
marked ``sent`` after the server accepted it. A crash in between re-sends the same message (same
Message-ID) on the next run: at-least-once with at most one duplicate. A permanent rejection marks it
``failed``: it is not retried, and every later run reports it as failed until a later digest on that
channel is delivered. A period with no change is marked ``empty``. Windows chain: each period starts
where the previous one ended, so no flag change is skipped. Each row's summary keeps what that digest
said about every open episode (``state``), so the next one can tell an escalation or a newly dark token.

Immediate alerts (``<channel>.alert_critical``) use the same table with period ``alert:<hash of the
episode>``: one per critical episode, across restarts.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import socket
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from monitor import model as m
from monitor.errors import ConfigError, NotifyError
from monitor.notify.episodes import Digest, Episode, Sections, alert_due, classify, merge
from monitor.timeutil import epoch_s, from_epoch, parse_duration, to_utc

log = logging.getLogger(__name__)
PERIOD_LENGTH = {"hour": timedelta(hours=1), "day": timedelta(days=1), "week": timedelta(weeks=1)}
DIGEST_CHARTS = 5


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


def _cfg(app: Any, channel: str) -> Any:
    return app.config.email if channel == "email" else app.config.webhook


# ---------------------------------------------------------------- what happened


def _cooldown_s(app: Any) -> int:
    return int(parse_duration(app.config.digest.cooldown).total_seconds())


def dark_tokens(app: Any, tokens: set[str], until: int) -> set[str]:
    """Tokens with no fresh series at ``until`` (each source judged by max(2 × poll_interval, stale_after))."""
    cat = app.store.catalogue()
    floor = parse_duration(app.config.signals.stale_after).total_seconds()
    limit = {name: max(2 * parse_duration(cfg.poll_interval).total_seconds(), floor)
             for name, cfg in app.config.sources.items()}
    fresh: set[str] = set()
    for row in cat.itertuples(index=False):
        if until - epoch_s(row.last_ts.to_pydatetime()) <= limit.get(row.source, floor):
            fresh.add(row.token)
    return tokens - fresh


def _reported(app: Any, channel: str, since: int) -> dict[str, list[str]]:
    """The state the latest digest up to ``since`` recorded for this channel."""
    best, state = -1, {}
    for d in app.store.list_deliveries(channel):
        summary = json.loads(d["summary"] or "{}")
        until = summary.get("until")
        if d["period"].startswith("alert:") or not isinstance(until, int) or until > since or "state" not in summary:
            continue
        if until > best:
            best, state = until, summary["state"]
    return state


def sections_for(app: Any, channel: str, since: int, until: int) -> Sections:
    cooldown = _cooldown_s(app)
    episodes = merge(app.store.read_flags(), cooldown)
    dark = dark_tokens(app, {e.token for e in episodes}, until)
    return classify(episodes, since, until, cooldown_s=cooldown, min_severity=_cfg(app, channel).min_severity,
                    dark_tokens=dark, reported=_reported(app, channel, since))


def _charts(app: Any, sections: Sections, until: int) -> dict[str, bytes]:
    from monitor.jobs.outputs import token_series
    from monitor.report.build import token_report
    from monitor.report.charts import render_pngs

    chosen: list[str] = []
    for ep in sections.new + sections.escalated + sections.resolved + sections.dark:
        if ep.token not in chosen:
            chosen.append(ep.token)
    end = from_epoch(until)
    start = end - timedelta(days=app.config.report.chart_days)
    reports = []
    for i, token in enumerate(chosen[:DIGEST_CHARTS]):
        series, _ = token_series(app, token, start, end)
        stub = m.Verdict(token=token, label="", score=0.0, confidence=0.0, flags=(), as_of=end)
        reports.append(token_report(stub, i + 1, series))
    pngs = render_pngs(reports)
    return {chosen[rank - 1]: png for rank, png in pngs.items()}


def make_digest(app: Any, channel: str, period: str, since: int, until: int,
                labels: dict[str, str] | None = None, charts: bool = True) -> Digest:
    sections = sections_for(app, channel, since, until)
    pngs = _charts(app, sections, until) if charts and sections.worth_sending else {}
    return Digest(period, since, until, sections, dict(labels or {}), pngs, app.config.report.url)


# ---------------------------------------------------------------- delivery


def _deliver(app: Any, channel: str, item: Digest | Episode, msg_id: str) -> None:
    """Send a digest, or one episode as an immediate alert."""
    from monitor.notify import email, webhook

    prefix = app.config.email.subject_prefix
    if channel == "email":
        msg = (email.alert_message(app.config.email, item, msg_id=msg_id, date=app.now(),
                                   report_url=app.config.report.url) if isinstance(item, Episode)
               else email.digest_message(app.config.email, item, msg_id=msg_id, date=app.now()))
        email.send(msg, app.config.email, app.secrets, smtp_factory=app.factories.get("smtp"))
    else:
        url = webhook.resolve_url(app.config.webhook, app.secrets, app.config.network)
        bodies = (webhook.alert_bodies(app.config.webhook.style, prefix, item, msg_id) if isinstance(item, Episode)
                  else webhook.digest_bodies(app.config.webhook.style, prefix, item, msg_id))
        for i, body in enumerate(bodies):
            webhook.post(url, body, app.config.webhook, key=f"{msg_id}#{i}", session_factory=app.session)


def _failed(app: Any, channel: str, period: str, exc: NotifyError, attempts: int) -> DeliveryOutcome:
    text = app.redactor(str(exc))
    status = "failed" if exc.permanent else "pending"
    (log.error if exc.permanent else log.warning)("%s %s %s: %s", channel, period,
                                                  "rejected permanently" if exc.permanent else "not sent yet", text)
    app.store.save_delivery(channel, period, status=status, attempts=attempts, last_error=text[:1000])
    return DeliveryOutcome(channel, period, status, text)


def _attempt(app: Any, channel: str, record: dict[str, Any], labels: dict[str, str]) -> DeliveryOutcome:
    period, summary = record["period"], json.loads(record["summary"] or "{}")
    digest = make_digest(app, channel, period, summary["since"], summary["until"], labels)
    summary = {"since": summary["since"], "until": summary["until"], **digest.sections.counts,
               "state": digest.sections.state()}
    if not digest.sections.worth_sending:
        app.store.save_delivery(channel, period, status="empty", summary=json.dumps(summary))
        return DeliveryOutcome(channel, period, "empty", "nothing new, escalated, resolved or gone dark")
    attempts = int(record.get("attempts") or 0) + 1
    try:
        _deliver(app, channel, digest, record["message_id"])
    except NotifyError as exc:
        return _failed(app, channel, period, exc, attempts)
    app.store.save_delivery(channel, period, status="sent", attempts=attempts, last_error=None,
                            sent_at=epoch_s(app.now()), summary=json.dumps(summary))
    log.info("digest %s %s sent (%s)", channel, period, record["message_id"])
    return DeliveryOutcome(channel, period, "sent", record["message_id"])


def _window_start(app: Any, channel: str, until: int) -> int:
    ends = [json.loads(d["summary"] or "{}").get("until") for d in app.store.list_deliveries(channel)
            if not d["period"].startswith("alert:")]
    ends = [e for e in ends if isinstance(e, int) and e <= until]
    if ends:
        return int(max(ends))
    return until - int(PERIOD_LENGTH[app.config.schedule.digest_period].total_seconds())


def _still_failed(app: Any, channel: str) -> list[DeliveryOutcome]:
    """Digests rejected permanently and not followed by a delivered one: reported on every run."""
    rows = [d for d in app.store.list_deliveries(channel) if not d["period"].startswith("alert:")]
    until = {d["period"]: json.loads(d["summary"] or "{}").get("until") or 0 for d in rows}
    last_sent = max((until[d["period"]] for d in rows if d["status"] == "sent"), default=-1)
    return [DeliveryOutcome(channel, d["period"], "failed", f"rejected permanently earlier: {d['last_error'] or ''}")
            for d in rows if d["status"] == "failed" and until[d["period"]] > last_sent]


def _alert_period(ep: Episode) -> str:
    return "alert:" + hashlib.sha256(ep.key.encode()).hexdigest()[:32]


def _alerts(app: Any, channel: str, until: int) -> list[DeliveryOutcome]:
    from monitor.notify.email import message_id

    cooldown = _cooldown_s(app)
    episodes = merge(app.store.read_flags(), cooldown)
    due = alert_due(episodes, dark_tokens(app, {e.token for e in episodes if e.severity == "critical"}, until))
    outcomes = []
    for ep in due:
        period = _alert_period(ep)
        record = app.store.get_delivery(channel, period)
        if record is None:
            app.store.save_delivery(channel, period, message_id=message_id(channel, period, app.config.email.sender),
                                    status="pending", attempts=0,
                                    summary=json.dumps({"episode": ep.key, "until": until}))
            record = app.store.get_delivery(channel, period)
        if record["status"] != "pending":
            continue
        attempts = int(record["attempts"] or 0) + 1
        try:
            _deliver(app, channel, ep, record["message_id"])
        except NotifyError as exc:
            outcomes.append(_failed(app, channel, period, exc, attempts))
            continue
        app.store.save_delivery(channel, period, status="sent", attempts=attempts, last_error=None,
                                sent_at=epoch_s(app.now()))
        log.info("alert %s sent for %s %s", channel, ep.token, ep.rule)
        outcomes.append(DeliveryOutcome(channel, period, "sent", f"alert {ep.token} {ep.rule}"))
    return outcomes


def _locked(app: Any, chosen: list[str], period: str,
            work: Callable[[], list[DeliveryOutcome]]) -> list[DeliveryOutcome]:
    owner = lock_owner()
    holder = app.store.lock_holder("digest")
    ttl = 0 if holder and owner_gone(holder[0]) else 600  # a killed sender's lease is taken over at once
    if not app.store.acquire_lock("digest", owner, ttl_s=ttl):
        return [DeliveryOutcome(c, period, "skipped", "another digest run is in progress") for c in chosen]
    try:
        return work()
    finally:
        app.store.release_lock("digest", owner)


def alert_job(app: Any, *, now: datetime | None = None) -> list[DeliveryOutcome]:
    """Send the immediate alerts due on every channel with ``alert_critical`` set (after an evaluation)."""
    now = to_utc(now) if now else app.now()
    chosen = [c for c in channels(app) if _cfg(app, c).alert_critical]
    if not chosen:
        return []
    return _locked(app, chosen, "alert", lambda: [o for c in chosen for o in _alerts(app, c, epoch_s(now))])


def digest_job(app: Any, *, send: bool = True, out: str | None = None, now: datetime | None = None,
               verdicts: list[m.Verdict] | None = None) -> list[DeliveryOutcome]:
    """Deliver the current period's digest on every enabled channel (due alerts and older pending digests
    first), or with send=False write a preview (.eml and webhook .json) without touching the deliveries."""
    from monitor.notify.email import message_id

    now = to_utc(now) if now else app.now()
    period = period_key(now, app.config.schedule.digest_period)
    until = epoch_s(now)
    labels = {v.token: v.label for v in verdicts or ()}
    if not send:
        return _preview(app, period, until, out, labels)
    chosen = channels(app)
    if not chosen:
        raise ConfigError("nothing to send to: set email.enabled or webhook.enabled (or drop --send to preview)")

    def work() -> list[DeliveryOutcome]:
        outcomes = []
        for channel in chosen:
            if _cfg(app, channel).alert_critical:
                outcomes += _alerts(app, channel, until)
            for record in app.store.list_deliveries(channel, status="pending"):
                if record["period"] != period and not record["period"].startswith("alert:"):
                    outcomes.append(_attempt(app, channel, record, labels))
            record = app.store.get_delivery(channel, period)
            if record is None:
                summary = {"since": _window_start(app, channel, until), "until": until}
                app.store.save_delivery(channel, period, message_id=message_id(channel, period, app.config.email.sender),
                                        status="pending", attempts=0, summary=json.dumps(summary))
                record = app.store.get_delivery(channel, period)
            if record["status"] == "pending":
                outcomes.append(_attempt(app, channel, record, labels))
            failed = _still_failed(app, channel)
            if record["status"] == "pending":  # its outcome is already listed
                failed = [o for o in failed if o.period != period]
            elif not any(o.period == period for o in failed):
                outcomes.append(DeliveryOutcome(channel, period, "skipped", f"already {record['status']}"))
            outcomes += failed
        return outcomes

    return _locked(app, chosen, period, work)


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


def _preview(app: Any, period: str, until: int, out: str | None, labels: dict[str, str]) -> list[DeliveryOutcome]:
    from monitor.jobs.outputs import write_atomic
    from monitor.notify import email, webhook

    since = _window_start(app, "email", until)
    digest = make_digest(app, "email", period, since, until, labels)
    path = Path(out) if out else Path(app.config.report.out_dir) / f"digest-{period.replace(':', '-')}.eml"
    cfg = app.config.email
    if not cfg.recipients:  # a preview needs an addressee; the real send requires one
        cfg = cfg.model_copy(update={"recipients": ["preview@localhost.invalid"]})
    msg = email.digest_message(cfg, digest, msg_id=email.message_id("email", period, cfg.sender), date=app.now())
    write_atomic(path, bytes(msg))
    bodies = webhook.digest_bodies(app.config.webhook.style, cfg.subject_prefix, digest,
                                   email.message_id("webhook", period, cfg.sender))
    write_atomic(path.with_suffix(".json"), json.dumps(bodies, indent=2, ensure_ascii=False) + "\n")
    return [DeliveryOutcome("preview", period, "preview", str(path))]
