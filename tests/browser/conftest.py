"""Headless Chromium for tests that assert what a person sees in an HTML output.

The ``screenshot`` fixture returns ``screenshot(html_path, width) -> (png_path, dom_info)``: a PNG of
the whole page at ``width`` CSS pixels, kept in the test's tmp folder (and copied into $DIVMON_SCREENSHOT_DIR when set), and what the page laid out:

    {"scroll_width", "client_width", "scroll_height": int,
     "images": [{"src": first 40 chars, "complete": bool, "natural_width", "natural_height", "width", "height"}],
     "svgs": [{"width", "height"}], "text": body innerText, "tables": [[cell text, ...] per table]}

Tests skip with a reason where no Chromium is installed (CI installs Debian's ``chromium``). The
browser resolves no host names, so a page cannot reach beyond the file it was given.
"""

from __future__ import annotations

import html
import json
import os
import re
import shutil
import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest

BROWSERS = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")
PROBE_ID = "divmon-test-probe"
# Runs after load; writes the layout facts into a hidden element that --dump-dom prints.
PROBE = """
<script>
window.addEventListener("load", function () {
  var imgs = Array.prototype.map.call(document.images, function (i) {
    var r = i.getBoundingClientRect();
    return {src: (i.getAttribute("src") || "").slice(0, 40), complete: i.complete,
            natural_width: i.naturalWidth, natural_height: i.naturalHeight, width: r.width, height: r.height};
  });
  var svgs = Array.prototype.map.call(document.querySelectorAll("body svg"), function (s) {
    var r = s.getBoundingClientRect(); return {width: r.width, height: r.height};
  });
  var tables = Array.prototype.map.call(document.querySelectorAll("table"), function (t) {
    return Array.prototype.map.call(t.querySelectorAll("th, td"), function (c) { return c.innerText; });
  });
  var info = {scroll_width: document.documentElement.scrollWidth, client_width: document.documentElement.clientWidth,
              scroll_height: document.documentElement.scrollHeight, images: imgs, svgs: svgs,
              text: document.body.innerText, tables: tables};
  var out = document.createElement("pre"); out.id = "%s"; out.style.display = "none";
  out.textContent = JSON.stringify(info); document.body.appendChild(out);
});
</script>
""" % PROBE_ID  # noqa: UP031 - the script's braces rule out str.format


def find_browser() -> str | None:
    for name in BROWSERS:
        path = shutil.which(name)
        if path:
            return path
    return None


def _run(browser: str, profile: Path, *args: str, timeout: float = 90) -> subprocess.CompletedProcess:
    cmd = [browser, "--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
           "--hide-scrollbars", "--no-first-run", "--disable-background-networking", "--disable-extensions",
           "--host-resolver-rules=MAP * ~NOTFOUND", f"--user-data-dir={profile}", "--virtual-time-budget=5000",
           *args]
    env = {**os.environ, "HOME": str(profile)}
    return subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, env=env, check=False)


@pytest.fixture
def screenshot(tmp_path: Path, request: pytest.FixtureRequest) -> Callable[[Path, int], tuple[Path, dict]]:
    browser = find_browser()
    if browser is None:
        pytest.skip("no Chromium installed (apt-get install chromium; .ci/run installs it)")
    profile = tmp_path / "chromium-profile"
    profile.mkdir()

    def take(html_path: Path, width: int) -> tuple[Path, dict]:
        html_path = Path(html_path)
        probed = tmp_path / f"{html_path.stem}.probe.html"
        text = html_path.read_text(encoding="utf-8")
        # the page's own Content-Security-Policy forbids scripts: let the probe (only) run
        text = re.sub(r"(Content-Security-Policy\"\s+content=\")", r"\1script-src 'unsafe-inline'; ", text, count=1)
        cut = text.lower().rfind("</body>")
        probed.write_text(text[:cut] + PROBE + text[cut:] if cut >= 0 else text + PROBE, encoding="utf-8")
        url = probed.resolve().as_uri()
        done = _run(browser, profile, f"--window-size={width},900", "--dump-dom", url)
        start = done.stdout.find(f'id="{PROBE_ID}"')
        assert start >= 0, f"page did not finish loading in Chromium: {done.stderr[-2000:]}"
        body = done.stdout[done.stdout.index(">", start) + 1: done.stdout.index("</pre>", start)]
        info = json.loads(html.unescape(body))
        height = max(600, min(int(info["scroll_height"]), 16000))
        png = tmp_path / f"{html_path.stem}-{width}px.png"
        shot = _run(browser, profile, f"--window-size={width},{height}", f"--screenshot={png}", url)
        assert png.exists() and png.stat().st_size > 0, f"no screenshot: {shot.stderr[-2000:]}"
        keep = os.environ.get("DIVMON_SCREENSHOT_DIR")  # pytest prunes old tmp folders; CI can keep these
        if keep:
            Path(keep).mkdir(parents=True, exist_ok=True)
            shutil.copy2(png, Path(keep) / f"{request.node.name}-{png.name}")
        return png, info

    return take
