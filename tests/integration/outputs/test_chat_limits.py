"""Chat digests against loopback receivers that enforce each platform's documented limits and answer
400 like the real services: Slack Block Kit, Discord embeds, Telegram HTML. A long digest is split
over several messages and ends in "and N more", never cut mid-text."""

from __future__ import annotations

import datetime as dt
import json
import re

import pytest
from werkzeug import Response

from monitor.jobs.outputs import digest_job
from tests.integration.outputs.helpers import T0, fire, make_app, seed_series

RULES = ("oi_surge_unsupported", "crowded_longs", "perp_spot_ratio")


def _slack_problem(body: dict) -> str | None:
    blocks = body.get("blocks")
    if not isinstance(blocks, list) or not blocks or len(blocks) > 50:
        return "invalid_blocks: 1-50 blocks"
    for b in blocks:
        if b["type"] == "header" and len(b["text"]["text"]) > 150:
            return "header text over 150"
        if b["type"] == "section" and len(b["text"]["text"]) > 3000:
            return "section text over 3000"
        if b["type"] not in ("header", "section", "context", "divider"):
            return "unknown block type"
    return None


def _discord_problem(body: dict) -> str | None:
    embeds = body.get("embeds", [])
    if len(body.get("content", "")) > 2000 or len(embeds) > 10:
        return "content over 2000 or more than 10 embeds"
    total = 0
    for e in embeds:
        if len(e.get("title", "")) > 256 or len(e.get("description", "")) > 4096:
            return "embed title/description too long"
        total += len(e.get("title", "")) + len(e.get("description", ""))
    if total > 6000:
        return "embeds over 6000 characters in total"
    if not body.get("content") and not embeds:
        return "cannot send an empty message"
    return None


def _telegram_problem(body: dict) -> str | None:
    text = body.get("text", "")
    visible = re.sub(r"<[^>]+>", "", text)  # the limit counts text after entity parsing
    if not 1 <= len(visible) <= 4096 or body.get("parse_mode") != "HTML":
        return "message text is too long or parse_mode missing"
    if re.search(r"<(?!/?(b|i|a)\b)", text):
        return "can't parse entities: unsupported start tag"
    return None


CHECKS = {"slack": _slack_problem, "discord": _discord_problem, "telegram": _telegram_problem}


def _receiver(httpserver, style: str) -> list[dict]:
    accepted: list[dict] = []

    def handle(request):
        body = json.loads(request.data)
        problem = CHECKS[style](body)
        if problem:
            return Response(json.dumps({"ok": False, "error": problem}), 400, content_type="application/json")
        accepted.append(body)
        return Response("ok", 200)

    httpserver.expect_request("/hook").respond_with_handler(handle)
    return accepted


def _app(tmp_path, httpserver, style: str):
    return make_app(f"sqlite:///{tmp_path / 'divmon.db'}", tmp_path, secrets={"DIVMON_WEBHOOK_URL": httpserver.url_for("/hook")},
                    email={"enabled": False}, webhook={"enabled": True, "style": style})


def _shown(style: str, body: dict) -> str:
    if style == "slack":
        return "\n".join(b["text"]["text"] if "text" in b else b["elements"][0]["text"] for b in body["blocks"])
    if style == "discord":
        return body.get("content", "") + "\n" + "\n".join(e.get("title", "") + "\n" + e["description"]
                                                          for e in body["embeds"])
    return body["text"]


@pytest.mark.parametrize("style", ["slack", "discord", "telegram"])
def test_a_long_digest_is_split_within_the_platform_limits_and_ends_in_and_n_more(tmp_path, httpserver, style):
    accepted = _receiver(httpserver, style)
    app = _app(tmp_path, httpserver, style)
    tokens = [f"TK{i:03d}" for i in range(120)]
    for token in tokens:
        seed_series(app, token, end=T0, hours=24)
        fire(app, token, *RULES, severity="critical", at=T0 - dt.timedelta(hours=1))
    [outcome] = digest_job(app, send=True)
    assert outcome.status == "sent", outcome.detail
    assert len(accepted) >= 2  # more than one message was needed, each accepted
    shown = "\n".join(_shown(style, b) for b in accepted)
    listed = set(re.findall(r"TK\d{3}", shown))
    more = re.findall(r"and (\d+) more flags", shown)
    assert len(more) == 1
    flags_shown = sum(len(re.findall(rf"{rule.replace('_', '.?')}", shown.replace('\\', ''))) for rule in RULES)
    assert flags_shown - 1 + int(more[0]) >= 3 * len(tokens) - 3  # every flag is either shown or counted
    assert listed and listed <= set(tokens)
    assert "{\"" not in shown and "oi_growth_pct" not in shown  # evidence through the formatter


def test_slack_text_is_escaped_so_a_token_name_cannot_mention_the_channel(tmp_path, httpserver):
    accepted = _receiver(httpserver, "slack")
    app = _app(tmp_path, httpserver, "slack")
    fire(app, "<!channel> & <@U123>", "crowded_longs", at=T0 - dt.timedelta(hours=1))
    assert digest_job(app, send=True)[0].status == "sent"
    # mentions are parsed in mrkdwn and in the notification text (plain_text headers show text as it is)
    parsed = [body["text"] for body in accepted] + [
        e["text"] for body in accepted for b in body["blocks"]
        for e in ([b["text"]] if "text" in b else b.get("elements", [])) if e["type"] == "mrkdwn"]
    assert not any("<!channel>" in t or "<@U123>" in t for t in parsed)
    assert any("&lt;!channel&gt; &amp; &lt;@U123&gt;" in t for t in parsed)


def test_telegram_html_escapes_markup_in_names(tmp_path, httpserver):
    accepted = _receiver(httpserver, "telegram")
    app = _app(tmp_path, httpserver, "telegram")
    fire(app, "<script>x</script>&", "crowded_longs", at=T0 - dt.timedelta(hours=1))
    assert digest_job(app, send=True)[0].status == "sent"  # the receiver refuses unknown tags with 400
    assert "&lt;script&gt;x&lt;/script&gt;&amp;" in accepted[0]["text"]
