"""Per-token chart panels as PNG (matplotlib Agg, imported only when a chart is drawn).

Drawn to be read, not decoded: 120 dpi (2x the old 60), panels ~200 px tall, axes in $M/$B and %,
dates with the year, open interest stacked per venue (or per-venue lines on a log scale when a surge
spans orders of magnitude) so a venue whose history starts later never reads as a market step,
labelled event markers, long and short liquidations mirrored, funding with its cap, and the window a
source went dark shaded.

One figure is created once and cleared between tokens: building a figure and laying it out is most
of matplotlib's cost, so reusing it keeps a 200-token report fast (bench/).
"""

from __future__ import annotations

import base64
import datetime as dt
from collections.abc import Iterable, Sequence
from typing import Any

from monitor.evidence import EVENT_LABELS, fmt_usd
from monitor.report.build import HealthRow, TokenReport, TokenSeries

PANELS = ("Open interest by venue", "OI vs on-chain (first value = 100)", "Funding per 8h", "Long/short accounts",
          "RSI(14)", "Liquidations (long down, short up)")
HEIGHTS = (1.3, 1.1, 1.0, 0.9, 0.9, 1.0)
DPI = 120
SIZE = (8.0, 14.0)  # inches: 960 x 1680 px
EVENT_COLOR = "#b03a2e"
DARK_COLOR = "#7f7f7f"
LOG_SPAN = 20.0  # max/min above this: the OI panels go log
CAP_VIEW = 4.0  # funding caps drawn only within this many times the largest rate shown
LABEL_BOX = {"facecolor": "white", "alpha": 0.8, "edgecolor": "none", "pad": 1.0}  # text over filled areas
MAX_POINTS = 500
Y_TICKS = 4
PALETTE = ("#1f77b4", "#ff7f0e", "#2ca02c", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f", "#17becf")


class ChartRenderer:
    """Draws TokenSeries into PNG bytes, reusing one Agg figure."""

    def __init__(self, dpi: int = DPI, size: tuple[float, float] = SIZE):
        from matplotlib import ticker
        from matplotlib.figure import Figure

        from monitor.report.raster import ChartCanvas, png_bytes

        self._ticker = ticker
        self._png_bytes = png_bytes
        self.dpi = dpi
        self.figure = Figure(figsize=size, dpi=dpi)
        self._canvas = ChartCanvas(self.figure)  # becomes self.figure.canvas
        # Not sharex: a shared x axis makes every panel measure all panels' tick labels when it draws.
        self.axes = self.figure.subplots(len(PANELS), 1, gridspec_kw={"height_ratios": HEIGHTS})
        self.figure.subplots_adjust(left=0.11, right=0.97, top=0.955, bottom=0.045, hspace=0.32)
        usd = ticker.FuncFormatter(lambda v, _pos: fmt_usd(v) if v else "0")
        pct = ticker.FuncFormatter(lambda v, _pos: f"{v:.3f}%")
        # Drawing axes is most of the cost: titles are plain text above each panel (set_title measures
        # every tick label to place itself), series names a coloured key (no legend boxes), no minor
        # ticks, and no axis-label placement (there are no axis labels).
        for ax, title in zip(self.axes, PANELS, strict=True):
            ax.text(0.0, 1.02, title, transform=ax.transAxes, fontsize=9, va="bottom", ha="left")
            for axis in (ax.xaxis, ax.yaxis):
                axis._update_label_position = _no_label
            ax.tick_params(labelsize=8, labelbottom=ax is self.axes[-1])
            ax.yaxis.set_major_locator(ticker.MaxNLocator(Y_TICKS))
            ax.yaxis.set_minor_locator(ticker.NullLocator())
            ax.xaxis.set_minor_locator(ticker.NullLocator())
            ax.grid(axis="y", color="#e5e5e5", linewidth=0.6)
            for side in ("top", "right"):
                ax.spines[side].set_visible(False)
        self.ax_oi, self.ax_norm, self.ax_fund, self.ax_ls, self.ax_rsi, self.ax_liq = self.axes
        self._formatters = {self.ax_oi: usd, self.ax_liq: usd, self.ax_fund: pct}
        for ax, fmt in self._formatters.items():
            ax.yaxis.set_major_formatter(fmt)
        for level, color in ((70, "#f0ad4e"), (80, "#e67e22"), (90, "#c0392b")):
            self.ax_rsi.axhline(level, color=color, linewidth=0.7, linestyle="--")
        self.ax_rsi.set_ylim(0, 100)
        self.ax_rsi.yaxis.set_major_locator(ticker.FixedLocator((30, 50, 70, 90)))
        self.ax_liq.axhline(0, color="#555", linewidth=0.6)
        self.suptitle = self.figure.suptitle("", fontsize=12, x=0.11, ha="left")
        self.suptitle.set_parse_math(False)  # a token name with "$" is text, not TeX
        self._drawn: list[Any] = []  # matplotlib artists

    def _keep(self, *artists: Any) -> None:
        for a in artists:
            if isinstance(a, list):
                self._drawn.extend(a)
            elif a is not None:
                self._drawn.append(a)

    def _scale(self, ax: Any, log: bool) -> None:
        """Log ticks at 1-2-5 steps printed plainly (USD on the OI panel); set_yscale resets the ticks."""
        ticker = self._ticker
        if ax.get_yscale() == ("log" if log else "linear"):
            return
        ax.set_yscale("log" if log else "linear")
        ax.yaxis.set_minor_locator(ticker.NullLocator())
        if log:
            ax.yaxis.set_major_locator(ticker.LogLocator(subs=(1.0, 2.0, 5.0), numticks=Y_TICKS + 2))
        else:
            ax.yaxis.set_major_locator(ticker.MaxNLocator(Y_TICKS))
        ax.yaxis.set_major_formatter(self._formatters.get(ax) or ticker.FuncFormatter(lambda v, _p: f"{v:g}"))

    def _legend(self, ax: Any, names: Sequence[tuple[str, str]]) -> None:
        """Series names in their colours along the top left of the panel, laid out by an estimated
        width (measuring text would cost a renderer pass)."""
        x = 0.01
        for name, color in names:
            self._keep(ax.text(x, 0.97, "■ " + name, transform=ax.transAxes, fontsize=7, va="top", ha="left",
                               color=color, parse_math=False))
            x += 0.0095 * (len(name) + 2) + 0.02

    def _x_ticks(self, lo: float, hi: float) -> None:
        ticker = self._ticker
        if not hi > lo:
            hi = lo + 1.0
        ticks = [lo + (hi - lo) * (k + 0.5) / 5 for k in range(5)]  # inside: no label cut at an edge
        epoch = dt.datetime(1970, 1, 1)
        fmt = "%Y-%m-%d" if hi - lo > 2 else "%Y-%m-%d\n%H:%M UTC"
        labels = [(epoch + dt.timedelta(days=t)).strftime(fmt) for t in ticks]
        for ax in self.axes:
            ax.xaxis.set_major_locator(ticker.FixedLocator(ticks))
            ax.xaxis.set_major_formatter(ticker.FixedFormatter(labels))
            ax.set_xlim(lo, hi)

    def png(self, token: str, series: TokenSeries, health: Sequence[HealthRow] = ()) -> bytes:
        for artist in self._drawn:  # remove only what the previous token drew
            artist.remove()
        self._drawn = []
        self.suptitle.set_text(token)
        xs: list[float] = []
        filled: set[int] = set()

        def line(ax: Any, s: Any, color: str, scale: float = 1.0, **kw: Any) -> None:
            xy = _thin(s)
            if len(xy.index):
                filled.add(id(ax))
                xs.extend((float(xy.index[0]), float(xy.index[-1])))
                self._keep(ax.plot(xy.index, xy.values * scale, linewidth=kw.pop("linewidth", 1.2), color=color, **kw))

        self._open_interest(series, line, xs, filled)
        norm = series.normalized()
        names = []
        for i, (label, s) in enumerate(norm.items()):
            line(self.ax_norm, s, PALETTE[i % len(PALETTE)])
            names.append((label, PALETTE[i % len(PALETTE)]))
        self._legend(self.ax_norm, names)
        self._scale(self.ax_norm, _spans_orders(norm.values()))
        self._funding(series, line)
        venues = sorted(series.long_short)
        for i, venue in enumerate(venues):
            line(self.ax_ls, series.long_short[venue], PALETTE[i % len(PALETTE)])
        self._legend(self.ax_ls, [(v, PALETTE[i % len(PALETTE)]) for i, v in enumerate(venues)])
        if series.rsi is not None and not series.rsi.dropna().empty:
            line(self.ax_rsi, series.rsi, "black", linewidth=1.0)
        self._liquidations(series, xs, filled)
        for ax in (self.ax_oi, self.ax_norm, self.ax_fund, self.ax_ls, self.ax_liq):
            if id(ax) not in filled:  # no data: fixed limits, not the previous token's
                ax.set_ylim(0, 1)
                self._keep(ax.text(0.5, 0.45, "no data", transform=ax.transAxes, fontsize=8, ha="center",
                                   color="grey"))
                continue
            ax.set_autoscaley_on(True)
            ax.relim()
            ax.autoscale_view(scalex=False)
            lo, hi = ax.get_ylim()  # headroom so the legend sits above the data
            if ax.get_yscale() == "log" and lo > 0:
                ax.set_ylim(lo, hi * (hi / lo) ** 0.3)
            elif hi > lo:
                ax.set_ylim(lo, hi + (hi - lo) * 0.3)
        at = [float(x) for x in _days([e.ts for e in series.events])] if series.events else []
        xs.extend(at)
        for ax in self.axes:  # one collection per panel: an axvline per event and panel costs its own transforms
            if at:
                self._keep(ax.vlines(at, 0, 1, transform=ax.get_xaxis_transform(), colors=EVENT_COLOR,
                                     linewidth=0.9, alpha=0.75, linestyles=":"))
        for x, event in zip(at, series.events, strict=True):
            label = EVENT_LABELS.get(event.kind, event.kind.replace("_", " "))
            self._keep(self.ax_oi.text(x, 0.98, " " + label, transform=self.ax_oi.get_xaxis_transform(),
                                       rotation=90, fontsize=7, va="top", ha="right", color=EVENT_COLOR,
                                       parse_math=False))
        if xs:
            lo, hi = min(xs), max(xs)
            self._dark(health, lo, hi)
            self._x_ticks(lo, hi)
        return self._png_bytes(self._canvas)

    def _open_interest(self, series: TokenSeries, line: Any, xs: list[float], filled: set[int]) -> None:
        """Stacked by venue; a venue's band starts with its own data, so nothing steps the market did not
        make. On a log scale (a surge over orders of magnitude) stacking is unreadable: one line per venue."""
        ax = self.ax_oi
        venues = {k: v.dropna() for k, v in (series.oi_by_venue or {}).items() if len(v.dropna())}
        if not venues:
            if series.oi is not None and len(series.oi.dropna()):  # an aggregate only
                line(ax, series.oi, PALETTE[0])
                self._legend(ax, [("total", PALETTE[0])])
            self._scale(ax, False)
            return
        names = sorted(venues)
        colors = {v: PALETTE[i % len(PALETTE)] for i, v in enumerate(names)}
        log = _spans_orders(venues.values())
        self._scale(ax, log)
        if log:
            for v in names:
                line(ax, venues[v], colors[v])
        else:
            import pandas as pd

            wide = pd.DataFrame({v: venues[v][~venues[v].index.duplicated(keep="last")] for v in names})
            wide = wide.resample("1h").last().ffill(limit=6)
            wide = wide.iloc[:: max(1, len(wide) // MAX_POINTS + 1)]
            x = _days(wide.index)
            filled.add(id(ax))
            xs.extend((float(x[0]), float(x[-1])))
            self._keep(ax.stackplot(x, *[wide[v].fillna(0.0).to_numpy() for v in names],
                                    colors=[colors[v] for v in names], alpha=0.85, linewidth=0))
        starts = {v: venues[v].index.min() for v in names}
        first = min(starts.values())
        for v in names:  # a marker where a venue's history begins after the others'
            if starts[v] > first:
                x = float(_days([starts[v]])[0])
                self._keep(ax.axvline(x, color=colors[v], linewidth=1.0, linestyle="--"))
                self._keep(ax.text(x, 0.04, f" {v} data starts ", transform=ax.get_xaxis_transform(), fontsize=7,
                                   color="#222", va="bottom", ha="left", parse_math=False, bbox=LABEL_BOX))
        self._legend(ax, [(v, colors[v]) for v in names])

    def _funding(self, series: TokenSeries, line: Any) -> None:
        ax = self.ax_fund
        venues = sorted(series.funding)
        for i, venue in enumerate(venues):
            line(ax, series.funding[venue], PALETTE[i % len(PALETTE)], 100.0)
        names = [(v, PALETTE[i % len(PALETTE)]) for i, v in enumerate(venues)]
        caps = {}
        for venue, s in (series.funding_cap or {}).items():
            s = s.dropna()
            if len(s) and venue in series.funding:
                caps[venue] = float(s.iloc[-1]) * 100.0
        peak = max((float(abs(s.dropna()).max()) * 100.0 for s in series.funding.values() if len(s.dropna())),
                   default=0.0)
        shown = [c for c in sorted(set(caps.values())) if c <= CAP_VIEW * peak]
        for cap in shown:  # a cap far off the rates would flatten them to a line: named, not drawn
            for sign in (1, -1):
                self._keep(ax.axhline(sign * cap, color="#c0392b", linewidth=0.8, linestyle="--"))
        if caps:
            off = "" if shown else " (off scale)"
            names.append((f"cap ±{max(caps.values()):g}%{off}", "#c0392b"))
        self._legend(ax, names)

    def _liquidations(self, series: TokenSeries, xs: list[float], filled: set[int]) -> None:
        ax = self.ax_liq
        names = []
        for s, label, color, sign in ((series.liq_long, "long", "#c0392b", -1.0),
                                      (series.liq_short, "short", "#27ae60", 1.0)):
            if s is not None and len(s.dropna()):
                xy = _thin(s)  # a step area: one path instead of a patch per bar
                xs.extend((float(xy.index[0]), float(xy.index[-1])))
                filled.add(id(ax))
                self._keep(ax.fill_between(xy.index, sign * xy.values, step="post", color=color, alpha=0.75,
                                           linewidth=0))
                names.append((label, color))
        self._legend(ax, names)

    def _dark(self, health: Sequence[HealthRow], lo: float, hi: float) -> None:
        """Shade from the newest point of each dark source to the chart's end: no data there. A source
        that never delivered a point in view is named, not shaded over the whole chart."""
        starts: dict[float, list[str]] = {}
        never = []
        for h in health:
            if not h.dark:
                continue
            start = float(_days([h.last_ts])[0]) if h.last_ts else None
            if start is None or start < lo:
                never.append(h.source)
                continue
            starts.setdefault(min(start, hi), []).append(h.source)
        for start, names in sorted(starts.items()):
            for ax in self.axes:
                self._keep(ax.axvspan(start, hi, color=DARK_COLOR, alpha=0.15, linewidth=0))
            right = start > lo + 0.75 * (hi - lo)
            self._keep(self.ax_oi.text(hi if right else start, 0.55, f" dark: {', '.join(names)} ",
                                       transform=self.ax_oi.get_xaxis_transform(), fontsize=7, color="#333",
                                       ha="right" if right else "left", parse_math=False, bbox=LABEL_BOX))
        if never:
            self._keep(self.ax_oi.text(1.0, 1.02, f"no data in view: {', '.join(never)}", transform=self.ax_oi.transAxes,
                                       fontsize=7, color="#333", ha="right", va="bottom", parse_math=False))


def _no_label(renderer: Any) -> None:
    """Axis label placement, skipped: the charts have no axis labels."""


def _spans_orders(series: Iterable[Any]) -> bool:
    """True when positive values span more than LOG_SPAN x (a surge from almost nothing)."""
    lo, hi = float("inf"), 0.0
    for s in series:
        v = s.to_numpy(dtype="float64") if hasattr(s, "to_numpy") else s
        v = v[v > 0] if len(v) else v
        if not len(v):
            continue
        if (s.to_numpy(dtype="float64") <= 0).any():
            return False  # log cannot show zero or negative values
        lo, hi = min(lo, float(v.min())), max(hi, float(v.max()))
    return hi > 0 and hi / lo > LOG_SPAN


class _XY:
    """x as matplotlib date numbers (days since 1970) computed with numpy."""

    __slots__ = ("index", "values")

    def __init__(self, index: Any, values: Any):
        self.index, self.values = index, values


def _thin(s: Any, max_points: int = MAX_POINTS) -> _XY:
    """Every k-th point so a panel never draws more than ~max_points."""
    s = s.dropna()
    step = len(s) // max_points + 1
    if step > 1:
        s = s.iloc[::step]
    return _XY(_days(s.index), s.to_numpy(dtype="float64"))


def _days(index: Any) -> Any:
    import pandas as pd

    idx = pd.DatetimeIndex(pd.to_datetime(list(index) if not hasattr(index, "dtype") else index, utc=True))
    return idx.as_unit("ns").asi8 / 86_400e9


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
        out[token.rank] = renderer.png(token.token, token.series, token.health)
    return out


def data_uri(png: bytes) -> str:
    return "data:image/png;base64," + base64.b64encode(png).decode("ascii")
