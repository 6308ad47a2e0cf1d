"""Digest messages for chat services, each within its platform's limits.

- slack: Block Kit (header, context, one mrkdwn section per flag); at most 50 blocks a message, section
  text at most 3,000 characters, header 150; ``&``, ``<``, ``>`` escaped so no text becomes a mention.
- discord: one embed per flag (colour by severity); at most 10 embeds a message, description 4,096,
  title 256, all embed text together 6,000, content 2,000; mentions disabled.
- telegram: ``parse_mode: HTML``, at most 4,096 characters a message, ``&``, ``<``, ``>`` escaped.

A digest too long for one message is split over up to ``MAX_MESSAGES``; whatever still does not fit is
summarised as "…and N more flags", never cut mid-text.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from html import escape as html_escape
from typing import Any

from monitor.notify.digest_text import NOTES, TITLES, FlagView, subject, views, window_text
from monitor.notify.episodes import Digest

MAX_MESSAGES = 4
SLACK_BLOCKS, SLACK_TEXT, SLACK_HEADER = 50, 3_000, 150
DISCORD_CONTENT, DISCORD_EMBEDS, DISCORD_DESCRIPTION, DISCORD_TITLE, DISCORD_TOTAL = 2_000, 10, 4_096, 256, 6_000
TELEGRAM_TEXT = 4_096
COLOURS = {"critical": 0xB3261E, "high": 0xD9480F, "warn": 0xB58100, "info": 0x5F6B7A}
_DISCORD_MD = re.compile(r"([\\*_~`|>\[\]()#])")

Unit = tuple[Any, int]  # (platform payload piece, number of flags it shows)


def slack_escape(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def discord_escape(text: str) -> str:
    return _DISCORD_MD.sub(r"\\\1", text)


def _cut(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def more_text(n: int) -> str:
    return f"…and {n} more flag{'s' if n != 1 else ''} (see the full report)"


def pack(head: list[Unit], units: list[Unit], fits: Callable[[list[Any]], bool],
         more: Callable[[int], Unit]) -> list[list[Any]]:
    """Units into messages (each passing ``fits``), at most MAX_MESSAGES; the rest becomes one "more" unit."""
    messages: list[list[Unit]] = [list(head)]
    for i, unit in enumerate(units):
        if fits([u for u, _ in messages[-1]] + [unit[0]]):
            messages[-1].append(unit)
            continue
        if len(messages) < MAX_MESSAGES and fits([unit[0]]):
            messages.append([unit])
            continue
        left = sum(n for _, n in units[i:])
        while messages[-1] and not fits([u for u, _ in messages[-1]] + [more(left)[0]]):
            left += messages[-1].pop()[1]
        messages[-1].append(more(left))
        break
    return [[u for u, _ in msg] for msg in messages if msg]


# ---------------------------------------------------------------- slack


def _slack_flag(v: FlagView) -> str:
    lines = [f"*{slack_escape(v.token)}* `{slack_escape(v.severity)}` {slack_escape(v.title)}",
             f"_{slack_escape(v.rule)}, {slack_escape(v.when)}_"]
    lines += [f"• {slack_escape(label)}: {slack_escape(value)}" for label, value in v.facts]
    return _cut("\n".join(lines), SLACK_TEXT)


def slack(prefix: str, digest: Digest) -> list[dict[str, Any]]:
    title = subject(prefix, digest)
    context = window_text(digest)
    if digest.report_url:
        context += f" · <{slack_escape(digest.report_url)}|full report>"
    head: list[Unit] = [({"type": "header", "text": {"type": "plain_text", "text": _cut(title, SLACK_HEADER)}}, 0),
                        ({"type": "context", "elements": [{"type": "mrkdwn", "text": context}]}, 0)]
    units: list[Unit] = []
    for name, rows in views(digest):
        if rows:
            note = f"\n{NOTES[name]}" if name in NOTES else ""
            units.append(({"type": "section", "text": {"type": "mrkdwn",
                                                       "text": f"*{TITLES[name]} ({len(rows)})*{note}"}}, 0))
            units += [({"type": "section", "text": {"type": "mrkdwn", "text": _slack_flag(v)}}, 1) for v in rows]

    def more(n: int) -> Unit:
        return {"type": "context", "elements": [{"type": "mrkdwn", "text": more_text(n)}]}, 0

    msgs = pack(head, units, lambda blocks: len(blocks) <= SLACK_BLOCKS, more)
    return [{"text": slack_escape(_cut(title, SLACK_TEXT)), "blocks": blocks} for blocks in msgs]


# ---------------------------------------------------------------- discord


def _embed_size(e: dict[str, Any]) -> int:
    return len(e.get("title", "")) + len(e.get("description", "")) + len(e.get("footer", {}).get("text", ""))


def _discord_flag(section: str, v: FlagView) -> dict[str, Any]:
    lines = [discord_escape(v.title), f"*{discord_escape(v.rule)}, {discord_escape(v.when)}*"]
    lines += [f"**{discord_escape(label)}**: {discord_escape(value)}" for label, value in v.facts]
    return {"title": _cut(f"{TITLES[section]}: {v.token} [{v.severity}]", DISCORD_TITLE),
            "description": _cut("\n".join(lines), DISCORD_DESCRIPTION), "color": COLOURS.get(v.severity, COLOURS["info"])}


def discord(prefix: str, digest: Digest) -> list[dict[str, Any]]:
    units: list[Unit] = [(_discord_flag(name, v), 1) for name, rows in views(digest) for v in rows]

    def fits(embeds: list[dict[str, Any]]) -> bool:
        return len(embeds) <= DISCORD_EMBEDS and sum(_embed_size(e) for e in embeds) <= DISCORD_TOTAL

    msgs = pack([], units, fits, lambda n: ({"description": more_text(n)}, 0))
    content = discord_escape(subject(prefix, digest)) + "\n" + discord_escape(window_text(digest))
    if digest.report_url:
        content += f"\nFull report: <{digest.report_url}>"
    bodies = [{"content": _cut(content, DISCORD_CONTENT) if i == 0 else "", "embeds": embeds,
               "allowed_mentions": {"parse": []}} for i, embeds in enumerate(msgs or [[]])]
    for body in bodies:
        if not body["content"]:
            del body["content"]
    return bodies


# ---------------------------------------------------------------- telegram


def _html(text: str) -> str:
    return html_escape(text, quote=False)


def _telegram_flag(v: FlagView) -> str:
    e = _html
    lines = [f"<b>{e(v.token)}</b> [{e(v.severity)}] {e(v.title)}", f"<i>{e(v.rule)}, {e(v.when)}</i>"]
    lines += [f"• {e(label)}: {e(value)}" for label, value in v.facts]
    return _cut("\n".join(lines), TELEGRAM_TEXT)


def telegram(prefix: str, digest: Digest) -> list[dict[str, Any]]:
    e = _html
    head_text = f"<b>{e(subject(prefix, digest))}</b>\n{e(window_text(digest))}"
    if digest.report_url:
        head_text += f'\n<a href="{html_escape(digest.report_url)}">Full report</a>'
    units: list[Unit] = []
    for name, rows in views(digest):
        if rows:
            units.append((f"\n<b>{e(TITLES[name].upper())} ({len(rows)})</b>", 0))
            units += [(_telegram_flag(v), 1) for v in rows]
    msgs = pack([(head_text, 0)], units, lambda parts: len("\n".join(parts)) <= TELEGRAM_TEXT,
                lambda n: (f"\n{e(more_text(n))}", 0))
    return [{"text": "\n".join(parts), "parse_mode": "HTML", "disable_web_page_preview": True} for parts in msgs]
