"""`divmon serve`: pages and the series API answered by the real server over a real SQLite store.

Targets (issue 16), on 2 cores, median of 5 requests over loopback after the first judgement:
- the ranking page for 1,000 tokens (quick: 100) answers within 300 ms;
- a token page whose token holds a year of hourly data (11 series) answers within 300 ms;
- the series API streams a year of hourly data for one metric (8,760 points) within 200 ms, as JSON
  and as CSV.
Verdicts are judged once per change of the data and kept (monitor.serve.dashboard), so the first
request after new data pays for judging every token; that time is shown in the ranking row's note.
The charts endpoint of the year-long token (every chart series at once) is reported without a target.
"""

from __future__ import annotations

import datetime as dt
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from bench.harness import at_most, median_time, ratio_of, row

PAGE_LIMIT_S = 0.300
SERIES_LIMIT_S = 0.200
END = dt.datetime(2026, 11, 27, tzinfo=dt.UTC)
YEAR = 24 * 365
SERIES = (("oi_usd", "binance"), ("oi_usd", "okx"), ("tvl_usd", "defillama"), ("active_addresses", "dune"),
          ("dev_commits", "github"), ("funding_rate_8h", "binance"), ("funding_rate_8h", "okx"),
          ("long_short_account_ratio", "binance"), ("price_close_1h", "binance"), ("liq_long_usd", "okx"),
          ("liq_short_usd", "okx"))


def _seed(store: Any, n: int) -> None:
    rng = np.random.default_rng(16)
    frames = []
    idx = pd.date_range(end=END, periods=YEAR, freq="1h", tz="UTC")
    for metric, source in SERIES:  # one token with a year of every chart series
        values = np.abs(np.cumsum(rng.normal(0, 1, YEAR))) + 10
        frames.append(pd.DataFrame({"ts": idx, "source": source, "token": "YEAR", "metric": metric, "value": values}))
    short = pd.date_range(end=END, periods=72, freq="1h", tz="UTC")
    for i in range(n - 1):  # the rest: three days of OI, funding and price each
        for metric, source in (("oi_usd", "binance"), ("funding_rate_8h", "binance"), ("price_close_1h", "binance")):
            values = np.abs(np.cumsum(rng.normal(0, 1, len(short)))) + 10
            frames.append(pd.DataFrame({"ts": short, "source": source, "token": f"T{i:04d}", "metric": metric,
                                        "value": values}))
    store.upsert_observations(pd.concat(frames, ignore_index=True))


def run(quick: bool) -> list[dict[str, Any]]:
    import requests

    from monitor.app import App
    from monitor.config import SOURCE_DEFAULTS, Secrets, parse_config
    from monitor.serve.server import dashboard_for, start_in_thread
    from monitor.store import Store

    n = 100 if quick else 1000
    with tempfile.TemporaryDirectory() as tmp:
        url = f"sqlite:///{Path(tmp) / 'bench.db'}"
        config = parse_config({"storage": {"url": url}, "sources": {s: {"enabled": False} for s in SOURCE_DEFAULTS}})
        writer = Store(url)
        _seed(writer, n)
        writer.close()
        board = dashboard_for(App(config, secrets=Secrets({}), now=lambda: END), END)
        with __import__("socket").socket() as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        server, thread = start_in_thread(board, "127.0.0.1", port)
        while not server.started:
            time.sleep(0.02)
        base, http = f"http://127.0.0.1:{port}", requests.Session()

        def get(path: str) -> None:
            resp = http.get(base + path, timeout=600)
            resp.raise_for_status()
            _ = resp.content

        try:
            start = time.perf_counter()
            get("/")  # judges every token once
            first = time.perf_counter() - start
            t_rank = median_time(lambda: get("/"), 5)
            t_token = median_time(lambda: get("/tokens/YEAR"), 5)
            one = "/api/tokens/YEAR/series?metric=oi_usd&source=binance"
            t_json = median_time(lambda: get(one), 5)
            t_csv = median_time(lambda: get(one + "&format=csv"), 5)
            t_charts = median_time(lambda: get("/api/tokens/YEAR/charts"), 3)
            points = len(http.get(base + one, timeout=60).json()["series"][0]["ts"])
        finally:
            server.should_exit = True
            thread.join(10)
            board.app.store.close()
    rows = [
        row(f"ranking page, {n} tokens", t_rank.median, unit="s", target="≤ 300 ms", reference=PAGE_LIMIT_S,
            ratio=ratio_of(t_rank.median, PAGE_LIMIT_S), passed=at_most(ratio_of(t_rank.median, PAGE_LIMIT_S), 1.0),
            note=f"first request judged all {n} tokens in {first:.1f} s; {t_rank.describe()}"),
        row("token page, a year of hourly data (11 series)", t_token.median, unit="s", target="≤ 300 ms",
            reference=PAGE_LIMIT_S, ratio=ratio_of(t_token.median, PAGE_LIMIT_S),
            passed=at_most(ratio_of(t_token.median, PAGE_LIMIT_S), 1.0), note=t_token.describe()),
    ]
    for label, t in (("JSON", t_json), ("CSV", t_csv)):
        rows.append(row(f"series API {label}, one metric, a year hourly ({points} points)", t.median, unit="s",
                        target="≤ 200 ms", reference=SERIES_LIMIT_S, ratio=ratio_of(t.median, SERIES_LIMIT_S),
                        passed=at_most(ratio_of(t.median, SERIES_LIMIT_S), 1.0), note=t.describe()))
    rows.append(row("charts API, a year of every chart series (no target)", t_charts.median, unit="s",
                    note=t_charts.describe()))
    return rows
