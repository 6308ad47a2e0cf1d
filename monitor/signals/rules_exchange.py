"""Exchange-side events (delistings, settlements, funding interval and cap changes) and extreme funding."""

from __future__ import annotations

import math
from datetime import datetime
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from monitor import model as m
from monitor.model import Event, Flag
from monitor.signals import indicators as ind
from monitor.signals.context import Context, rnd
from monitor.signals.inputs import VENUES
from monitor.timeutil import parse_duration

if TYPE_CHECKING:
    from monitor.config import SignalsConfig

EXCHANGE_EVENT_KINDS = ("perp_delisted", "perp_settled", "funding_regime_changed")
PLAUSIBLE = {m.FUNDING_INTERVAL_H: (0.0, 168.0), m.FUNDING_CAP: (0.0, 1.0)}  # hours; fraction per interval
SCHEDULE_KEYS = ("scheduled_at", "scheduled", "delivery_date", "delisting_time")  # when a notice takes effect


def _changes(ctx: Context, metric: str, since: pd.Timestamp) -> list[dict[str, Any]]:
    """Per venue, each change of a step series (funding interval, cap) inside the window."""
    out = []
    lo, hi = PLAUSIBLE[metric]
    for src in ctx.view.sources(metric):
        s = ind.clean(ctx.view.series(metric, src))
        v = s.to_numpy()
        ok = (v > lo) & (v <= hi)  # an implausible record is bad data, not a regime change
        v, t = v[ok], ind.ns(s.index)[ok]
        if len(v) < 2:
            continue
        hit = np.flatnonzero((np.abs(np.diff(v)) > 1e-12) & (t[1:] >= since.value)) + 1
        for pos in hit:  # numpy, not Series.diff: a year of hourly steps per venue, few changes
            ts = pd.Timestamp(int(t[pos]), tz="UTC")
            out.append({"venue": src, "ts": ts.isoformat(), "from": rnd(v[pos - 1]), "to": rnd(v[pos])})
    return out


def scheduled_time(e: Event) -> pd.Timestamp | None:
    """When an exchange notice takes effect (a delisting's scheduled time in its detail), if it says."""
    for key in SCHEDULE_KEYS:
        when = _as_time(e.detail.get(key))
        if when is not None:
            return when
    return None


def _as_time(value: Any) -> pd.Timestamp | None:
    if value is None or isinstance(value, bool):
        return None
    try:
        if isinstance(value, (int, float)):
            unit = "ms" if abs(value) >= 1e11 else "s"
            ts = pd.Timestamp(int(value), unit=unit, tz="UTC")
        else:
            ts = pd.Timestamp(value if isinstance(value, datetime) else str(value))
            ts = ts.tz_localize("UTC") if ts.tzinfo is None else ts.tz_convert("UTC")
    except (TypeError, ValueError, OverflowError):
        return None
    return ts if ts.value > 0 else None


def _relevant_until(e: Event) -> pd.Timestamp:
    """A notice stays news until the later of its stamp and its scheduled time: an announcement of a
    delisting next week is news until then; an old one ages out of the window."""
    ts, when = pd.Timestamp(e.ts), scheduled_time(e)
    return max(ts, when) if when is not None else ts


def _at_cap(ctx: Context, venue: str, cfg: SignalsConfig) -> bool:
    """The venue's latest per-settlement funding sits at its published cap (``funding_cap``, a fraction
    per interval)."""
    rate = ind.value_at(ctx.view.series(m.FUNDING_RATE, venue), ctx.now)
    cap = ind.value_at(ctx.view.series(m.FUNDING_CAP, venue), ctx.now)
    return math.isfinite(rate) and math.isfinite(cap) and cap > 0 and abs(rate) >= cfg.funding_cap_share * cap


