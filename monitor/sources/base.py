"""What every source returns, and the helpers parsers share to build observation frames."""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any, Literal

import pandas as pd

from monitor.errors import ParseError
from monitor.model import OBS_COLUMNS, Event, PollRun


@dataclass
class FetchResult:
    """One source's data for one token over a window. Written to the store in one transaction."""

    source: str
    token: str
    observations: pd.DataFrame = field(default_factory=lambda: empty_frame())
    events: list[Event] = field(default_factory=list)
    runs: list[PollRun] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)  # e.g. "liquidations: not published by binance"
    unsupported: list[str] = field(default_factory=list)  # metrics the venue does not offer
    partial: bool = False  # some endpoints failed; what is here is complete per series
    removed_tx: list[tuple[str, str]] = field(default_factory=list)  # reorged-out (chain, tx hash) pairs


def empty_frame() -> pd.DataFrame:
    frame = pd.DataFrame({c: pd.Series(dtype="object") for c in OBS_COLUMNS})
    frame["ts"] = pd.to_datetime(frame["ts"], utc=True)
    frame["value"] = frame["value"].astype("float64")
    return frame


def to_float(value: Any, what: str, *, source: str = "", allow_negative: bool = True) -> float:
    """Number or numeric string -> finite float, or ParseError naming the field."""
    if isinstance(value, bool) or value is None or value == "":
        raise ParseError(f"{what}: expected a number, got {value!r}", source=source)
    try:
        number = float(value)
    except (TypeError, ValueError, OverflowError):  # OverflowError: ints beyond the float range
        raise ParseError(f"{what}: expected a number, got {str(value)[:40]!r}", source=source) from None
    if not math.isfinite(number):
        raise ParseError(f"{what}: non-finite number {str(value)[:40]!r}", source=source)
    if not allow_negative and number < 0:
        raise ParseError(f"{what}: negative value {number}", source=source)
    return number


Record = tuple[Any, str, str, str, float]  # (ts: datetime or epoch s/ms, source, token, metric, value)


def make_frame(records: Iterable[Record]) -> pd.DataFrame:
    """(ts, source, token, metric, value) tuples -> long frame, ts as UTC, sorted, duplicates collapsed.

    ``ts`` may be datetimes, or epoch seconds/milliseconds (ints).
    """
    rows = list(records)
    if not rows:
        return empty_frame()
    frame = pd.DataFrame(rows, columns=list(OBS_COLUMNS))
    ts = frame["ts"]
    if pd.api.types.is_numeric_dtype(ts):
        unit: Literal["ms", "s"] = "ms" if ts.abs().max() >= 1e11 else "s"
        frame["ts"] = pd.to_datetime(ts, unit=unit, utc=True)
    else:
        frame["ts"] = pd.to_datetime(ts, utc=True)
    frame["value"] = frame["value"].astype("float64")
    frame = frame.drop_duplicates(subset=["ts", "source", "token", "metric"], keep="last")
    return frame.sort_values(["token", "metric", "source", "ts"], ignore_index=True)


def require(payload: Any, key: str, *, source: str = "", where: str = "") -> Any:
    """payload[key] or a ParseError saying which field of which payload is missing."""
    if not isinstance(payload, dict):
        raise ParseError(f"{where or 'payload'}: expected an object, got {type(payload).__name__}", source=source)
    if key not in payload:
        raise ParseError(f"{where or 'payload'}: missing field {key!r}", source=source)
    return payload[key]


@dataclass
class SourceContext:
    """What the composition root hands each source's ``build(name, cfg, ctx)``.

    Sources never read env vars, the clock or global sessions themselves: everything outside comes in
    here, so a test swaps it without patching.
    """

    session_factory: Any  # () -> requests.Session
    limiters: Any  # monitor.sources.ratelimit.Limiters
    redactor: Any  # monitor.sources.redact.Redactor
    health: Any  # monitor.sources.http.HealthLog
    secrets: Any  # monitor.config.Secrets
    cache_dir: Any  # pathlib.Path for on-disk caches (ccxt markets)
    now: Any  # () -> aware UTC datetime
    factories: dict[str, Any] = field(default_factory=dict)  # "ccxt", "web3" overrides for tests
    config: Any = None  # the whole Config, for sources that need other sections
