"""ReportData -> HTML (Jinja2, autoescaped), Markdown, plain text and JSON.

JSON report schema (``schema_version`` 1; fields may be added, never removed or renamed)::

    {
      "schema_version": 1,
      "generated_at": "2026-11-27T08:00:00Z" | null,   # when the report was built
      "at": "2026-11-20T00:00:00Z" | null,             # requested point in time (null = now)
      "data_until": "2026-11-27T07:00:00Z" | null,     # latest ts any series reaches
      "tokens": [                                      # ranked by speculation score, highest first
        {
          "rank": 1, "token": "AIA",
          "label": "adoption" | "mixed" | "speculation" | "insufficient data",
          "score": 0-100, "confidence": 0-1, "max_severity": "info|warn|high|critical" | null,
          "as_of": ISO-8601 | null,
          "flags": [{"rule": str, "severity": str, "message": str, "window": str,
                     "evidence": {str: number|string|bool|null|list|object}}],
          "reasons": [str],
          "data_as_of": {"<source>:<metric>": ISO-8601},  # latest ts of each series used
          "health": [<health row>],                       # per source, as judged for this token
          "events": [{"ts": ISO-8601, "kind": str, "chain": str, "address": str, "tx_hash": str}],
          "explanation": [str]                            # why this label; what lowered the confidence
        }
      ],
      "health": [                                      # data health per source
        {"source": str, "last_ok": ISO-8601|null, "last_ts": ISO-8601|null, "polls": int,
         "failures": int, "throttled": int, "stale": bool, "dark": bool, "last_error": str,
         "status": "ok" | "stale" | "failing" | "banned" | "throttled"}  # banned/throttled/failing are dark
      ]
    }

Every string was cleaned by build.clean (no control or bidi characters, bounded length).
"""

from __future__ import annotations

import json
import re
from dataclasses import asdict
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

from monitor.evidence import EVENT_LABELS, RULE_TITLES, FlagText, flag_text, fmt_ts
from monitor.model import Flag
from monitor.report.build import BLOCKED, FlagView, HealthRow, ReportData

if TYPE_CHECKING:  # jinja2 loads on the first render
    from jinja2 import Environment

TEMPLATES = Path(__file__).parent / "templates"
_MD_SPECIAL = re.compile(r"([\\`*_{}\[\]()#!|~>])")


@lru_cache(maxsize=1)
def _env() -> Environment:
    from jinja2 import Environment, FileSystemLoader, StrictUndefined

    env = Environment(loader=FileSystemLoader(str(TEMPLATES)), autoescape=True, undefined=StrictUndefined,
                      trim_blocks=True, lstrip_blocks=True)
    env.filters["facts"] = facts_of
    env.filters["when"] = lambda ts: fmt_ts(ts) if ts else "–"
    env.filters["event_label"] = event_label
    env.filters["rule_title"] = rule_title
    env.filters["health_state"] = health_state
    return env


def facts_of(flag: FlagView, verbose: bool = True) -> FlagText:
    return flag_text(Flag(flag.rule, flag.severity, flag.message, flag.evidence, flag.window), verbose=verbose)


def event_label(kind: str) -> str:
    return EVENT_LABELS.get(kind, kind.replace("_", " "))


def rule_title(rule: str) -> str:
    return RULE_TITLES.get(rule, rule.replace("_", " "))


def health_state(h: HealthRow) -> str:
    """'ok', 'stale', 'dark (banned)', 'dark (failing)': a refused venue never reads as fine."""
    state = h.status or ("failing" if h.dark else "stale" if h.stale else "ok")
    return f"dark ({state})" if h.dark or state in BLOCKED else state


def md_escape(text: Any) -> str:
    """Markdown-safe text: markup characters backslash-escaped, HTML special characters as entities."""
    out = str(text).replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    out = _MD_SPECIAL.sub(r"\\\1", out)
    return out.replace("\n", " ").replace("\t", " ")


# ---------------------------------------------------------------- report


def to_dict(data: ReportData) -> dict[str, Any]:
    tokens = []
    for t in data.tokens:
        item = asdict(t)
        item.pop("series", None)
        tokens.append(item)
    return {"schema_version": data.schema_version, "generated_at": data.generated_at, "at": data.at,
            "data_until": data.data_until, "tokens": tokens, "health": [asdict(h) for h in data.health]}


def render_json(data: ReportData) -> str:
    return json.dumps(to_dict(data), indent=2, ensure_ascii=False, allow_nan=False) + "\n"


def render_html(data: ReportData, charts: dict[int, str] | None = None) -> str:
    """One self-contained page; ``charts`` maps token rank -> image URL (data URI)."""
    return _env().get_template("report.html.j2").render(data=data, charts=charts or {})


def render_markdown(data: ReportData) -> str:
    e = md_escape
    out = ["# divmon report", "",
           f"Generated {e(data.generated_at or '–')}; data until {e(data.data_until or '–')}"
           + (f"; as of {e(data.at)}" if data.at else "") + ".", "",
           "| # | token | label | score | confidence | flags |", "|---|---|---|---|---|---|"]
    for t in data.tokens:
        out.append(f"| {t.rank} | {e(t.token)} | {e(t.label)} | {t.score:.0f} | {t.confidence:.2f} | {len(t.flags)} |")
    for t in data.tokens:
        out += ["", f"## {t.rank}. {e(t.token)} — {e(t.label)} (score {t.score:.0f}, confidence {t.confidence:.2f})", ""]
        if t.explanation:
            out += ["**Why**", ""] + [f"- {e(line.strip())}" for line in t.explanation] + [""]
        out += ["**Flags**", ""]
        for f in t.flags:
            text = facts_of(f, verbose=False)
            out.append(f"- **{e(f.severity)}** {e(rule_title(f.rule))}: {e(text.title)}")
            if text.facts:
                out.append("  " + " · ".join(f"{e(x.label)} {e(x.value)}" for x in text.facts))
        if not t.flags:
            out.append("- no flags")
        if t.events:
            out += ["", "**Events**", "", "| time | event | chain | address | tx |", "|---|---|---|---|---|"]
            for ev in t.events:
                out.append(f"| {e(fmt_ts(ev.ts) if ev.ts else '–')} | {e(event_label(ev.kind))} | {e(ev.chain)} "
                           f"| {e(ev.address or '–')} | {e(ev.tx_hash)} |")
        if t.data_as_of:
            out += ["", "Data as of: " + ", ".join(f"{e(k)} {e(v)}" for k, v in t.data_as_of.items())]
    out += ["", "## Data health", "",
            "| source | state | last ok | latest data | polls | failures | 429/418 | last error |",
            "|---|---|---|---|---|---|---|---|"]
    for h in data.health:
        out.append(f"| {e(h.source)} | {e(health_state(h))} | {e(h.last_ok or '–')} | {e(h.last_ts or '–')} "
                   f"| {h.polls} | {h.failures} | {h.throttled} | {e(h.last_error or '–')} |")
    return "\n".join(out) + "\n"


def render_text(data: ReportData) -> str:
    out = [f"divmon report — data until {data.data_until or '–'}"]
    for t in data.tokens:
        out.append(f"{t.rank:>3}. {t.token:<12} {t.label:<18} score {t.score:5.1f}  conf {t.confidence:.2f}"
                   f"  flags {len(t.flags)}")
        for f in t.flags:
            text = facts_of(f, verbose=False)
            out.append(f"       [{f.severity}] {rule_title(f.rule)}: {text.title}")
            if text.facts:
                out.append("           " + " · ".join(f"{x.label} {x.value}" for x in text.facts))
    return "\n".join(out) + "\n"
