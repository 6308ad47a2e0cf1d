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
import sys
from datetime import datetime
from typing import Any

from monitor.errors import EXIT_CRITICAL, EXIT_OK, EXIT_UNKNOWN, EXIT_WARNING
from monitor.model import SEVERITY_ORDER, Verdict

STATUS = {EXIT_OK: "OK", EXIT_WARNING: "WARNING", EXIT_CRITICAL: "CRITICAL", EXIT_UNKNOWN: "UNKNOWN"}
JSON_VERSION = 1


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
    from monitor.timeutil import to_utc

    at = None
    if args.at:
        try:
            at = to_utc(args.at)
        except ValueError:
            print(f"divmon: error: --at {args.at!r} is not an ISO-8601 time or epoch", file=sys.stderr)
            return 64
    app = load_app(args)
    try:
        verdict = check(args.token, app=app, poll=not args.no_poll, at=at)
    finally:
        app.close()
    code = exit_code(verdict)
    if args.json:
        print(json.dumps(to_json(verdict, code), indent=2, sort_keys=False, allow_nan=False))
    else:
        print(render_text(verdict, code))
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


def render_text(verdict: Verdict, code: int | None = None) -> str:
    code = exit_code(verdict) if code is None else code
    lines = [
        f"{verdict.token}: {verdict.label.upper()}  score {verdict.score:.0f}/100  confidence {verdict.confidence:.2f}"
        f"  [{STATUS[code]}]",
        f"as of {_iso(verdict.as_of)}",
    ]
    for reason in verdict.reasons:
        lines.append(f"  ! {reason}")
    lines.append("")
    if verdict.flags:
        lines.append("flags:")
        for f in verdict.flags:
            extra = " (confirmed on two windows)" if f.confirmed else ""
            lines.append(f"  [{f.severity:<8}] {f.rule} {f.window}: {f.message}{extra}")
            for key, value in _flat(f.evidence):
                lines.append(f"      {key} = {value}")
    else:
        lines.append("flags: none")
    lines.append("")
    lines.append("data freshness:")
    for h in verdict.health:
        last = _iso(h.last_ts) or "never"
        lines.append(f"  {h.source:<12} {h.status or ('dark' if h.dark else 'ok'):<10} last {last}  {h.detail}")
    return "\n".join(lines)


def _flat(evidence: dict[str, Any], prefix: str = "") -> list[tuple[str, str]]:
    out = []
    for key, value in evidence.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict) and value and len(out) < 40:
            out.extend(_flat(value, name + "."))
        else:
            text = json.dumps(_clean(value), default=str)
            out.append((name, text if len(text) <= 160 else text[:157] + "..."))
    return out


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
