"""Digest webhook: JSON POSTs in the shape chat services accept (see monitor.notify.chat).

- slack: Block Kit ``{"text", "blocks"}`` (incoming webhooks)
- discord: ``{"content", "embeds", "allowed_mentions"}`` (execute webhook)
- telegram: ``{"text", "parse_mode": "HTML"}`` posted to ``https://api.telegram.org/bot<token>/sendMessage?chat_id=<id>``
- generic: ``{"text", "id", "digest"}``: the plain-text digest plus its data, for custom receivers.

A long digest may take several POSTs (each with its own Idempotency-Key).

The URL usually embeds a token, so it comes from the env var named by ``webhook.url_env`` and never
appears in a message or log. 4xx (except 408/429) is permanent; 5xx, 408, 429 and network errors are
temporary.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from html import escape as html_escape
from typing import Any

from monitor.config import NetworkConfig, Secrets, WebhookConfig, url_problem
from monitor.errors import ConfigError, NotifyError
from monitor.notify import chat
from monitor.notify.digest_text import alert_subject, alert_text, render_text, subject
from monitor.notify.episodes import SECTIONS, Digest, Episode
from monitor.timeutil import from_epoch

log = logging.getLogger(__name__)


def digest_payload(digest: Digest) -> dict[str, Any]:
    """The digest as plain data for custom receivers (raw evidence included, as in the JSON report)."""
    def row(ep: Episode) -> dict[str, Any]:
        return {"token": ep.token, "rule": ep.rule, "severity": ep.severity, "message": ep.message,
                "evidence": ep.evidence, "first_seen": iso(ep.first_seen), "last_seen": iso(ep.last_seen),
                "resolved_at": iso(ep.resolved_at), "was": ep.was, "reopened": ep.reopened}

    s = digest.sections
    return {"schema_version": 1, "period": digest.period, "since": iso(digest.since), "until": iso(digest.until),
            "counts": s.counts, **{name: [row(ep) for ep in getattr(s, name)] for name in SECTIONS},
            "report_url": digest.report_url}


def iso(ts: int | None) -> str | None:
    return None if ts is None else from_epoch(ts).strftime("%Y-%m-%dT%H:%M:%SZ")


def digest_bodies(style: str, prefix: str, digest: Digest, key: str) -> list[dict[str, Any]]:
    """The JSON bodies to POST, in order (chat styles may need several messages)."""
    if style == "slack":
        return chat.slack(prefix, digest)
    if style == "discord":
        return chat.discord(prefix, digest)
    if style == "telegram":
        return chat.telegram(prefix, digest)
    text = subject(prefix, digest) + "\n\n" + render_text(digest)
    return [{"text": text, "id": key, "digest": digest_payload(digest)}]


def alert_bodies(style: str, prefix: str, ep: Episode, key: str) -> list[dict[str, Any]]:
    title, text = alert_subject(prefix, ep), alert_text(ep)
    if style == "slack":
        return [{"text": chat.slack_escape(title), "blocks": [
            {"type": "header", "text": {"type": "plain_text", "text": title[: chat.SLACK_HEADER]}},
            {"type": "section", "text": {"type": "mrkdwn", "text": chat.slack_escape(text)[: chat.SLACK_TEXT]}}]}]
    if style == "discord":
        return [{"content": chat.discord_escape(title), "allowed_mentions": {"parse": []},
                 "embeds": [{"description": chat.discord_escape(text)[: chat.DISCORD_DESCRIPTION],
                             "color": chat.COLOURS["critical"]}]}]
    if style == "telegram":
        return [{"text": html_escape(f"{title}\n\n{text}", quote=False)[: chat.TELEGRAM_TEXT], "parse_mode": "HTML",
                 "disable_web_page_preview": True}]
    return [{"text": f"{title}\n\n{text}", "id": key, "alert": {"token": ep.token, "rule": ep.rule,
                                                                "severity": ep.severity, "evidence": ep.evidence}}]


def resolve_url(cfg: WebhookConfig, secrets: Secrets, network: NetworkConfig) -> str:
    url = secrets.get(cfg.url_env)
    if not url:
        raise ConfigError(f"webhook is enabled but environment variable {cfg.url_env} is not set")
    problem = url_problem(url, network)
    if problem:
        raise ConfigError(f"the URL in {cfg.url_env} is refused: {problem}")
    return url


def post(
    url: str,
    body: dict[str, Any],
    cfg: WebhookConfig,
    *,
    key: str,
    session_factory: Callable[[], Any],
) -> None:
    """POST once; raises NotifyError(permanent=...) unless the receiver answered 2xx."""
    import requests

    session = session_factory()
    try:
        resp = session.post(url, json=body, timeout=cfg.timeout_s, allow_redirects=False,
                            headers={"Idempotency-Key": key, "User-Agent": "divergence-monitor/0.1"})
    except requests.RequestException as exc:
        raise NotifyError(f"webhook ({cfg.url_env}) unavailable: {type(exc).__name__}") from None
    finally:
        close = getattr(session, "close", None)
        if close:
            close()
    if 200 <= resp.status_code < 300:
        return
    permanent = 400 <= resp.status_code < 500 and resp.status_code not in (408, 425, 429)
    raise NotifyError(f"webhook ({cfg.url_env}) answered HTTP {resp.status_code}", permanent=permanent)
