"""An Agg canvas for drawing many charts of the same shape, and its PNG encoding.

Matplotlib 3.11 lays out and rasterises text glyph by glyph on every draw: about half of a chart's
drawing time. Titles, series keys, dates and most tick labels repeat from one token's chart to the
next, so each string's bitmap is kept (the way Matplotlib up to 3.10 drew a string: one bitmap, placed
on whole pixels). Imported only when a chart is drawn (it imports matplotlib and Pillow).
"""

from __future__ import annotations

import io
import math
from typing import Any

import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg, RendererAgg, get_hinting_flag
from PIL import Image

TEXT_CACHE_MAX = 4096  # strings; a 960x1680 chart draws ~60
PNG_COLORS = 64  # palette entries: the charts use ~12 colours and their anti-aliased blends
FASTOCTREE = 2  # Image.Quantize.FASTOCTREE (named only from Pillow 9.1)


class TextCacheRenderer(RendererAgg):
    """RendererAgg that rasterises each (string, font) once (the charts' text is always anti-aliased)."""

    def __init__(self, width: float, height: float, dpi: float):
        super().__init__(width, height, dpi)  # type: ignore[no-untyped-call]  # matplotlib's Agg backend is unannotated
        self._bitmaps: dict[tuple[str, int], tuple[Any, float, float]] = {}

    def draw_text(self, gc: Any, x: float, y: float, s: str, prop: Any, angle: float, ismath: Any = False,
                  mtext: Any = None) -> None:
        if ismath:
            super().draw_text(gc, x, y, s, prop, angle, ismath, mtext)  # type: ignore[no-untyped-call]  # idem
            return
        key = (s, hash(prop))  # hash(prop) covers the size; turning is at draw time
        hit = self._bitmaps.get(key)
        if hit is None:
            font = self._prepare_font(prop)  # type: ignore[no-untyped-call]  # idem
            font.set_text(s, 0, flags=get_hinting_flag())  # angle 0: draw_text_image rotates the bitmap
            font.draw_glyphs_to_bitmap(antialiased=gc.get_antialiased())
            xo, _ = font.get_bitmap_offset()  # (x min, 0)
            hit = (np.array(font.get_image()), xo / 64.0, font.get_descent() / 64.0)
            if len(self._bitmaps) >= TEXT_CACHE_MAX:
                self._bitmaps.clear()
            self._bitmaps[key] = hit
        image, xo, descent = hit
        # bearing and descent turn with the text; whole pixels, as Matplotlib placed a string's bitmap
        cos, sin = math.cos(math.radians(angle)), math.sin(math.radians(angle))
        x = round(x + xo * cos + descent * sin)
        y = round(y - xo * sin + descent * cos)
        self._renderer.draw_text_image(image, x, y + 1, angle, gc)


class ChartCanvas(FigureCanvasAgg):
    """FigureCanvasAgg whose renderer is a TextCacheRenderer (kept while the size stays the same)."""

    def get_renderer(self) -> RendererAgg:
        w, h = self.get_width_height(physical=True)
        key = (w, h, self.figure.dpi)
        if self._lastKey != key:
            self.renderer = TextCacheRenderer(w, h, self.figure.dpi)
            self._lastKey = key
        renderer: RendererAgg = self.renderer
        return renderer


def png_bytes(canvas: FigureCanvasAgg) -> bytes:
    """Draw and encode as a palette PNG: a third of the bytes of RGBA and faster to compress; the
    colours are a handful of flat ones, so 64 entries keep every edge."""
    canvas.draw()
    size = canvas.get_width_height(physical=True)
    rgb = Image.frombuffer("RGBA", size, canvas.buffer_rgba(), "raw", "RGBA", 0, 1).convert("RGB")
    buf = io.BytesIO()
    rgb.quantize(PNG_COLORS, method=FASTOCTREE).save(buf, format="png", compress_level=1)
    return buf.getvalue()
