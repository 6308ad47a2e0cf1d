"""Evidence as a person reads it: one title line plus a few labelled facts with units.

Shared by every human-facing renderer (terminal, Markdown, HTML, digest, chat). Raw evidence stays
as it is in JSON outputs. Evidence shapes change as rules evolve, so formatting goes by key where it
knows the key, by key suffix where it does not, and never fails or prints raw JSON.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from monitor.model import Flag, Verdict
from monitor.timeutil import to_utc

DEFAULT_FACTS = 6
DASH = "–"


@dataclass(frozen=True)
class Fact:
    label: str
    value: str


@dataclass(frozen=True)
class FlagText:
    rule: str
    severity: str
    title: str
    facts: tuple[Fact, ...]


RULE_TITLES = {
    "oi_surge_unsupported": "OI surge without on-chain growth",
    "oi_surge_with_redeployment": "OI surge next to a contract event",
    "perp_spot_ratio": "Perp/spot volume",
    "oi_exceeds_economy": "OI exceeds the economy",
    "crowded_longs": "Crowded longs",
    "short_buildup": "Short build-up",
    "oi_price_regime": "OI/price regime",
    "liquidation_spike": "Liquidation spike",
    "exchange_event": "Exchange event",
    "data_blind_spot": "Data blind spot",
    "source_disagreement": "Sources disagree",
}

EVENT_LABELS = {
    "proxy_upgraded": "proxy upgrade", "admin_changed": "admin change", "beacon_upgraded": "beacon upgrade",
    "contract_created": "contract creation", "ownership_transferred": "ownership transfer",
    "liquidity_migrated": "liquidity migration", "token_migration": "token migration",
    "perp_delisted": "delisting", "perp_settled": "settlement", "funding_regime_changed": "funding interval change",
}

METRIC_NAMES = {
    "oi_usd": "OI", "oi_coin": "OI (coins)", "tvl_usd": "TVL", "tvl_token": "TVL (token units)",
    "active_addresses": "active addresses", "transfer_count": "transfers", "holders": "holders",
    "dex_volume_usd": "DEX volume", "dev_commits": "dev commits", "dev_contributors": "dev contributors",
    "perp_volume_usd": "perp volume", "spot_volume_usd": "spot volume", "market_cap_usd": "market cap",
    "funding_rate": "funding", "funding_rate_8h": "funding (8h)", "price_close": "price",
    "price_close_1h": "price (1h)", "liq_long_usd": "long liquidations", "liq_short_usd": "short liquidations",
    "long_short_account_ratio": "long/short accounts",
}

LABELS = {
    "oi_usd": "Open interest", "oi_growth_pct": "OI growth", "best_onchain_growth_pct": "Best on-chain growth",
    "best_onchain_metric": "Best on-chain series", "onchain_growth_pct": "On-chain growth",
    "perp_volume_24h_to_oi": "Perp volume 24h / OI", "venues": "Venues", "market_cap_usd": "Market cap",
    "tvl_usd": "TVL", "oi_to_market_cap": "OI / market cap", "oi_to_tvl": "OI / TVL",
    "ratio": "Perp / spot volume", "perp_volume_24h_usd": "Perp volume 24h", "spot_volume_24h_usd": "Spot volume 24h",
    "funding_8h_pct": "Funding", "long_short_accounts": "Long/short accounts", "rsi": "RSI(14)",
    "liquidations_24h_usd": "Liquidations 24h", "zscore": "z-score vs baseline", "pct_of_oi": "Share of OI",
    "baseline_days": "Baseline", "oi_change_pct": "OI change", "price_change_pct": "Price change",
    "oi_change_24h_pct": "OI change 24h", "surge_at": "Steepest day", "matching_share": "Matching bars",
    "bars": "Bars compared", "excluded_from_totals": "Left out of totals", "tolerance_pct": "Tolerance",
    "deviation_pct": "Deviation", "during_move": "During a market move", "market_sources": "Dark market sources",
    "move": "Market move", "regime": "Regime", "price_source": "Price from", "thresholds": "Thresholds",
    "funding_sources": "Funding from", "long_short_by_venue": "Long/short by venue", "events": "Event",
    "funding_interval_changes": "Funding interval", "funding_cap_changes": "Funding cap",
    "venues_reporting_oi": "Venues reporting OI", "perp_sources": "Perp volume from",
    "spot_sources": "Spot volume from", "metric": "Series", "values": "Values", "at": "At",
    "liquidations_pct_of_oi": "Liquidations / OI", "threshold_pct": "Threshold", "onchain": "On-chain",
    "surge_from": "Surge from", "surge_to": "Surge to", "carried_by": "Carried by",
}

# Shown first, in this order (the facts that explain the flag), and last (context).
_FIRST = ("windows", "findings", "events", "funding_interval_changes", "funding_cap_changes", "oi_growth_pct",
          "best_onchain_growth_pct", "ratio", "funding_8h_pct", "long_short_accounts", "rsi", "liquidations_24h_usd",
          "pct_of_oi", "zscore", "oi_to_market_cap", "oi_to_tvl", "oi_change_pct", "price_change_pct",
          "oi_change_24h_pct", "during_move", "move", "deviation_pct", "matching_share", "oi_usd")
# Shown last, so the default view keeps the facts that explain the flag.
_LOW = ("thresholds", "tolerance_pct", "threshold_pct", "price_source", "funding_sources", "perp_sources",
        "spot_sources", "venues_reporting_oi", "long_short_by_venue", "onchain_growth_pct", "baseline_days",
        "onchain", "zscore_by_series", "surge_from", "surge_to")
_WINDOW = re.compile(r"^\d+(\.\d+)?[mhdw]$")
_ISO = re.compile(r"^\d{4}-\d{2}-\d{2}([T ]\d{2}:\d{2}(:\d{2}(\.\d+)?)?)?(Z|[+-]\d{2}:?\d{2})?$")
_SNAKE = re.compile(r"\b[a-z][a-z0-9]*(?:_[a-z0-9]+)+\b")
_DOLLARS = re.compile(r"\$(\d{1,3}(?:,\d{3})+|\d{5,})(?:\.\d+)?")


# ---------------------------------------------------------------- scalar formatters


def _finite(x: Any) -> float | None:
    if isinstance(x, bool) or x is None:
        return None
    try:
        f = float(x)
    except (TypeError, ValueError):
        return None
    return f if math.isfinite(f) else None


def fmt_usd(x: Any) -> str:
    f = _finite(x)
    if f is None:
        return DASH
    sign, a = ("-" if f < 0 else ""), abs(f)
    for size, suffix in ((1e12, "T"), (1e9, "B"), (1e6, "M"), (1e3, "K")):
        if a >= size * 0.9995:
            return f"{sign}${a / size:,.1f}{suffix}"
    return f"{sign}${a:,.0f}" if a >= 1 else f"{sign}${a:.2f}"


def fmt_pct(x: Any, signed: bool = True) -> str:
    f = _finite(x)
    if f is None:
        return DASH
    a = abs(f)
    spec = ",.0f" if a >= 10 or a == 0 else (".1f" if a >= 0.1 else ".2f")
    text = f"{f:{'+' if signed and f != 0 else ''}{spec}}"
    return text + "%"


def fmt_funding(x_fraction_per_8h: Any) -> str:
    f = _finite(x_fraction_per_8h)
    return DASH if f is None else f"{f * 100:.3f}%/8h"


def fmt_num(x: Any) -> str:
    f = _finite(x)
    if f is None:
        return DASH
    if f == int(f) and abs(f) < 1e15:
        return f"{int(f):,}"
    a = abs(f)
    if a >= 100:
        return f"{f:,.0f}"
    return f"{f:.2f}" if a >= 0.01 else f"{f:.2g}"


def fmt_hours(h: Any) -> str:
    f = _finite(h)
    if f is None:
        return DASH
    return f"{f:.0f} h" if abs(f) < 72 else f"{f / 24:.1f} d"


def fmt_ts(value: Any) -> str:
    try:
        dt = to_utc(value)
    except (TypeError, ValueError, OverflowError, OSError):
        return str(value)
    return dt.strftime("%Y-%m-%d %H:%M UTC")


def metric_name(metric: Any) -> str:
    return METRIC_NAMES.get(str(metric), str(metric).replace("_", " "))


def label_of(key: Any) -> str:
    key = str(key)
    if key in LABELS:
        return LABELS[key]
    words = [w for w in key.split("_") if w not in ("usd", "pct")]
    if key.endswith("_8h_pct"):
        words = words[:-1]
    words = ["OI" if w == "oi" else "TVL" if w == "tvl" else w for w in words] or [key]
    text = " ".join(words)
    return text[:1].upper() + text[1:]


def fmt_value(key: Any, value: Any) -> str:
    """One evidence value as text, chosen by its key; never raw JSON."""
    key = str(key)
    if value is None:
        return DASH
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, datetime):
        return fmt_ts(value)
    if isinstance(value, Mapping):
        return _inline(value, key)
    if isinstance(value, (list, tuple, set, frozenset)):
        items = [fmt_value(key, v) for v in value]
        return ", ".join(items) if items else "none"
    if isinstance(value, str):
        if _ISO.match(value.strip()):
            return fmt_ts(value)
        if key in ("metric", "best_onchain_metric"):
            return metric_name(value)
        return value
    if _finite(value) is None:
        return DASH if isinstance(value, (int, float)) or hasattr(value, "item") else str(value)
    return _number(key, float(value))


def _number(key: str, f: float) -> str:
    k = key.lower()
    if k.endswith("8h_pct"):
        return f"{f:.3f}%/8h"
    if k.endswith("_usd"):
        return fmt_usd(f)
    if "pct" in k.split("_"):
        signed = any(w in k for w in ("growth", "change", "deviation", "move"))
        return fmt_pct(f, signed=signed)
    if "share" in k:
        return fmt_pct(f * 100, signed=False)
    if k.endswith("_h") or k.startswith("hours"):
        return fmt_hours(f)
    if k.endswith("_days"):
        return f"{fmt_num(f)} d"
    return fmt_num(f)


def _inline(d: Mapping[Any, Any], parent: str = "") -> str:
    """A nested mapping as 'a: x, b: y'; children named by source or metric take the parent's unit."""
    parts = []
    for k, v in d.items():
        k = str(k)
        if v is None or (isinstance(v, (list, tuple, dict, set)) and not v):
            continue
        unit_key = parent if parent and _has_unit(parent) else k  # {"dex_volume_usd": 8.0} under a _pct
        parts.append(f"{_short_label(k)}: {fmt_value(unit_key, v)}")
    return ", ".join(parts) if parts else "none"


