"""Venues whose volume copies another's ~1:1 (wash or relayed prints): found once per judgement, so every
rule that sums volume leaves the same copies out whatever order the rules run in."""

from __future__ import annotations

from datetime import timedelta
from itertools import combinations
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from monitor.signals import indicators as ind
from monitor.signals.health import spacing
from monitor.signals.inputs import VENUES, View
from monitor.timeutil import parse_duration

if TYPE_CHECKING:
    from monitor.config import SignalsConfig

DAY = timedelta(days=1)


def mirrored_pairs(view: View, metric: str, window: timedelta, cfg: SignalsConfig
                   ) -> list[tuple[str, str, float, int]]:
    """(a, b, matching share, bars) for venue pairs whose bars match within the tolerance on most bars.

    Venues are compared on their own bar size: daily bars over the window (reaching back far enough for
    mirror_min_points of them), hourly bars over the last mirror_hourly_span, so days of hour-by-hour
    copying are not diluted by a week of honest hours."""
    series = view.metric(metric, tuple(s for s in view.sources(metric) if s in VENUES))
    by_step: dict[bool, dict[str, pd.Series]] = {}
    for venue, s in series.items():
        by_step.setdefault(spacing(s.index) >= DAY * 0.9, {})[venue] = s
    out = []
    for daily, group in sorted(by_step.items()):
        if len(group) < 2:
            continue
        if daily:
            step = max(spacing(s.index) for s in group.values())
            since = view.now - max(window, step * (cfg.mirror_min_points + 2))
        else:
            since = view.now - parse_duration(cfg.mirror_hourly_span)
        parts = {v: s[s.index > since] for v, s in group.items()}
        table = ind.wide(parts, freq="1D" if daily else "1h", ffill_limit=0)
        if not table.empty:
            out += _matching(table, cfg)
    return out


def _matching(table: pd.DataFrame, cfg: SignalsConfig) -> list[tuple[str, str, float, int]]:
    out = []
    tol = cfg.mirror_tolerance_pct / 100
    for a, b in combinations(sorted(table.columns), 2):
        x, y = table[a].to_numpy(), table[b].to_numpy()
        ok = np.isfinite(x) & np.isfinite(y) & (x > 0) & (y > 0)
        n = int(ok.sum())
        if n < cfg.mirror_min_points:
            continue
        # a constant series matches anything scaled 1:1 trivially; require real variation
        if np.std(x[ok]) <= 1e-9 * max(np.mean(x[ok]), 1e-12):
            continue
        share = float((np.abs(x[ok] / y[ok] - 1) <= tol).mean())
        if share >= cfg.mirror_share:
            out.append((a, b, share, n))
    return out
