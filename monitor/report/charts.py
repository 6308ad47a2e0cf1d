"""Per-token chart panel as PNG (matplotlib Agg, imported only when a chart is drawn).

One figure with five stacked axes is created once and cleared between tokens: building a figure and
laying it out is most of matplotlib's cost, so reusing it keeps a 200-token report fast (bench/).
"""

from __future__ import annotations

import base64
import io
from collections.abc import Iterable
from typing import Any

from monitor.report.build import TokenReport, TokenSeries

PANELS = ("OI / TVL / active addresses / dev (first value = 100)", "Funding per 8h (%)", "Long/short accounts", "RSI(14)",
          "Liquidations (USD)")
EVENT_COLOR = "#d62728"
MAX_POINTS = 400
Y_TICKS = 3  # at most this many y intervals per panel: each tick label is a text draw
RSI_TICKS = (30, 50, 70, 90)
PALETTE = ("#1f77b4", "#ff7f0e", "#2ca02c", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f", "#17becf")


class ChartRenderer:
    """Draws TokenSeries into PNG bytes, reusing one Agg figure."""

    def __init__(self, dpi: int = 60, size: tuple[float, float] = (8.0, 9.0)):
        from matplotlib.backends.backend_agg import FigureCanvasAgg
        from matplotlib.figure import Figure
        from matplotlib import ticker

        self._ticker = ticker
        self.dpi = dpi
        self.figure = Figure(figsize=size, dpi=dpi)
        FigureCanvasAgg(self.figure)
        # Not sharex: a shared x axis makes every panel measure all five panels' tick labels when it
        # draws. The x limits and ticks are set on each panel instead, labelled on the bottom one only.
        self.axes = self.figure.subplots(len(PANELS), 1)
        self.figure.subplots_adjust(left=0.1, right=0.97, top=0.95, bottom=0.05, hspace=0.25)
        # Drawing axes is most of the cost: titles are plain axes text, series names a coloured key
        # (no legend boxes), x ticks fixed per token (no date locator), no minor ticks, no top/right
        # spines, and no axis-label placement (there are no axis labels; placing them measures every
        # tick label again).
        for ax, title in zip(self.axes, PANELS, strict=True):
            ax.text(0.01, 0.97, title, transform=ax.transAxes, fontsize=8, va="top")
            ax.tick_params(labelsize=7, labelbottom=ax is self.axes[-1])
            ax.yaxis.set_major_locator(ticker.MaxNLocator(Y_TICKS))
            ax.yaxis.set_minor_locator(ticker.NullLocator())
            ax.xaxis.set_minor_locator(ticker.NullLocator())
            for side in ("top", "right"):
                ax.spines[side].set_visible(False)
            for axis in (ax.xaxis, ax.yaxis):
                axis._update_label_position = _no_label  # noqa: SLF001 - see above
        for level, color in ((70, "#f0ad4e"), (80, "#e67e22"), (90, "#c0392b")):
            self.axes[3].axhline(level, color=color, linewidth=0.7, linestyle="--")
        self.axes[3].set_ylim(0, 100)
        self.axes[3].yaxis.set_major_locator(ticker.FixedLocator(RSI_TICKS))
        self.suptitle = self.figure.suptitle("", fontsize=10)
        self.suptitle.set_parse_math(False)  # a token name with "$" is text, not TeX
        self._drawn: list = []

    def _keep(self, *artists):  # noqa: ANN002, ANN202
        for a in artists:
            if isinstance(a, list):
                self._drawn.extend(a)
            elif a is not None:
                self._drawn.append(a)

    def _set_scale(self, ax, log: bool) -> None:  # noqa: ANN001
        """Switch the normalised panel between log and linear (set_yscale resets the tick setup). Log
        ticks at 1-2-5 steps, printed plainly: the default 10^n labels go through mathtext and leave a
        100-based panel with one label."""
        ticker = self._ticker
        ax.set_yscale("log" if log else "linear")
        ax.yaxis.set_minor_locator(ticker.NullLocator())
        if log:
            ax.yaxis.set_major_locator(ticker.LogLocator(subs=(1.0, 2.0, 5.0), numticks=Y_TICKS + 1))
            ax.yaxis.set_major_formatter(ticker.FuncFormatter(lambda v, _pos: f"{v:g}"))
        else:
            ax.yaxis.set_major_locator(ticker.MaxNLocator(Y_TICKS))

    def _key(self, ax, names: list[tuple[str, str]]) -> None:  # noqa: ANN001
        """Series names in their colours along the top right of the panel (laid out by an estimated
        width: measuring text would cost a renderer pass)."""
        x = 0.99
        for name, color in reversed(names):
            self._keep(ax.text(x, 0.97, name, transform=ax.transAxes, fontsize=6, va="top", ha="right",
                               color=color, parse_math=False))
            x -= 0.0105 * len(name) + 0.025

    def _x_ticks(self, lo: float, hi: float) -> None:
        import datetime as dt

        ticker = self._ticker
        if not hi > lo:
            hi = lo + 1.0
        ticks = [lo + (hi - lo) * k / 5 for k in range(6)]
        epoch = dt.datetime(1970, 1, 1)
        fmt = "%b %d" if hi - lo > 2 else "%d %H:%M"
        labels = [(epoch + dt.timedelta(days=t)).strftime(fmt) for t in ticks]
        for ax in self.axes:
            ax.xaxis.set_major_locator(ticker.FixedLocator(ticks))
            ax.xaxis.set_major_formatter(ticker.FixedFormatter(labels))
            ax.set_xlim(lo, hi)

    def png(self, token: str, series: TokenSeries) -> bytes:
        # Remove only what the previous token drew; axes, ticks and text objects are reused.
        for artist in self._drawn:
            artist.remove()
        self._drawn = []
        ax_norm, ax_fund, ax_ls, ax_rsi, ax_liq = self.axes
        self.suptitle.set_text(token)
        xs: list[float] = []
        filled: set[int] = set()

        def line(ax, s, color, scale=1.0):  # noqa: ANN001, ANN202
            xy = _thin(s)
            if len(xy.index):
                filled.add(id(ax))
                xs.extend((float(xy.index[0]), float(xy.index[-1])))
                self._keep(ax.plot(xy.index, xy.values * scale, linewidth=1, color=color))

        norm = series.normalized()
        for i, (label, s) in enumerate(norm.items()):
            line(ax_norm, s, PALETTE[i % len(PALETTE)])
        self._key(ax_norm, [(k, PALETTE[i % len(PALETTE)]) for i, k in enumerate(norm)])
        log_scale = bool(norm) and all(bool((s.to_numpy() > 0).all()) for s in norm.values())
        if ax_norm.get_yscale() != ("log" if log_scale else "linear"):
            self._set_scale(ax_norm, log_scale)
        for ax, per_venue, scale in ((ax_fund, series.funding, 100.0), (ax_ls, series.long_short, 1.0)):
            venues = sorted(per_venue)
            for i, venue in enumerate(venues):
                line(ax, per_venue[venue], PALETTE[i % len(PALETTE)], scale)
            self._key(ax, [(v, PALETTE[i % len(PALETTE)]) for i, v in enumerate(venues)])
        if series.rsi is not None and not series.rsi.dropna().empty:
            line(ax_rsi, series.rsi, "black")
        keys = []
        for s, label, color in ((series.liq_long, "long", "#c0392b"), (series.liq_short, "short", "#27ae60")):
            if s is not None and not s.empty:
                xy = _thin(s)  # a step area, not bars: one path instead of a patch per point
                xs.extend((float(xy.index[0]), float(xy.index[-1])))
                filled.add(id(ax_liq))
                self._keep(ax_liq.fill_between(xy.index, xy.values, step="post", color=color, alpha=0.6))
                keys.append((label, color))
        self._key(ax_liq, keys)
        for ax in (ax_norm, ax_fund, ax_ls, ax_liq):
            if id(ax) not in filled:  # no data: fixed limits, not the previous token's
                ax.set_ylim(0, 1)
                self._keep(ax.text(0.5, 0.45, "no data", transform=ax.transAxes, fontsize=7, ha="center",
                                   color="grey"))
                continue
            ax.set_autoscaley_on(True)  # set_ylim below switched it off for the previous token
            ax.relim()
            ax.autoscale_view(scalex=False)
            lo, hi = ax.get_ylim()  # headroom so the title and key sit above the data
            if ax.get_yscale() == "log" and lo > 0:
                ax.set_ylim(lo, hi * (hi / lo) ** 0.25)
            elif hi > lo:
                ax.set_ylim(lo, hi + (hi - lo) * 0.25)
        for event in series.events:
            x = float(_days([event.ts])[0])
            xs.append(x)
            for ax in self.axes:
                self._keep(ax.axvline(x, color=EVENT_COLOR, linewidth=0.8, alpha=0.7))
            self._keep(ax_norm.plot([x], [1.0], transform=ax_norm.get_xaxis_transform(), marker="v",
                                    color=EVENT_COLOR, clip_on=False))
        if xs:
            self._x_ticks(min(xs), max(xs))
        buf = io.BytesIO()
        self.figure.savefig(buf, format="png", dpi=self.dpi, pil_kwargs={"compress_level": 2})
        return buf.getvalue()


def _no_label(renderer) -> None:  # noqa: ANN001
    """Axis label placement, skipped: the charts have no axis labels."""


class _XY:
    """x as matplotlib date numbers (days since 1970) computed with numpy: matplotlib's own datetime
    conversion goes through Python objects point by point."""

    __slots__ = ("index", "values")

    def __init__(self, index, values):  # noqa: ANN001
        self.index, self.values = index, values


def _thin(s, max_points: int = MAX_POINTS) -> _XY:  # noqa: ANN001 - a pandas Series
    """Every k-th point so a panel never draws more than ~max_points (a 480 px wide chart shows no more)."""
    s = s.dropna()
    step = len(s) // max_points + 1
    if step > 1:
        s = s.iloc[::step]
    return _XY(_days(s.index), s.to_numpy(dtype="float64"))


def _days(index) -> Any:  # noqa: ANN001
    import pandas as pd

    return pd.DatetimeIndex(index).as_unit("ns").asi8 / 86_400e9


def render_pngs(tokens: Iterable[TokenReport], limit: int | None = None) -> dict[int, bytes]:
    """token rank -> PNG for every token that has something to draw (at most ``limit`` of them)."""
    out: dict[int, bytes] = {}
    renderer = None
    for token in tokens:
        if limit is not None and len(out) >= limit:
            break
        if token.series is None or token.series.is_empty():
            continue
        renderer = renderer or ChartRenderer()
        out[token.rank] = renderer.png(token.token, token.series)
    return out


def data_uri(png: bytes) -> str:
    return "data:image/png;base64," + base64.b64encode(png).decode("ascii")
