"""The digest's HTML part rendered in headless Chromium at a mail client's width: no sideways scroll at
700 px (nor at 600), every chart loaded, no raw JSON, the verdict and the flags' reasons on screen.
The screenshots stay in the test's tmp folder."""

from __future__ import annotations

import base64
import datetime as dt

from monitor.jobs.outputs import digest_job
from monitor.model import Verdict
from tests.integration.outputs.helpers import T0, SmtpServer, fire, make_app, seed_series


def _digest_html(tmp_path):
    """The HTML part as a mail client shows it: each cid: image resolved to its attached PNG."""
    with SmtpServer() as srv:
        app = make_app(f"sqlite:///{tmp_path / 'divmon.db'}", tmp_path, srv.port,
                       report={"url": "https://reports.example.org/divmon/"})
        for token in ("AIA", "BBB"):
            seed_series(app, token)
        fire(app, "AIA", "oi_surge_unsupported", "crowded_longs", severity="critical", at=T0 - dt.timedelta(hours=2))
        fire(app, "W" * 64, "perp_spot_ratio", severity="warn", at=T0 - dt.timedelta(hours=1))
        fire(app, "BBB", "liquidation_spike", severity="high", at=T0 - dt.timedelta(hours=1))
        verdict = Verdict(token="AIA", label="speculation", score=95.0, confidence=0.9, flags=(), as_of=T0)
        assert digest_job(app, send=True, verdicts=[verdict])[0].status == "sent"
        [msg] = srv.handler.parsed()
    html = msg.get_body(("html",)).get_content()
    for part in msg.walk():
        if part.get_content_type() == "image/png":
            cid = part["Content-ID"].strip("<>")
            html = html.replace(f"cid:{cid}", "data:image/png;base64," + base64.b64encode(part.get_content()).decode())
    path = tmp_path / "digest.html"
    path.write_text(html, encoding="utf-8")
    return path


def test_digest_html_fits_a_mail_column_in_a_real_browser(tmp_path, screenshot):
    path = _digest_html(tmp_path)
    for width in (700, 600):
        png, info = screenshot(path, width)
        assert info["scroll_width"] <= info["client_width"] <= width, (width, info["scroll_width"])
        assert png.stat().st_size > 10_000
    assert len(info["images"]) == 2
    assert all(i["complete"] and i["natural_width"] > 0 and i["width"] > 0 and i["height"] > 0
               for i in info["images"])
    text = info["text"]
    assert '{"' not in text and "oi_growth_pct" not in text
    assert "AIA → speculation (critical)" in text  # the verdict, in the headline
    assert "unsupported fired for AIA" in text  # the flag's own message, through the formatter
    assert "OI growth" in text and "+412%" in text  # the reason, as labelled facts
    assert "Open the full report" in text