def _has_unit(key: str) -> bool:
    return key.endswith(("_usd", "_pct", "_h", "_days", "share", "_at", "ts")) or key in LABELS


def _short_label(key: Any) -> str:
    key = str(key)
    if key in METRIC_NAMES:
        return METRIC_NAMES[key]
    return key if _WINDOW.match(key) or key.isalpha() else label_of(key).lower().replace("oi", "OI")


# ---------------------------------------------------------------- flags


def flag_text(flag: Flag, *, verbose: bool = False) -> FlagText:
    facts = _facts(flag.evidence if isinstance(flag.evidence, Mapping) else {"evidence": flag.evidence})
    out = tuple(f for _, f in facts)
    return FlagText(rule=flag.rule, severity=flag.severity, title=_title(flag),
                    facts=out if verbose else out[:DEFAULT_FACTS])


def _title(flag: Flag) -> str:
    text = str(flag.message or RULE_TITLES.get(flag.rule, flag.rule.replace("_", " ")))
    text = _DOLLARS.sub(lambda m: fmt_usd(float(m.group(0)[1:].replace(",", ""))), text)
    text = _SNAKE.sub(lambda m: EVENT_LABELS.get(m.group(0)) or metric_name(m.group(0)), text)
    return text.replace("{", "(").replace("}", ")").replace("[", "(").replace("]", ")")


