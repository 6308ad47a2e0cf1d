"""The digest's HTML part, laid out for mail clients: one centred table at most 680 px wide, inline
styles only (clients drop <style>), long words wrapped so nothing scrolls sideways at 600-700 px.

Every value is escaped here; ``images`` maps a token to (URL, width, height) of a chart drawn at 2×,
shown at half its pixel size.
"""

from __future__ import annotations

from html import escape

from monitor.notify.digest_text import NOTES, TITLES, FlagView, subject, views, window_text
from monitor.notify.episodes import Digest

MAX_WIDTH = 680
COLOURS = {"critical": "#b3261e", "high": "#d9480f", "warn": "#b58100", "info": "#5f6b7a"}
SECTION_COLOURS = {"new": "#1f5fbf", "escalated": "#b3261e", "ongoing": "#5f6b7a", "resolved": "#2b8a3e",
                   "dark": "#343a40"}
WRAP = "overflow-wrap:anywhere;word-break:break-word;"
FONT = "font-family:Helvetica,Arial,sans-serif;"


def _badge(severity: str) -> str:
    colour = COLOURS.get(severity, COLOURS["info"])
    return (f'<span style="display:inline-block;padding:1px 6px;border-radius:3px;background:{colour};'
            f'color:#ffffff;font-size:12px;font-weight:bold;">{escape(severity)}</span>')


def _flag(v: FlagView) -> str:
    facts = "".join(f'<tr><td style="width:40%;padding:1px 8px 1px 0;color:#5f6b7a;font-size:13px;vertical-align:top;'
                    f'{WRAP}">{escape(label)}</td><td style="padding:1px 0;font-size:13px;{WRAP}">{escape(value)}'
                    "</td></tr>" for label, value in v.facts)
    table = (f'<table role="presentation" width="100%" cellpadding="0" cellspacing="0" '
             f'style="border-collapse:collapse;table-layout:fixed;">{facts}</table>') if facts else ""
    return (f'<tr><td style="padding:8px 0;border-top:1px solid #e3e6ea;{WRAP}">'
            f'<div style="font-size:15px;{WRAP}"><b>{escape(v.token)}</b> {_badge(v.severity)} {escape(v.title)}</div>'
            f'<div style="font-size:12px;color:#5f6b7a;margin:2px 0 4px;{WRAP}">{escape(v.rule)} · {escape(v.when)}</div>'
            f"{table}</td></tr>")


def render_html(digest: Digest, prefix: str, images: dict[str, tuple[str, int, int]] | None = None) -> str:
    images = images or {}
    counts = digest.sections.counts
    body = [f'<tr><td style="padding:0 0 4px;font-size:20px;font-weight:bold;{WRAP}">'
            f"{escape(subject(prefix, digest))}</td></tr>",
            f'<tr><td style="padding:0 0 8px;font-size:13px;color:#5f6b7a;{WRAP}">{escape(digest.period)}: '
            f"{escape(window_text(digest))} · "
            + " · ".join(f"{counts[k]} {escape(TITLES[k].lower())}" for k in TITLES) + "</td></tr>"]
    if digest.report_url:
        body.append(f'<tr><td style="padding:0 0 8px;font-size:14px;{WRAP}"><a href="{escape(digest.report_url)}" '
                    f'style="color:#1f5fbf;">Open the full report</a></td></tr>')
    for name, rows in views(digest):
        if not rows:
            continue
        colour = SECTION_COLOURS[name]
        body.append(f'<tr><td style="padding:14px 0 2px;font-size:16px;font-weight:bold;color:{colour};'
                    f'border-bottom:2px solid {colour};">{escape(TITLES[name])} ({len(rows)})</td></tr>')
        if name in NOTES:
            body.append(f'<tr><td style="padding:4px 0;font-size:12px;color:#5f6b7a;">{escape(NOTES[name])}</td></tr>')
        inner = "".join(_flag(v) for v in rows)
        body.append(f'<tr><td><table role="presentation" width="100%" cellpadding="0" cellspacing="0" '
                    f'style="border-collapse:collapse;table-layout:fixed;">{inner}</table></td></tr>')
    for token, (url, width, height) in images.items():
        w = min(width // 2, MAX_WIDTH - 32) if width else MAX_WIDTH - 32
        h = round(height * w / width) if width and height else 0
        size = f' width="{w}"' + (f' height="{h}"' if h else "")
        body.append(f'<tr><td style="padding:14px 0 0;font-size:14px;font-weight:bold;{WRAP}">{escape(token)}</td></tr>'
                    f'<tr><td style="padding:4px 0;"><img src="{escape(url)}"{size} alt="charts for {escape(token)}" '
                    f'style="display:block;width:100%;max-width:{w}px;height:auto;border:0;"></td></tr>')
    html_rows = "\n".join(body)
    return ("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
            '<meta name="viewport" content="width=device-width, initial-scale=1">'
            f"<title>{escape(subject(prefix, digest))}</title></head>\n"
            f'<body style="margin:0;padding:0;background:#f4f5f7;{FONT}color:#1d2125;">\n'
            '<table role="presentation" width="100%" cellpadding="0" cellspacing="0" style="border-collapse:collapse;">'
            '<tr><td align="center" style="padding:12px 8px;">\n'
            f'<table role="presentation" width="100%" cellpadding="0" cellspacing="0" style="max-width:{MAX_WIDTH}px;'
            f'width:100%;border-collapse:collapse;table-layout:fixed;background:#ffffff;">'
            f'<tr><td style="padding:16px;"><table role="presentation" width="100%" cellpadding="0" cellspacing="0" '
            f'style="border-collapse:collapse;table-layout:fixed;">\n{html_rows}\n</table></td></tr></table>\n'
            "</td></tr></table>\n</body></html>\n")


def png_size(png: bytes) -> tuple[int, int]:
    """(width, height) from a PNG's IHDR chunk; (0, 0) when it is not a PNG."""
    if png[:8] != b"\x89PNG\r\n\x1a\n" or len(png) < 24:
        return 0, 0
    return int.from_bytes(png[16:20], "big"), int.from_bytes(png[20:24], "big")
