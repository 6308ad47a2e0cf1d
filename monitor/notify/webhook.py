"""Digest webhook: one JSON POST in the shape chat services accept.

- slack: ``{"text": ...}`` (incoming webhooks; mrkdwn)
- discord: ``{"content": ...}`` (at most 2,000 characters)
- telegram: ``{"text": ...}`` posted to ``https://api.telegram.org/bot<token>/sendMessage?chat_id=<id>``
- generic: ``{"text", "content", "digest"}``: readable by the first two and by custom receivers.

The URL usually embeds a token, so it comes from the env var named by ``webhook.url_env`` and never
appears in a message or log. 4xx (except 408/429) is permanent; 5xx, 408, 429 and network errors are
temporary.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from monitor.config import NetworkConfig, Secrets, WebhookConfig, url_problem
from monitor.errors import ConfigError, NotifyError

log = logging.getLogger(__name__)
LIMITS = {"slack": 35_000, "discord": 2_000, "telegram": 4_096, "generic": 35_000}


def payload(style: str, text: str, digest: dict[str, Any], key: str) -> dict[str, Any]:
    limit = LIMITS.get(style, 35_000)
    if len(text) > limit:
        text = text[: limit - 1] + "…"
    if style == "slack":
        return {"text": text}
    if style == "discord":
        return {"content": text, "allowed_mentions": {"parse": []}}
    if style == "telegram":
        return {"text": text, "disable_web_page_preview": True}
    return {"text": text, "content": text, "id": key, "digest": digest}


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
