"""Charts a person can read and trust: resolution, units, dates with the year, no false OI step,
log scale for a surge, labelled events, mirrored liquidations, funding caps, dark windows shaded."""

from __future__ import annotations

import datetime as dt
import io
import os
import re
from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest

from monitor.config import SOURCE_DEFAULTS, Secrets, parse_config
from monitor.jobs.outputs import token_series
from monitor.model import Event
from monitor.report.build import HealthRow, TokenSeries
from monitor.report.charts import DPI, ChartRenderer

END = pd.Timestamp("2026-11-27", tz="UTC")


def hourly(days: float, values, end=END) -> pd.Series:
    idx = pd.date_range(end=end, periods=int(days * 24), freq="1h", tz="UTC")
    v = values(np.arange(len(idx))) if callable(values) else np.full(len(idx), float(values))
    return pd.Series(v, index=idx)


def event(kind: str, days_ago: float) -> Event:
    return Event(END.to_pydatetime() - dt.timedelta(days=days_ago), "AIA", "ethereum", kind, "0xabc", f"0x{kind}", 1)


def texts(ax) -> list[str]:
    return [t.get_text() for t in ax.texts]


def draw(series: TokenSeries, health=()) -> tuple[ChartRenderer, bytes]:
    renderer = ChartRenderer()
    png = renderer.png("AIA", series, health)
    renderer.figure.canvas.draw()  # tick labels are only laid out when drawn
    return renderer, png


def test_chart_is_twice_the_old_resolution_with_units_and_dated_axes():
    from matplotlib.image import imread

    surge = hourly(40, 5e6)
    renderer, png = draw(TokenSeries(oi=surge, oi_by_venue={"binance": surge}, tvl=hourly(40, 4e7),
                                     funding={"binance": hourly(40, 0.0004)},
                                     liq_long=hourly(40, 1e5), liq_short=hourly(40, 5e4)))
    image = imread(io.BytesIO(png))
    assert DPI >= 120 and image.shape[1] >= 960 and image.shape[0] >= 1400  # 480 x 540 at 60 dpi before
    heights = [ax.get_window_extent().height for ax in renderer.axes]
    assert min(heights) >= 150  # pixels per panel (was ~100)
    oi_labels = [t.get_text() for t in renderer.ax_oi.get_yticklabels()]
    assert any(re.match(r"^\$\d+(\.\d)?M$", t) for t in oi_labels), oi_labels
    assert all(t.endswith("%") for t in (x.get_text() for x in renderer.ax_fund.get_yticklabels()) if t)
    dates = [t.get_text() for t in renderer.axes[-1].get_xticklabels()]
    assert all(re.match(r"^20\d\d-\d\d-\d\d", d) for d in dates), dates


def test_surge_over_orders_of_magnitude_reads_on_a_log_scale():
    surge = hourly(10, lambda i: 3e5 * np.exp(i / len(i) * np.log(40)))
    renderer, _ = draw(TokenSeries(oi=surge, oi_by_venue={"binance": surge}))
    assert renderer.ax_oi.get_yscale() == "log"
    calm = hourly(10, 5e6)
    renderer, _ = draw(TokenSeries(oi=calm, oi_by_venue={"binance": calm, "okx": calm}))
    assert renderer.ax_oi.get_yscale() == "linear"


def test_venues_stack_and_a_later_venue_is_marked_not_summed_into_a_step():
    renderer, _ = draw(TokenSeries(oi_by_venue={"okx": hourly(60, 5e6), "binance": hourly(30, 5e6)}))
    assert len(renderer.ax_oi.collections) >= 2  # one band per venue
    assert any("binance data starts" in t for t in texts(renderer.ax_oi))
    assert not any("okx data starts" in t for t in texts(renderer.ax_oi))


def test_each_event_marker_is_labelled():
    kinds = ["proxy_upgraded", "contract_created", "perp_delisted", "funding_regime_changed"]
    series = TokenSeries(oi_by_venue={"okx": hourly(20, 5e6)}, events=tuple(event(k, 3 + i) for i, k in enumerate(kinds)))
    renderer, _ = draw(series)
    labels = " | ".join(texts(renderer.ax_oi))
    for word in ("proxy upgrade", "contract creation", "delisting", "funding interval change"):
        assert word in labels, labels


