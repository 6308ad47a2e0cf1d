"""`divmon check TOKEN`: poll (unless --no-poll), judge, print the verdict; exit code by severity.

Exit codes (monitoring-plugin convention):
  3 UNKNOWN   label "insufficient data"
  2 CRITICAL  label "speculation", or any flag of severity critical
  1 WARNING   any flag of severity warn or high, or data degraded (dark or disagreeing sources)
  0 OK        otherwise (adoption or mixed with info flags only)
"""

from __future__ import annotations

import argparse
import json
import math
import os
import re
import sys
import textwrap
from datetime import datetime
from typing import Any

from monitor.errors import EXIT_CRITICAL, EXIT_OK, EXIT_UNKNOWN, EXIT_WARNING
from monitor.model import SEVERITY_ORDER, Verdict

STATUS = {EXIT_OK: "OK", EXIT_WARNING: "WARNING", EXIT_CRITICAL: "CRITICAL", EXIT_UNKNOWN: "UNKNOWN"}
JSON_VERSION = 1
ANSI = re.compile(r"\x1b\[[0-9;]*m")


def exit_code(verdict: Verdict) -> int:
    if verdict.label == "insufficient data":
        return EXIT_UNKNOWN
    worst = max((SEVERITY_ORDER.get(f.severity, 0) for f in verdict.flags), default=-1)
    if verdict.label == "speculation" or worst >= SEVERITY_ORDER["critical"]:
        return EXIT_CRITICAL
    if worst >= SEVERITY_ORDER["warn"] or verdict.degraded:
        return EXIT_WARNING
    return EXIT_OK


def run(args: argparse.Namespace) -> int:
    from monitor.app import check
    from monitor.cli.common import load_app

    at = args.at  # already a UTC datetime (monitor.cli.utc_time); a bad one is a usage error
    if at is not None and not args.no_poll and not args.quiet:
        print(f"divmon: --at judges the data stored as of {at:%Y-%m-%dT%H:%M:%SZ}; nothing is polled", file=sys.stderr)
    app = load_app(args)
    try:
        verdict = check(args.token, app=app, poll=not args.no_poll, at=at)
    finally:
        app.close()
    code = exit_code(verdict)
    if args.json:
        print(json.dumps(to_json(verdict, code), indent=2, sort_keys=False, allow_nan=False))
    elif getattr(args, "nagios", False):
        vcfg = app.config.verdict
        print(render_nagios(verdict, code, warn=vcfg.adoption_score, crit=vcfg.speculation_score))
    else:
        verbose = bool(getattr(args, "verbose", 0) or getattr(args, "verbose_after", 0))
        print(render_text(verdict, code, verbose=verbose, colour=use_colour()))
    return code


def to_json(verdict: Verdict, code: int | None = None) -> dict[str, Any]:
    """Stable keys for scripts; times ISO-8601 UTC, NaN as null."""
    code = exit_code(verdict) if code is None else code
    return {
        "version": JSON_VERSION,
        "token": verdict.token,
        "status": STATUS[code],
        "exit_code": code,
        "label": verdict.label,
        "score": verdict.score,
        "confidence": verdict.confidence,
        "as_of": _iso(verdict.as_of),
        "degraded": verdict.degraded,
        "reasons": list(verdict.reasons),
        "flags": [
            {"rule": f.rule, "severity": f.severity, "message": f.message, "window": f.window,
             "confirmed": f.confirmed, "lowers_confidence": f.lowers_confidence, "evidence": _clean(f.evidence)}
            for f in verdict.flags
        ],
        "health": [
            {"source": h.source, "status": h.status, "last_ts": _iso(h.last_ts), "last_ok": _iso(h.last_ok),
             "age_s": h.age_s, "poll_interval_s": h.poll_interval_s, "failures": h.failures,
             "throttled": h.throttled, "stale": h.stale, "dark": h.dark, "detail": h.detail}
            for h in verdict.health
        ],
        "data_as_of": dict(verdict.data_as_of),
        "score_breakdown": _clean(verdict.evidence),
    }


SEVERITY_COLOUR = {"critical": "1;31", "high": "31", "warn": "33", "info": "36"}
STATUS_COLOUR = {"OK": "32", "WARNING": "33", "CRITICAL": "1;31", "UNKNOWN": "35"}
TOP_FLAGS = 4  # the default view: the worst few flags, each with a few facts
TOP_FACTS = 3


def use_colour(stream: Any = None) -> bool:
    """Colour only on a terminal, and never when NO_COLOR is set to anything (no-color.org)."""
    stream = sys.stdout if stream is None else stream
    return not os.environ.get("NO_COLOR") and hasattr(stream, "isatty") and stream.isatty()


def _paint(text: str, code: str | None, colour: bool) -> str:
    return f"\x1b[{code}m{text}\x1b[0m" if colour and code else text


