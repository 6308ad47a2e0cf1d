"""`divmon serve` on the demo database, driven in headless Chromium through Selenium (Debian's chromium and
chromium-driver; nothing is downloaded). The ranking filters, the token page's charts draw real data, a
token named with markup stays text, a new poll shows up without a reload, and every request the page
makes goes to 127.0.0.1. Screenshots are kept in the test's tmp folder."""

from __future__ import annotations

import datetime as dt
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import quote

import pytest

from tests.cli.runner import CLI, ROOT, SECRET_VARS, divmon, offline_config, write_config
from tests.integration.outputs.helpers import free_port

HOSTILE = "<IMG SRC=X ONERROR=ALERT(1)>"  # fault row R1; unconfigured symbols are judged upper-cased
DRIVER = shutil.which("chromedriver")
BROWSER = shutil.which("chromium") or shutil.which("chromium-browser")

pytestmark = pytest.mark.skipif(not (DRIVER and BROWSER), reason="no chromium + chromium-driver installed "
                                                                  "(apt-get install chromium chromium-driver)")
webdriver = pytest.importorskip("selenium.webdriver", reason="selenium is in the `test` extra")
pytest.importorskip("starlette", reason="the `serve` extra (starlette, uvicorn) is not installed")


def _environ() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in SECRET_VARS}
    env["PYTHONPATH"] = str(ROOT)
    return env


def _add_hostile_token(db: Path, at: dt.datetime) -> None:
    """Points and an event under a token whose name is markup, as an upstream could hand it over."""
    import pandas as pd

    from monitor.model import Event
    from monitor.store import Store

    store = Store(f"sqlite:///{db}")
    idx = pd.date_range(end=at, periods=72, freq="1h", tz="UTC")
    store.upsert_observations(pd.DataFrame({"ts": idx, "source": "binance", "token": HOSTILE, "metric": "oi_usd",
                                            "value": [1e6 + 1e4 * i for i in range(72)]}))
    store.upsert_events([Event(at - dt.timedelta(hours=5), HOSTILE, "ethereum", "proxy_upgraded", "0x" + "11" * 20,
                               "0x" + "22" * 32, 0, detail={"note": "<script>alert(2)</script>"}, source="chain")])
    store.close()


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Path, str]]:
    """`divmon demo` builds the database; `divmon serve` answers over it; yields (base URL, db, as_of)."""
    work = tmp_path_factory.mktemp("serve-demo")
    built = divmon("demo", "--dir", str(work / "demo"), "--json", timeout=300)
    assert built.returncode == 0, built.stderr[-2000:]
    as_of = json.loads(built.stdout)["as_of"]
    db = work / "demo" / "demo.db"
    _add_hostile_token(db, dt.datetime.fromisoformat(as_of.replace("Z", "+00:00")))
    cfg = write_config(work / "config.yaml", offline_config())  # no tokens listed: every token in the store
    port = free_port()
    proc = subprocess.Popen([sys.executable, "-c", CLI, "-c", str(cfg), "--db", f"sqlite:///{db}", "serve",
                             "--port", str(port), "--at", as_of], cwd=ROOT, env=_environ(),
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    base = f"http://127.0.0.1:{port}"
    try:
        import requests

        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and proc.poll() is None:
            try:
                if requests.get(base + "/api/status", timeout=5).ok:
                    break
            except requests.ConnectionError:
                time.sleep(0.2)
        assert proc.poll() is None, proc.stderr.read()
        yield base, db, as_of
    finally:
        proc.send_signal(signal.SIGINT)
        proc.communicate(timeout=30)


@pytest.fixture
def browser(tmp_path: Path) -> Iterator[object]:
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = BROWSER
    for arg in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--no-first-run",
                "--disable-background-networking", "--disable-extensions", "--window-size=1280,1600",
                "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1", f"--user-data-dir={tmp_path / 'profile'}"):
        options.add_argument(arg)
    options.set_capability("goog:loggingPrefs", {"performance": "ALL"})
    driver = webdriver.Chrome(service=Service(executable_path=DRIVER), options=options)
    driver.set_page_load_timeout(60)
    try:
        yield driver
    finally:
        driver.quit()


def _requests_made(driver) -> list[str]:
    """Network requests (http, https, ws) since the last call; the browser's own chrome:// pages are not."""
    urls = []
    for entry in driver.get_log("performance"):
        msg = json.loads(entry["message"])["message"]
        if msg["method"] == "Network.requestWillBeSent":
            url = msg["params"]["request"]["url"]
            if url.split(":", 1)[0] in ("http", "https", "ws", "wss", "ftp"):
                urls.append(url)
    return urls


def _wait(driver, script: str, timeout: float = 30):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = driver.execute_script(script)
        if value:
            return value
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for: {script}")


def _visible_tokens(driver) -> list[str]:
    return driver.execute_script(
        "return Array.from(document.querySelectorAll('#ranking-body tr[data-token]'))"
        ".filter(tr => !tr.hidden).map(tr => tr.dataset.token)")