def test_liquidations_are_mirrored_and_funding_shows_its_cap():
    series = TokenSeries(oi_by_venue={"okx": hourly(20, 5e6)}, liq_long=hourly(20, 2e6), liq_short=hourly(20, 1e6),
                         funding={"okx": hourly(20, 0.006)}, funding_cap={"okx": hourly(20, 0.02)})
    renderer, _ = draw(series)
    lo, hi = renderer.ax_liq.get_ylim()
    assert lo <= -2e6 and hi >= 1e6  # longs below zero, shorts above
    levels = sorted(round(line.get_ydata()[0], 6) for line in renderer.ax_fund.get_lines()
                    if len(set(line.get_ydata())) == 1 and line.get_linestyle() == "--")
    assert levels == [-2.0, 2.0]
    far = TokenSeries(oi_by_venue={"okx": hourly(20, 5e6)}, funding={"okx": hourly(20, 0.0001)},
                      funding_cap={"okx": hourly(20, 0.02)})  # 0.01% rates against a ±2% cap
    renderer, _ = draw(far)
    assert not [line for line in renderer.ax_fund.get_lines() if line.get_linestyle() == "--"]
    assert any("cap ±2% (off scale)" in t for t in texts(renderer.ax_fund))


def test_dark_window_is_shaded_from_the_sources_last_point():
    last = (END - pd.Timedelta(days=2)).strftime("%Y-%m-%dT%H:%M:%SZ")
    dark = HealthRow("okx", None, last, 3, 3, 3, True, True, "429")
    renderer, _ = draw(TokenSeries(oi_by_venue={"okx": hourly(20, 5e6)}), health=[dark])
    assert "dark: okx" in " ".join(texts(renderer.ax_oi))
    spans = [p for p in renderer.ax_oi.patches if p.get_alpha() and p.get_alpha() < 0.5]
    assert len(spans) == 1
    never = HealthRow("chain", None, None, 2, 2, 0, True, True, "error")
    renderer, _ = draw(TokenSeries(oi_by_venue={"okx": hourly(20, 5e6)}), health=[never])
    assert not [p for p in renderer.ax_oi.patches if p.get_alpha() and p.get_alpha() < 0.5]  # not the whole chart
    assert "no data in view: chain" in " ".join(texts(renderer.ax_oi))
    old = HealthRow("gate", None, (END - pd.Timedelta(days=90)).strftime("%Y-%m-%dT%H:%M:%SZ"), 1, 1, 0, True, True)
    renderer, _ = draw(TokenSeries(oi_by_venue={"okx": hourly(20, 5e6)}), health=[old])
    assert "no data in view: gate" in " ".join(texts(renderer.ax_oi))


@pytest.fixture
def app(tmp_path):
    from monitor.app import App
    from monitor.store import Store

    url = f"sqlite:///{tmp_path / 'c.db'}"
    cfg = parse_config({"storage": {"url": url}, "tokens": [{"symbol": "AIA"}],
                        "sources": {n: {"enabled": False} for n in SOURCE_DEFAULTS}})
    a = App(cfg, store=Store(url), secrets=Secrets({}), now=lambda: END.to_pydatetime())
    yield a
    a.close()


def store(app, metric, source, s) -> None:
    app.store.upsert_observations(pd.DataFrame({"ts": s.index, "source": source, "token": "AIA", "metric": metric,
                                                "value": s.to_numpy()}))


def test_summed_oi_has_no_step_where_a_venue_joins(app):
    store(app, "oi_usd", "okx", hourly(60, 5e6))
    store(app, "oi_usd", "binance", hourly(30, 5e6))  # Binance keeps 30 days
    series, _ = token_series(app, "AIA", (END - pd.Timedelta(days=60)).to_pydatetime(), END.to_pydatetime())
    assert series.oi.max() / series.oi.min() == pytest.approx(1.0)
    assert set(series.oi_by_venue) == {"okx", "binance"}


def test_chart_liquidations_are_the_rules_own_reading(app):
    for src in ("okx", "gate"):
        store(app, "liq_long_usd", src, hourly(5, 1e6))
    store(app, "liq_long_usd", "coinglass", hourly(5, 3e6))  # the aggregate already holds okx and gate
    series, _ = token_series(app, "AIA", (END - pd.Timedelta(days=5)).to_pydatetime(), END.to_pydatetime())
    assert series.liq_long.max() == pytest.approx(3e6)