def render_text(verdict: Verdict, code: int | None = None, *, verbose: bool = False, colour: bool = False) -> str:
    """One screen by default: verdict, why, the worst flags with a few facts, freshness in one line."""
    from monitor.evidence import flag_text, fmt_ts, verdict_explanation

    code = exit_code(verdict) if code is None else code
    status = STATUS[code]
    head = (f"{verdict.token}  {verdict.label.upper()}  score {verdict.score:.0f}/100  "
            f"confidence {verdict.confidence:.2f}  [{status}]")
    lines = [_paint(head, STATUS_COLOUR.get(status), colour), f"as of {fmt_ts(verdict.as_of)}", "", "Why:"]
    for line in verdict_explanation(verdict):
        lines += textwrap.wrap(line, 100, initial_indent="  ", subsequent_indent="      ") or [""]
    flags = list(verdict.flags)
    shown = flags if verbose else flags[:TOP_FLAGS]
    lines += ["", f"Flags ({len(flags)}):" if flags else "Flags: none"]
    for f in shown:
        text = flag_text(f, verbose=verbose)
        sev = _paint(f"{f.severity.upper():<8}", SEVERITY_COLOUR.get(f.severity), colour)
        confirmed = " (confirmed on two windows)" if f.confirmed else ""
        lines.append(f"  {sev} {_rule_title(f.rule)}: {text.title}{confirmed}")
        if verbose:
            lines += [f"           {fact.label}: {fact.value}" for fact in text.facts]
        elif text.facts:
            lines.append("           " + " · ".join(f"{x.label} {x.value}" for x in text.facts[:TOP_FACTS]))
    if len(shown) < len(flags):
        rest = flags[len(shown):]
        kinds = ", ".join(sorted({f.severity for f in rest}, key=lambda s: -SEVERITY_ORDER.get(s, 0)))
        lines.append(f"  … and {len(rest)} more ({kinds}): divmon check {verdict.token} --verbose")
    lines.append("")
    lines += _freshness(verdict, verbose)
    return "\n".join(_clip(line, verbose) for line in lines)


def _rule_title(rule: str) -> str:
    from monitor.evidence import RULE_TITLES

    return RULE_TITLES.get(rule, rule.replace("_", " "))


def _clip(line: str, verbose: bool, width: int = 118) -> str:
    if verbose or len(ANSI.sub("", line)) <= width:
        return line
    return line[: width - 1 + len(line) - len(ANSI.sub("", line))] + "…"


def _freshness(verdict: Verdict, verbose: bool) -> list[str]:
    from monitor.evidence import fmt_hours, fmt_ts

    if verbose:
        out = ["Data freshness:"]
        for h in verdict.health:
            last = fmt_ts(h.last_ts) if h.last_ts else "never"
            out.append(f"  {h.source:<12} {_state(h):<10} last {last}  {h.detail}")
        return out
    groups: dict[str, list[str]] = {}
    for h in verdict.health:
        age = f" {fmt_hours(h.age_s / 3600)}" if h.age_s is not None and _state(h) != "ok" else ""
        groups.setdefault(_state(h), []).append(h.source + age)
    parts = [f"{state} {', '.join(names)}" for state, names in sorted(groups.items(), key=lambda kv: kv[0] != "ok")]
    return ["Data: " + ("; ".join(parts) if parts else "no sources judged")]


def _state(h: Any) -> str:
    return h.status or ("dark" if h.dark else "stale" if h.stale else "ok")


def render_nagios(verdict: Verdict, code: int | None = None, *, warn: float = 30, crit: float = 60) -> str:
    """Monitoring-plugin output: one status line with performance data, then one line per flag.

    Performance data follows the plugin guidelines, label=value[UOM];[warn];[crit];[min];[max]; the
    score's warn/crit are verdict.adoption_score and verdict.speculation_score.
    """
    from monitor.evidence import flag_text

    code = exit_code(verdict) if code is None else code
    perf = [f"score={_perf_num(verdict.score)};{_perf_num(warn)};{_perf_num(crit)};0;100",
            f"confidence={verdict.confidence:.2f};;;0;1"]
    oi = verdict.evidence.get("oi_usd") if isinstance(verdict.evidence, dict) else None
    if isinstance(oi, (int, float)) and not isinstance(oi, bool) and math.isfinite(oi):
        perf.append(f"oi_usd={_perf_num(oi)};;;0")
    perf.append(f"flags={len(verdict.flags)};;;0")
    perf.append(f"dark_sources={sum(1 for h in verdict.health if h.dark)};;;0")
    head = (f"DIVMON {STATUS[code]} - {_one_line(verdict.token)} {verdict.label} "
            f"(score {verdict.score:.0f}, confidence {verdict.confidence:.2f}) | {' '.join(perf)}")
    lines = [head]
    for f in verdict.flags:
        lines.append(f"{f.severity.upper()}: {_rule_title(f.rule)}: {_one_line(flag_text(f).title)}")
    return "\n".join(lines)


def _perf_num(x: float) -> str:
    return f"{x:.0f}" if float(x) == int(x) else f"{x:.4g}" if abs(x) < 1e15 else f"{x:.0f}"


def _one_line(text: str) -> str:
    """No pipe (it starts performance data) and no newline in plugin output."""
    return str(text).replace("|", "/").replace("\n", " ")


def _clean(value: Any) -> Any:
    if isinstance(value, dict):
        return {str(k): _clean(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_clean(v) for v in value]
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, datetime):
        return _iso(value)
    if hasattr(value, "item") and not isinstance(value, (str, bytes)):
        try:
            return _clean(value.item())
        except (TypeError, ValueError):
            return str(value)
    if isinstance(value, (str, int, float, bool)) or value is None:
        return value
    return str(value)


def _iso(dt: datetime | None) -> str | None:
    if dt is None:
        return None
    return dt.isoformat().replace("+00:00", "Z")
