"""Report rendering: `divmon report --format html` for many tokens, charts included.

Target (issues 15 and 17): a 200-token HTML report with charts (30 days of hourly series, 11 series and
two labelled events per token, read from a SQLite store; charts at 120 dpi, 960 x 1680 px) renders in
≤ 150 ms per token (30 s for 200; issue 15 asks ≤ 60 s) on 2 cores, median of 3 runs (quick: 30 tokens
in one process, below CHART_PARALLEL_MIN; full: 200 with the chart workers). The reference of that row
is the budget; the note gives the main process's CPU per token (the wall time follows the machine's
load) and bytes per chart. Charts are drawn in signals.workers processes once there are enough of them
(monitor.jobs.outputs.chart_workers).
Second row, a reference measured in the same run doing the same work: our charts (one reused figure,
kept text bitmaps, palette PNG) against the same six panels, series and events drawn the first way one
would (a new figure per token with shared x, titles, legends, savefig's PNG), median of 3 runs on the
first 2 tokens (quick) or 10 (full).
"""

from __future__ import annotations

import datetime as dt
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from bench.harness import at_most, median_time, ratio_of, row

PER_TOKEN_LIMIT_MS = 150.0
END = dt.datetime(2026, 11, 27, tzinfo=dt.UTC)
SERIES = (("oi_usd", "binance"), ("oi_usd", "okx"), ("tvl_usd", "defillama"), ("active_addresses", "dune"),
          ("dev_commits", "github"), ("funding_rate_8h", "binance"), ("funding_rate_8h", "okx"),
          ("long_short_account_ratio", "binance"), ("price_close_1h", "binance"), ("liq_long_usd", "okx"),
          ("liq_short_usd", "okx"))


def _seed(store: Any, tokens: list[str], hours: int = 720) -> None:
    idx = pd.date_range(end=END, periods=hours, freq="1h", tz="UTC")
    rng = np.random.default_rng(7)
    frames = []
    for token in tokens:
        for metric, source in SERIES:
            values = np.abs(np.cumsum(rng.normal(0, 1, hours))) + 10
            frames.append(pd.DataFrame({"ts": idx, "source": source, "token": token, "metric": metric,
                                        "value": values}))
    store.upsert_observations(pd.concat(frames, ignore_index=True))
    from monitor.model import Event

    store.upsert_events([e for i, token in enumerate(tokens) for e in (  # labelled markers on every chart
        Event(END - dt.timedelta(days=5, hours=i % 24), token, "ethereum", "proxy_upgraded", f"0x{i:040x}",
              f"0x{i:064x}", 0),
        Event(END - dt.timedelta(days=2), token, "exchange", "perp_delisted", "", f"notice:binance:{token}", -1))])


def _app(tmp: Path, n: int):
    from monitor.app import App
    from monitor.config import SOURCE_DEFAULTS, Secrets, parse_config
    from monitor.model import Flag, Verdict
    from monitor.store import Store

    url = f"sqlite:///{tmp / 'bench.db'}"
    config = parse_config({"storage": {"url": url}, "report": {"out_dir": str(tmp), "chart_days": 30},
                           "sources": {name: {"enabled": False} for name in SOURCE_DEFAULTS}})
    app = App(config, store=Store(url), secrets=Secrets({}), now=lambda: END)
    tokens = [f"T{i:03d}" for i in range(n)]
    _seed(app.store, tokens)
    verdicts = [Verdict(t, "speculation", 100 - i * 0.3, 0.8,
                        (Flag("oi_surge_unsupported", "high", "OI +400% while TVL flat", {"oi_growth_pct": 400.0}),),
                        END) for i, t in enumerate(tokens)]
    return app, verdicts