def test_charts_drawn_in_worker_processes_match_one_process(app):
    from monitor.jobs.outputs import CHART_PARALLEL_MIN, chart_pngs, chart_workers
    from monitor.model import Verdict
    from monitor.report.build import build_report

    tokens = ["AIA", "BBB", "CCC"]
    series = {}
    for i, t in enumerate(tokens):
        s = hourly(10, 1e6 * (i + 1))
        series[t] = TokenSeries(oi=s, oi_by_venue={"okx": s}, funding={"okx": hourly(10, 0.0001 * (i + 1))})
    data = build_report([Verdict(t, "mixed", 50 - i, 0.9, (), END.to_pydatetime()) for i, t in enumerate(tokens)],
                        series)
    assert chart_pngs(data, workers=2) == chart_pngs(data, workers=1)
    assert len(chart_pngs(data, workers=1)) == 3
    two = SimpleNamespace(config=parse_config({"signals": {"workers": 2}}))
    assert chart_workers(two, CHART_PARALLEL_MIN - 1) == 1
    assert chart_workers(two, CHART_PARALLEL_MIN) == min(2, os.cpu_count() or 1)
    assert chart_workers(SimpleNamespace(config=parse_config({"signals": {"workers": 1}})), 500) == 1


def ink_box(canvas) -> tuple[int, int, int, int]:
    """Bounding box (top, left, bottom, right) of the pixels a drawing darkened."""
    canvas.draw()
    gray = np.asarray(canvas.buffer_rgba())[:, :, :3].min(axis=2)
    rows, cols = np.nonzero(gray < 200)
    return int(rows.min()), int(cols.min()), int(rows.max()), int(cols.max())


def near(theirs, ours, kw) -> bool:
    """A kept bitmap sits where Matplotlib 3.11 places the glyphs: the same rows and columns within 1 px
    (whole pixels, as Matplotlib up to 3.10 placed text); turned text within 2 px."""
    off = [abs(a - b) for a, b in zip(theirs, ours, strict=True)]
    return max(off) <= 2 if kw.get("rotation") else off[0] == off[2] == 0 and max(off) <= 1


@pytest.mark.parametrize("text, kw", [
    ("$120", {"fontsize": 8}),
    ("2026-11-23", {"fontsize": 8, "ha": "center", "va": "top"}),
    (" proxy upgrade", {"fontsize": 7, "rotation": 90, "va": "top", "ha": "right", "color": "#b03a2e"}),
    ("■ Active addresses", {"fontsize": 7, "color": "#2ca02c"}),
    ("Open interest by venue", {"fontsize": 9, "rotation": 30}),
    ("$x^2$", {"fontsize": 12, "parse_math": True}),  # mathtext: Matplotlib's own path, nothing kept
])
def test_cached_text_lands_where_matplotlib_draws_it_and_is_rasterised_once(text, kw):
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    from monitor.report.raster import ChartCanvas

    def canvas(cls):
        fig = Figure(figsize=(3, 3), dpi=DPI)
        c = cls(fig)
        fig.text(0.4, 0.6, text, **{"parse_math": False, **kw})
        return c

    theirs, ours = canvas(FigureCanvasAgg), canvas(ChartCanvas)
    expected, got = ink_box(theirs), ink_box(ours)
    assert near(expected, got, kw), (expected, got)
    first = bytes(ours.buffer_rgba())
    ours.figure.texts[0].set_color("black")  # colour is not part of the kept bitmap
    ours.draw()
    ours.figure.texts[0].set_color(kw.get("color", "black"))
    assert ink_box(ours) == got and bytes(ours.buffer_rgba()) == first
    assert len(ours.get_renderer()._bitmaps) == (0 if kw.get("parse_math") else 1)


def test_one_string_in_several_fonts_and_angles_keeps_a_bitmap_for_each(monkeypatch):
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    from monitor.report import raster

    monkeypatch.setattr(raster, "TEXT_CACHE_MAX", 3)
    cases = [{"fontsize": 8}, {"fontsize": 8, "rotation": 90}, {"fontsize": 12}, {"fontsize": 8, "weight": "bold"},
             {"fontsize": 7, "rotation": 90}, {"fontsize": 12, "rotation": 90}]  # the charts turn text by 90° only
    boxes = []
    for cls in (FigureCanvasAgg, raster.ChartCanvas):
        canvas = cls(Figure(figsize=(3, 3), dpi=DPI))  # one canvas: the string drawn each way in turn
        drawn = []
        for kw in cases:
            text = canvas.figure.text(0.4, 0.5, "binance", parse_math=False, **kw)
            drawn.append(ink_box(canvas))
            text.remove()
        boxes.append(drawn)
    assert len(canvas.get_renderer()._bitmaps) <= 3
    for kw, theirs, ours in zip(cases, *boxes, strict=True):
        assert near(theirs, ours, kw), boxes