def _facts(evidence: Mapping[Any, Any], suffix: str = "") -> list[tuple[str, Fact]]:
    out: list[tuple[str, Fact]] = []
    for key, value in evidence.items():
        key = str(key)
        label = label_of(key) + suffix
        if value is None or value == [] or value == {}:
            continue
        if key == "windows" and isinstance(value, Mapping):
            out += _window_facts(value)
        elif key == "findings" and isinstance(value, list):
            for item in value:
                facts = _facts(item) if isinstance(item, Mapping) else [(key, Fact("Finding", fmt_value(key, item)))]
                out += [(key if k not in _LOW else k, f) for k, f in facts]  # each finding stays together
        elif key == "events" and isinstance(value, list):
            out += [(key, Fact(label, _event(e))) for e in value]
        elif key in ("funding_interval_changes", "funding_cap_changes") and isinstance(value, list):
            out += [(key, Fact(label, _change(key, c))) for c in value]
        elif isinstance(value, Mapping) and value and key not in _LOW and all(
                isinstance(v, Mapping) and ("status" in v or "detail" in v) for v in value.values()):
            out += [(key, Fact(str(name), _health(item))) for name, item in value.items()]
        elif key == "rsi" and isinstance(value, Mapping):
            out.append((key, Fact(label, ", ".join(f"{_whole(v)} ({w})" for w, v in value.items()))))
        elif key == "best_onchain_growth_pct" and "best_onchain_metric" in evidence:
            out.append((key, Fact(label, f"{fmt_value(key, value)} ({metric_name(evidence['best_onchain_metric'])})")))
        elif key == "best_onchain_metric" and "best_onchain_growth_pct" in evidence:
            continue
        else:
            unit_key = evidence["metric"] if key == "values" and isinstance(evidence.get("metric"), str) else key
            out.append((key, Fact(label, fmt_value(unit_key, value))))
    return sorted(out, key=_rank)