def _funding_8h_now(ctx: Context) -> dict[str, float]:
    """Venue -> latest funding per 8 h, venues whose funding is current only."""
    out = {}
    for src, s in ctx.view.funding_8h_by_source().items():
        metric = m.FUNDING_RATE_8H if src in ctx.view.sources(m.FUNDING_RATE_8H) else m.FUNDING_RATE
        if src in VENUES and ctx.metric_fresh(metric, src):
            v = ind.value_at(s, ctx.now)
            if math.isfinite(v):
                out[src] = v
    return out


def exchange_event(ctx: Context, cfg: SignalsConfig) -> list[Flag]:
    """Delisting (announced or done), settlement, funding interval or cap change in the event window.
    High for a delisting, or for an interval shortened while funding is at the cap or extreme."""
    since = ctx.now - parse_duration(cfg.event_window)
    events = [e for e in ctx.events if e.kind in EXCHANGE_EVENT_KINDS and _relevant_until(e) >= since]
    intervals = _changes(ctx, m.FUNDING_INTERVAL_H, since)
    caps = _changes(ctx, m.FUNDING_CAP, since)
    if not (events or intervals or caps):
        return []
    parts = [f"{e.kind} ({e.detail.get('venue') or e.source or e.chain})" for e in events]
    parts += [f"funding interval {c['from']:g}h→{c['to']:g}h on {c['venue']}" for c in intervals]
    parts += [f"funding cap ±{c['from'] * 100:g}%→±{c['to'] * 100:g}% on {c['venue']}" for c in caps]
    shortened = sorted({c["venue"] for c in intervals if c["to"] < c["from"]})
    funding = _funding_8h_now(ctx)
    at_cap = [v for v in shortened if _at_cap(ctx, v, cfg)]
    extreme = [v for v in shortened if abs(funding.get(v, 0.0)) >= cfg.extreme_funding_high]
    day = pd.Timedelta(days=1)
    evidence = {
        "events": [{"kind": e.kind, "ts": e.ts.isoformat(), "source": e.source, "detail": e.detail} for e in events],
        "funding_interval_changes": intervals, "funding_cap_changes": caps,
        "interval_shortened": shortened, "at_cap": at_cap,
        "funding_8h_pct": {v: rnd(funding[v] * 100) for v in shortened if v in funding},
        "oi_change_24h_pct": rnd(ctx.oi_growth(day)),
        "venues_reporting_oi": [v for v in ctx.view.sources(m.OI_USD) if v in VENUES and ctx.fresh(v)],
        "thresholds": {"funding_cap_share": cfg.funding_cap_share,
                       "extreme_funding_high_pct": cfg.extreme_funding_high * 100},
    }
    severe = any(e.kind == "perp_delisted" for e in events) or bool(at_cap or extreme)
    if at_cap or extreme:
        parts.append(f"interval shortened at the cap or with extreme funding on {', '.join(sorted({*at_cap, *extreme}))}")
    return [Flag("exchange_event", "high" if severe else "warn", "; ".join(parts), evidence, window=cfg.event_window)]


def extreme_funding(ctx: Context, cfg: SignalsConfig) -> list[Flag]:
    """Funding per 8 h beyond extreme_funding_warn / _high of either sign on any venue: longs paying
    shorts (crowded longs) or shorts paying longs (crowded shorts). Normalised by each venue's interval."""
    funding = _funding_8h_now(ctx)
    if not funding:
        return []
    worst = max(funding, key=lambda v: abs(funding[v]))
    f = funding[worst]
    if abs(f) < cfg.extreme_funding_warn:
        return []
    sev = "high" if abs(f) >= cfg.extreme_funding_high else "warn"
    side = "longs pay shorts: crowded longs" if f > 0 else "shorts pay longs: crowded shorts"
    evidence = {"funding_8h_pct": {v: rnd(x * 100) for v, x in funding.items()}, "worst_venue": worst,
                "side": "longs" if f > 0 else "shorts",
                "thresholds": {"extreme_funding_warn_pct": cfg.extreme_funding_warn * 100,
                               "extreme_funding_high_pct": cfg.extreme_funding_high * 100}}
    return [Flag("extreme_funding", sev, f"funding {f * 100:+.2f}%/8h on {worst} ({side})", evidence, window="8h")]