def _naive_charts(report: Any) -> None:
    """The same six panels, series, events and size drawn the way a first version would: a new figure per
    token with shared x, titles and legends, and savefig's default PNG."""
    import io

    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    from monitor.report.charts import DPI, HEIGHTS, PANELS, SIZE

    for t in report.tokens:
        s = t.series
        fig = Figure(figsize=SIZE, dpi=DPI)
        FigureCanvasAgg(fig)
        axes = fig.subplots(len(PANELS), 1, sharex=True, gridspec_kw={"height_ratios": HEIGHTS})
        venues = sorted(s.oi_by_venue)
        if venues:
            wide = pd.DataFrame({v: s.oi_by_venue[v] for v in venues}).ffill()
            axes[0].stackplot(wide.index, *[wide[v].fillna(0.0).to_numpy() for v in venues], labels=venues)
        for label, series in s.normalized().items():
            axes[1].plot(series.index, series.values, label=label)
        for venue, series in s.funding.items():
            axes[2].plot(series.index, series.values * 100, label=venue)
        for venue, series in s.long_short.items():
            axes[3].plot(series.index, series.values, label=venue)
        if s.rsi is not None:
            axes[4].plot(s.rsi.index, s.rsi.values)
        for series, sign, label in ((s.liq_long, -1, "long"), (s.liq_short, 1, "short")):
            if series is not None:
                axes[5].fill_between(series.index, sign * series.values, step="post", label=label)
        for e in s.events:
            for ax in axes:
                ax.axvline(e.ts, linestyle=":")
            axes[0].text(e.ts, 0.98, e.kind, transform=axes[0].get_xaxis_transform(), rotation=90)
        for ax, title in zip(axes, PANELS, strict=True):
            ax.set_title(title)
            if ax.get_legend_handles_labels()[0]:
                ax.legend(loc="upper left")
        fig.savefig(io.BytesIO(), format="png")


def run(quick: bool) -> list[dict[str, Any]]:
    from monitor.jobs.outputs import chart_workers, make_report, render_report

    n, n_charts = (30, 2) if quick else (200, 10)
    repeat = 3
    with tempfile.TemporaryDirectory() as tmp:
        app, verdicts = _app(Path(tmp), n)
        holder: dict[str, Any] = {}

        def whole() -> None:
            cpu, start = time.process_time(), time.perf_counter()
            data = make_report(app, verdicts=verdicts)
            holder.setdefault("read", []).append(time.perf_counter() - start)  # no separate run for this part
            holder["html"] = render_report(data, "html", chart_workers(app, len(data.tokens)))
            holder["data"] = data
            holder.setdefault("cpu", []).append(time.process_time() - cpu)

        t = median_time(whole, repeat)
        data = holder["data"]
        sample = type(data)(data.generated_at, data.at, data.tokens[:n_charts], data.health,
                            data.data_until)
        t_naive = median_time(lambda: _naive_charts(sample), repeat)
        from monitor.report.charts import render_pngs

        t_reuse = median_time(lambda: render_pngs(sample.tokens), repeat)
        app.close()
    per_token = t.median * 1000 / n
    size_mb = len(holder["html"].encode()) / 1e6
    from monitor.report.charts import render_pngs as draw

    chart_kb = statistics.mean(len(png) for png in draw(sample.tokens[:2]).values()) / 1000
    ratio = ratio_of(t_reuse.median, t_naive.median)
    return [
        row(f"HTML report, {n} tokens with charts (store read + charts + template)", t.median, unit="s",
            target=f"≤ {PER_TOKEN_LIMIT_MS:g} ms per token ({PER_TOKEN_LIMIT_MS * 200 / 1000:g} s for 200)",
            reference=PER_TOKEN_LIMIT_MS * n / 1000, ratio=ratio_of(t.median, PER_TOKEN_LIMIT_MS * n / 1000),
            passed=at_most(ratio_of(t.median, PER_TOKEN_LIMIT_MS * n / 1000), 1.0),
            note=f"{per_token:.0f} ms/token wall, {statistics.median(holder['cpu']) * 1000 / n:.0f} ms/token CPU in the main process; "
                 f"store reads + series {statistics.median(holder['read']):.2f} s; HTML {size_mb:.1f} MB "
                 f"({chart_kb:.0f} kB per chart); "
                 f"{t.describe()}"),
        row(f"charts for {len(sample.tokens)} tokens: ours vs the same panels with a new figure each", t_reuse.median,
            unit="s", reference=t_naive.median, ratio=ratio, target="< 1× (reuse faster than naive)",
            passed=at_most(ratio, 1.0), note=f"reuse {t_reuse.describe()}; naive {t_naive.describe()}"),
    ]