def _rank(kf: tuple[str, Fact]) -> tuple[int, int]:
    key = kf[0]
    return (key in _LOW, _FIRST.index(key) if key in _FIRST else len(_FIRST))


def _window_facts(windows: Mapping[Any, Any]) -> list[tuple[str, Fact]]:
    per = [(w, v) for w, v in windows.items() if isinstance(v, Mapping)]
    if len(per) != len(windows):
        return [("windows", Fact("Windows", _inline(windows)))]
    # longest window first: the confirmation window follows its main one
    per.sort(key=lambda wv: -_window_hours(wv[0]))
    out: list[tuple[str, Fact]] = []
    for w, v in per:
        out += [("windows" if k not in _LOW else k, f) for k, f in _facts(v, suffix=f" ({w})")]
    return out


def _window_hours(label: Any) -> float:
    m = re.match(r"^(\d+(?:\.\d+)?)([mhdw])$", str(label))
    return float(m.group(1)) * {"m": 1 / 60, "h": 1, "d": 24, "w": 168}[m.group(2)] if m else 0.0


def _event(e: Any) -> str:
    if not isinstance(e, Mapping):
        return fmt_value("event", e)
    kind = str(e.get("kind", "event"))
    parts = [EVENT_LABELS.get(kind, kind.replace("_", " "))]
    if e.get("ts"):
        parts.append(fmt_ts(e["ts"]))
    detail: Mapping[str, Any] = e["detail"] if isinstance(e.get("detail"), Mapping) else {}
    where = detail.get("venue") or e.get("source") or e.get("chain")
    text = " ".join(parts) + (f" on {where}" if where else "")
    hours = _finite(e.get("hours_from_surge"))
    if hours is not None:
        text += f", {fmt_hours(abs(hours))} {'before' if hours < 0 else 'after'} the surge began"
    if e.get("address"):
        a = str(e["address"])
        text += f" ({a[:6]}…{a[-4:]})" if len(a) > 14 else f" ({a})"
    return text


