"""The digest as a person reads it in a mail client (issue 15): plain text within 78 columns, an HTML
layout at most 680 px wide with severity colours, charts shown at half their pixels (2×), a link to the
full report when report.url is set, and evidence through the shared formatter."""

from __future__ import annotations

import datetime as dt
import re

from monitor.jobs.outputs import digest_job
from tests.htmltags import TagCollector
from tests.integration.outputs.helpers import T0, SmtpServer, fire, make_app, seed_series


def _send(tmp_path, **sections):
    with SmtpServer() as srv:
        app = make_app(f"sqlite:///{tmp_path / 'divmon.db'}", tmp_path, srv.port, **sections)
        seed_series(app, "AIA")
        fire(app, "AIA", "oi_surge_unsupported", "crowded_longs", severity="critical", at=T0 - dt.timedelta(hours=2))
        fire(app, "A" * 60, "perp_spot_ratio", severity="warn", at=T0 - dt.timedelta(hours=1))
        assert digest_job(app, send=True)[0].status == "sent"
        [msg] = srv.handler.parsed()
    return msg


def test_plain_text_fits_78_columns_and_html_fits_a_680_px_mail_column(tmp_path):
    msg = _send(tmp_path, report={"url": "https://reports.example.org/divmon/"})
    text = msg.get_body(("plain",)).get_content()
    html = msg.get_body(("html",)).get_content()
    assert max(len(line) for line in text.splitlines()) <= 78
    assert "NEW (3)" in text and "OI growth: +412%" in text
    assert "max-width:680px" in html and "<style" not in html  # inline styles: mail clients drop <style>
    parser = TagCollector()
    parser.feed(html)
    widths = [int(a["width"]) for t, a in parser.tags if t in ("img", "table", "td") and str(a.get("width", "")).isdigit()]
    assert widths and max(widths) <= 680
    assert "#b3261e" in html  # critical in red
    links = [a.get("href") for t, a in parser.tags if t == "a"]
    assert links == ["https://reports.example.org/divmon/"]
    assert "Full report: https://reports.example.org/divmon/" in text
    assert '{"' not in html and '{"' not in text


def test_charts_are_drawn_at_twice_the_size_they_are_shown(tmp_path):
    from monitor.notify.digest_html import png_size

    msg = _send(tmp_path)
    html = msg.get_body(("html",)).get_content()
    [png] = [p.get_content() for p in msg.walk() if p.get_content_type() == "image/png"]
    shown = re.search(r'<img src="cid:[^"]+" width="(\d+)"', html)
    assert shown and png_size(png)[0] >= 2 * int(shown.group(1)) - 1


def test_no_link_without_report_url(tmp_path):
    msg = _send(tmp_path)
    html = msg.get_body(("html",)).get_content()
    assert "<a " not in html and "Full report" not in msg.get_body(("plain",)).get_content()