def test_chart_png_is_a_palette_image_with_the_pixels_of_the_drawing():
    from PIL import Image

    rng = np.random.default_rng(7)

    def walk() -> pd.Series:
        return hourly(30, lambda i: np.abs(np.cumsum(rng.normal(0, 1, len(i)))) * 1e5 + 1e6)

    series = TokenSeries(oi=walk(), oi_by_venue={"binance": walk(), "okx": walk()}, tvl=walk(),
                         active_addresses=walk(), dev_activity=walk(), rsi=hourly(30, lambda i: 50 + 20 * np.sin(i / 9)),
                         funding={"binance": walk() * 1e-10, "okx": walk() * 1e-10},
                         long_short={"binance": walk() * 1e-6}, liq_long=walk(), liq_short=walk())
    renderer, png = draw(series)
    image = Image.open(io.BytesIO(png))
    assert image.mode == "P" and image.size == (960, 1680)
    assert len(png) <= 120_000  # an RGBA PNG of this chart is ~260 kB
    drawn = np.asarray(renderer.figure.canvas.buffer_rgba())[:, :, :3].astype(int)
    off = np.abs(drawn - np.asarray(image.convert("RGB")).astype(int)).max(axis=2)
    assert off.mean() < 2 and np.percentile(off, 99) <= 16  # same picture: only anti-aliased edges move


def test_report_draws_rsi_of_aligned_tokens_in_one_pass_equal_to_each_tokens_own(app, monkeypatch):
    from monitor.jobs.outputs import make_report
    from monitor.model import Verdict
    from monitor.signals import indicators

    closes = {"AIA": hourly(20, lambda i: 100 + 10 * np.sin(i / 7)), "BBB": hourly(20, lambda i: 50 + i % 13),
              "CCC": hourly(20, lambda i: 80 - 5 * np.cos(i / 3)),
              "LATE": hourly(12, lambda i: 20 + np.sin(i / 5), end=END - pd.Timedelta(hours=5)),
              "SHORT": hourly(0.5, lambda i: 1.0 + i)}  # 12 closes: fewer than rsi_period changes
    for token, close in closes.items():
        app.store.upsert_observations(pd.DataFrame({"ts": close.index, "source": "binance", "token": token,
                                                    "metric": "price_close_1h", "value": close.to_numpy()}))
    start = (END - pd.Timedelta(days=30)).to_pydatetime()
    own = {t: token_series(app, t, start, END.to_pydatetime())[0].rsi for t in closes}
    calls = []
    real = indicators.wilder_rsi_matrix
    monkeypatch.setattr(indicators, "wilder_rsi_matrix", lambda close, period=14: calls.append(close.shape) or
                        real(close, period))
    verdicts = [Verdict(t, "mixed", 50.0, 0.9, (), END.to_pydatetime()) for t in [*closes, "NOPRICE"]]
    own["NOPRICE"] = None
    data = make_report(app, verdicts=verdicts)
    assert sorted(calls) == [(12 * 24, 1), (20 * 24, 3)]  # one pass per shared time axis, none for SHORT
    for t in data.tokens:
        if own[t.token] is None:
            assert t.series.rsi is None and t.token in ("SHORT", "NOPRICE")
        else:
            pd.testing.assert_series_equal(t.series.rsi, own[t.token], check_names=False)


def test_every_panel_marks_each_event_at_its_time():
    kinds = ["proxy_upgraded", "perp_delisted"]
    series = TokenSeries(oi_by_venue={"okx": hourly(20, 5e6)}, funding={"okx": hourly(20, 1e-4)},
                         events=tuple(event(k, 3 + 4 * i) for i, k in enumerate(kinds)))
    renderer, _ = draw(series)
    expected = sorted(round((END - pd.Timedelta(days=3 + 4 * i)).value / 86_400e9, 6) for i in range(2))
    for ax in renderer.axes:
        dotted = [round(float(x), 6) for line in ax.get_lines() if line.get_linestyle() == ":"
                  for x in set(line.get_xdata())]
        dotted += [round(float(seg[0][0]), 6) for c in ax.collections if hasattr(c, "get_segments")
                   and c.get_linestyle()[0][1] for seg in c.get_segments()]
        assert sorted(dotted) == expected, (ax, dotted)