def _whole(v: Any) -> str:
    x = _finite(v)
    return DASH if x is None else fmt_num(round(x))


def _cap_pct(x: Any) -> str:
    f = _finite(x)
    return DASH if f is None else f"±{fmt_num(f * 100)}%"


def _change(key: str, c: Any) -> str:
    if not isinstance(c, Mapping):
        return fmt_value(key, c)
    conv = _cap_pct if key == "funding_cap_changes" else fmt_hours
    text = f"{c.get('venue', '?')}: {conv(c.get('from'))} → {conv(c.get('to'))}"
    return text + (f" at {fmt_ts(c['ts'])}" if c.get("ts") else "")


def _health(item: Mapping[Any, Any]) -> str:
    status = item.get("status")
    rest = {k: v for k, v in item.items() if k not in ("status", "detail")}
    parts = [str(status)] if status else []
    if item.get("detail"):
        parts.append(str(item["detail"]))
    elif rest:
        parts.append(_inline(rest))
    return "; ".join(parts) or DASH


# ---------------------------------------------------------------- verdicts


def verdict_explanation(verdict: Verdict) -> list[str]:
    """Why this label (score parts, on-chain trend against OI) and what lowered the confidence."""
    b = verdict.evidence if isinstance(verdict.evidence, Mapping) else {}
    lines = [f"{verdict.label}: score {fmt_num(round(verdict.score))}/100" + _score_parts(b)]
    trend = b.get("trend") if isinstance(b.get("trend"), Mapping) else {}
    adoption = _finite(b.get("adoption")) or 0.0
    if trend:
        window = trend.get("window", "the trend window")
        series = metric_name(trend.get("best_onchain_metric") or "on-chain")
        line = (f"on-chain: {series} {fmt_pct(trend.get('best_onchain_growth_pct'))} over {window}, "
                f"against OI {fmt_pct(trend.get('oi_growth_pct'))}")
        lines.append(line + (f" — adoption credit -{adoption:.0f} points" if adoption > 0
                             else " — no adoption credit"))
    elif verdict.label != "insufficient data":
        lines.append("on-chain trend not judged (no comparable on-chain series)")
    lowered = [str(r) for r in verdict.reasons]
    if verdict.confidence < 1 or lowered:
        head = f"confidence {verdict.confidence:.2f}"
        lines.append(head + (", lowered by:" if lowered else ""))
        lines += [f"  {r}" for r in lowered]
    else:
        lines.append(f"confidence {verdict.confidence:.2f}: every expected source fresh and in agreement")
    return [_title(Flag("", "", line)) for line in lines]


def _score_parts(b: Mapping[str, Any]) -> str:
    rules: Mapping[str, Any] = b["rules"] if isinstance(b.get("rules"), Mapping) else {}
    parts = []
    if _finite(b.get("base")) is not None:
        parts.append(f"base {fmt_num(b['base'])}")
    for rule, pts in sorted(rules.items(), key=lambda kv: -(_finite(kv[1]) or 0)):
        if _finite(pts):
            parts.append(f"{RULE_TITLES.get(str(rule), str(rule).replace('_', ' ')).lower()} +{fmt_num(round(pts))}")
    adoption = _finite(b.get("adoption")) or 0.0
    if adoption > 0:
        parts.append(f"adoption -{fmt_num(round(adoption))}")
    return (" (" + ", ".join(parts) + ")") if parts else ""


def join_facts(facts: Iterable[Fact], sep: str = "; ") -> str:
    return sep.join(f"{f.label} {f.value}" for f in facts)
