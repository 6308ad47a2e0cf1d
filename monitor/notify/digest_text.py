"""Digest and alert wording shared by every channel: subject line, plain text (78 columns), flag lines.

Every flag is shown through the shared evidence formatter (monitor.evidence): its one-line message and
a few labelled facts, never raw evidence. Every string from outside passes through ``clean`` first.
"""

from __future__ import annotations

import textwrap
import unicodedata
from dataclasses import dataclass
from typing import Any

from monitor.model import Flag
from monitor.notify.episodes import SECTIONS, Digest, Episode
from monitor.timeutil import from_epoch

WIDTH = 78
NAME_LIMIT = 64
TEXT_LIMIT = 500
TITLES = {"new": "New", "escalated": "Escalated", "ongoing": "Ongoing", "resolved": "Resolved", "dark": "Data dark"}
NOTES = {"dark": "no fresh data for these tokens: whether the flag still fires is unknown"}


def clean(value: Any, limit: int = TEXT_LIMIT) -> str:
    """Text safe to show: control and format characters (NUL, U+202E, zero-width) dropped, bounded length."""
    text = "" if value is None else str(value)
    text = "".join(" " if ch in "\r\n\t\u2028\u2029" else ch for ch in text
                   if ch in "\r\n\t\u2028\u2029" or unicodedata.category(ch) not in ("Cc", "Cf", "Cs"))
    return text if len(text) <= limit else text[: limit - 1] + "…"


@dataclass(frozen=True)
class FlagView:
    """One episode as every renderer shows it (all strings cleaned, none escaped)."""

    token: str
    severity: str
    rule: str
    title: str
    facts: tuple[tuple[str, str], ...]
    when: str  # "since 2026-11-27 05:00 UTC", "resolved …", "critical, was warn"


def when_text(ts: int | None) -> str:
    return "" if ts is None else from_epoch(ts).strftime("%Y-%m-%d %H:%M UTC")


def view(ep: Episode, section: str) -> FlagView:
    from monitor.evidence import flag_text

    shown = flag_text(Flag(ep.rule, ep.severity, ep.message, ep.evidence))
    if section == "resolved":
        when = f"resolved {when_text(ep.resolved_at)}"
    elif section == "escalated":
        when = f"was {clean(ep.was, 16)}, since {when_text(ep.first_seen)}"
    elif section == "dark":
        when = f"last seen firing {when_text(ep.last_seen)}"
    else:
        when = f"since {when_text(ep.first_seen)}"
    if ep.reopened:
        when += f" (re-opened {ep.reopened}×)"
    return FlagView(clean(ep.token, NAME_LIMIT), clean(ep.severity, 16), clean(ep.rule, NAME_LIMIT),
                    clean(shown.title or ep.message), tuple((clean(f.label, 80), clean(f.value, 200)) for f in shown.facts),
                    when)


def views(digest: Digest) -> list[tuple[str, list[FlagView]]]:
    return [(name, [view(ep, name) for ep in getattr(digest.sections, name)]) for name in SECTIONS]


def headline(digest: Digest) -> str:
    """The most important change: "AIA → speculation (critical)" or "AIA oi_surge (critical) resolved"."""
    s = digest.sections
    for name in ("escalated", "new", "resolved", "dark"):
        eps = getattr(s, name)
        if not eps:
            continue
        top = eps[0]  # sections are ordered most severe first
        token, label = clean(top.token, NAME_LIMIT), clean(digest.labels.get(top.token), 32)
        if name in ("new", "escalated") and label:
            return f"{token} → {label} ({clean(top.severity, 16)})"
        suffix = {"new": "", "escalated": " escalated", "resolved": " resolved", "dark": " data dark"}[name]
        return f"{token} {clean(top.rule, NAME_LIMIT)} ({clean(top.severity, 16)}){suffix}"
    return "no changes"


def subject(prefix: str, digest: Digest) -> str:
    counts = digest.sections.counts
    parts = [f"{counts[k]} {'data dark' if k == 'dark' else k}" for k in ("new", "escalated", "resolved", "dark")
             if counts[k]]
    return " ".join(p for p in (prefix, ", ".join([headline(digest), *parts])) if p)


def window_text(digest: Digest) -> str:
    return f"{when_text(digest.since)} to {when_text(digest.until)}"


def _wrap(text: str, indent: str, rest: str | None = None) -> list[str]:
    return textwrap.wrap(text, WIDTH, initial_indent=indent, subsequent_indent=rest if rest is not None else indent,
                         break_long_words=True, break_on_hyphens=False) or [indent.rstrip()]


def flag_lines(v: FlagView) -> list[str]:
    out = _wrap(f"{v.token} [{v.severity}] {v.title}", "  - ", "    ")
    out += _wrap(f"{v.rule}, {v.when}", "    ")
    for label, value in v.facts:
        out += _wrap(f"{label}: {value}", "    · ", "      ")
    return out


def render_text(digest: Digest) -> str:
    counts = digest.sections.counts
    out = _wrap(f"divmon digest {digest.period}: {window_text(digest)}", "")
    out += _wrap(", ".join(f"{counts[k]} {TITLES[k].lower()}" for k in SECTIONS), "")
    if digest.report_url:
        out += _wrap(f"Full report: {digest.report_url}", "")
    for name, rows in views(digest):
        if not rows:
            continue
        out += ["", f"{TITLES[name].upper()} ({len(rows)})"]
        if name in NOTES:
            out += _wrap(NOTES[name], "  ")
        for v in rows:
            out += flag_lines(v)
    return "\n".join(out) + "\n"


def alert_subject(prefix: str, ep: Episode) -> str:
    return " ".join(p for p in (prefix, f"CRITICAL {clean(ep.token, NAME_LIMIT)} {clean(ep.rule, NAME_LIMIT)}") if p)


def alert_text(ep: Episode, report_url: str | None = None) -> str:
    v = view(ep, "new")
    out = _wrap(f"Critical flag on {v.token}: {v.title}", "")
    out += ["", *flag_lines(v)]
    if report_url:
        out += ["", *_wrap(f"Full report: {report_url}", "")]
    return "\n".join(out) + "\n"