def test_ranking_filters_and_sorts_and_shows_a_hostile_name_as_text(demo, browser, tmp_path):
    from selenium.common.exceptions import NoAlertPresentException
    from selenium.webdriver.support.ui import Select

    base, _, _ = demo
    browser.get(base + "/")
    everyone = _visible_tokens(browser)
    assert {"SURGE", "ORGANIC", "DARK", "SPLIT", HOSTILE} <= set(everyone)
    rows = browser.execute_script("return Array.from(document.querySelectorAll('#ranking-body tr[data-token]'))"
                                  ".map(tr => [tr.dataset.token, tr.dataset.label, tr.dataset.severity])")
    labels = {token: label for token, label, _ in rows}

    Select(browser.find_element("id", "filter-label")).select_by_value("adoption")
    shown = _visible_tokens(browser)
    assert shown and set(shown) == {t for t, label in labels.items() if label == "adoption"} != set(everyone)
    Select(browser.find_element("id", "filter-label")).select_by_value("")
    Select(browser.find_element("id", "filter-severity")).select_by_value("high")
    shown = _visible_tokens(browser)
    assert shown and set(shown) == {t for t, _, sev in rows if sev in ("high", "critical")} != set(everyone)
    Select(browser.find_element("id", "filter-severity")).select_by_value("")
    browser.find_element("id", "filter-text").send_keys("org")
    assert _visible_tokens(browser) == ["ORGANIC"]
    browser.find_element("id", "filter-text").clear()
    browser.execute_script("document.getElementById('filter-text').dispatchEvent(new Event('input'))")

    browser.find_elements("css selector", "#ranking thead th")[1].click()  # by token name, A to Z
    ordered = _visible_tokens(browser)
    assert ordered == sorted(ordered, key=str.upper) and len(ordered) == len(everyone)

    assert browser.find_elements("tag name", "img") == []
    assert HOSTILE in browser.find_element("id", "ranking-body").text
    with pytest.raises(NoAlertPresentException):
        browser.switch_to.alert.text  # noqa: B018 - nothing ran
    browser.save_screenshot(str(tmp_path / "ranking.png"))

    browser.get(base + "/tokens/" + quote(HOSTILE, safe=""))
    assert browser.find_element("id", "token-name").text == HOSTILE
    assert "<script>alert(2)</script>" in browser.find_element("id", "events").text
    assert browser.find_elements("tag name", "img") == []
    with pytest.raises(NoAlertPresentException):
        browser.switch_to.alert.text  # noqa: B018
    made = _requests_made(browser)
    assert made and [u for u in made if not u.startswith(base + "/")] == []


def test_token_page_draws_its_charts_from_the_stored_history(demo, browser, tmp_path):
    base, _, _ = demo
    browser.get(base + "/tokens/SURGE")
    drawn = _wait(browser, "return document.getElementById('charts').dataset.drawn")
    assert drawn == "7"
    charts = browser.execute_script("""
        return Array.from(document.querySelectorAll('#charts figure')).map(function (f) {
          var c = f.querySelector('canvas'), inked = 0;
          if (c) {
            var d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
            for (var i = 3; i < d.length; i += 4 * 7) { if (d[i] > 0) { inked++; } }
          }
          return {id: f.id, points: parseInt(f.dataset.points, 10), canvas: !!c, inked: inked};
        });""")
    by_id = {c["id"]: c for c in charts}
    for name in ("chart-oi", "chart-funding", "chart-longshort", "chart-rsi", "chart-liq"):
        assert by_id[name]["canvas"] and by_id[name]["points"] > 100 and by_id[name]["inked"] > 500, by_id[name]
    legend = browser.find_element("id", "chart-funding").text
    assert ("binance" in legend and "cap" in legend) or "binance" in legend
    assert "RSI(14) with 70 / 80 / 90" in browser.find_element("id", "chart-rsi").text

    # zoom: a drag on the OI chart narrows every chart's x range together
    full = browser.execute_script("return window.divmonCharts.map(p => [p.scales.x.min, p.scales.x.max])")
    over = browser.find_element("css selector", "#chart-oi .u-over")
    from selenium.webdriver.common.action_chains import ActionChains

    ActionChains(browser).move_to_element_with_offset(over, -200, 0).click_and_hold().move_by_offset(150, 0) \
        .release().perform()
    zoomed = browser.execute_script("return window.divmonCharts.map(p => [p.scales.x.min, p.scales.x.max])")
    assert len({tuple(z) for z in zoomed}) == 1, zoomed  # every chart shows the same span
    assert zoomed[0][1] - zoomed[0][0] < 0.5 * (full[0][1] - full[0][0])
    ActionChains(browser).double_click(over).perform()
    assert browser.execute_script("return [window.divmonCharts[0].scales.x.min, window.divmonCharts[0].scales.x.max]"
                                  ) == full[0]
    browser.save_screenshot(str(tmp_path / "token.png"))
    made = _requests_made(browser)
    assert made and [u for u in made if not u.startswith(base + "/")] == []


def test_a_new_poll_shows_up_without_a_full_reload(demo, browser):
    import pandas as pd

    from monitor.store import Store

    base, db, as_of = demo
    browser.get(base + "/")
    browser.execute_script("window.notReloaded = true")
    assert "FRESH" not in _visible_tokens(browser)
    store = Store(f"sqlite:///{db}")
    at = pd.Timestamp(as_of)
    store.upsert_observations(pd.DataFrame({"ts": pd.date_range(end=at, periods=24, freq="1h"), "source": "okx",
                                            "token": "FRESH", "metric": "oi_usd", "value": 5e6}))
    store.close()
    browser.execute_script("window.divmonLive.check()")  # what the page's timer does every 15 s
    _wait(browser, "return document.querySelector('#ranking-body tr[data-token=\"FRESH\"]')")
    assert browser.execute_script("return window.notReloaded") is True
    assert "updated" in browser.find_element("id", "live-state").text
