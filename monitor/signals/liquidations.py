"""One liquidations number for the rules and the report's chart: the cross-venue aggregate (CoinGlass)
while it is current, else the sum of the venues that publish their own (OKX, Gate) — never both, since
the aggregate already contains those venues."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime, timedelta

import pandas as pd

from monitor.signals import indicators as ind
from monitor.signals.health import spacing, stale_threshold
from monitor.signals.inputs import VENUES

SIDES = ("liq_long_usd", "liq_short_usd")


def liquidations(by_metric: Mapping[str, Mapping[str, pd.Series]], now: datetime,
                 stale_after: timedelta = timedelta(hours=6)) -> tuple[dict[str, pd.Series], list[str]]:
    """({metric: USD per bar}, sources used) for liq_long_usd / liq_short_usd given {metric: {source:
    series}}. The same family of sources is used for both sides; the aggregate counts as current while
    its newest bar is younger than 2 bars + ``stale_after``."""
    now_ts = pd.Timestamp(now)
    parts = {metric: {src: s for src, s in by_metric.get(metric, {}).items() if len(ind.clean(s))}
             for metric in SIDES}
    aggregates = sorted({src for per in parts.values() for src, s in per.items()
                         if src not in VENUES and _current(s, now_ts, stale_after)})
    venues = sorted({src for per in parts.values() for src in per if src in VENUES})
    used = aggregates[:1] or venues
    out = {}
    for metric, per in parts.items():
        chosen = [ind.clean(per[src]) for src in used if src in per]
        chosen = [s[s.index <= now_ts] for s in chosen]
        if len(chosen) == 1:
            out[metric] = chosen[0]
        elif chosen:
            out[metric] = pd.concat(chosen).groupby(level=0).sum().sort_index()
    return out, (used if out else [])


def _current(series: pd.Series, now: pd.Timestamp, stale_after: timedelta) -> bool:
    s = ind.clean(series)
    s = s[s.index <= now]
    if s.empty:
        return False
    step = spacing(s.index)
    fresh: bool = now - s.index[-1] <= stale_threshold(step, step, stale_after)
    return fresh
