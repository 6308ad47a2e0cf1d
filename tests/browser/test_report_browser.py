"""The HTML report as a person sees it in a real browser (headless Chromium): charts loaded, verdicts
with their reasons, no raw JSON in any table. The screenshot stays in the test's tmp folder."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
MAIN = "import sys; from monitor.cli import main; sys.exit(main(sys.argv[1:]))"


def test_demo_report_reads_in_a_browser(screenshot, tmp_path):
    out = tmp_path / "demo"
    done = subprocess.run([sys.executable, "-c", MAIN, "demo", "--dir", str(out)], capture_output=True, text=True,
                          cwd=ROOT, timeout=300)
    html = out / "divmon-report.html"
    assert html.exists(), done.stdout + done.stderr
    doc = json.loads((out / "divmon-report.json").read_text())

    png, page = screenshot(html, 1000)
    assert png.stat().st_size > 10_000
    images = page["images"]
    assert images and len(images) >= sum(1 for t in doc["tokens"] if t["label"] != "insufficient data") - 0
    for img in images:
        assert img["complete"] and img["natural_width"] >= 960 and img["natural_height"] > 0, img
        assert img["width"] > 0 and img["height"] > 0, img
    for cells in page["tables"]:
        for cell in cells:
            assert '{"' not in cell and "{'" not in cell, cell
    text = page["text"]
    assert page["scroll_width"] <= page["client_width"], "the report scrolls sideways"
    for token in doc["tokens"]:
        assert f"{token['token']} — {token['label']}" in text
        for line in token["explanation"]:  # the label's why, reasons included, in human words
            assert line.strip() in text, line
        assert len(token["explanation"]) >= 1 + len(token["reasons"]) or not token["reasons"]
