"""Time helpers: UTC conversion, epoch seconds and milliseconds, flooring, duration and Retry-After parsing.

Every datetime they return is timezone-aware UTC. ``utcnow`` is the clock for the store's bookkeeping; the
App carries its own clock (frozen under replay) and signals take ``now`` as an argument.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from email.utils import parsedate_to_datetime

_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([smhdw])\s*$")
_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}


def utcnow() -> datetime:
    return datetime.now(UTC)


def to_utc(value: datetime | str | int | float) -> datetime:
    """Accept a datetime, an ISO string (``Z`` or offset) or epoch seconds/milliseconds."""
    if isinstance(value, datetime):
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
    if isinstance(value, (int, float)):
        return from_epoch(value)
    text = str(value).strip()
    if re.fullmatch(r"-?\d+(\.\d+)?", text):
        return from_epoch(float(text))
    text = text.replace(" UTC", "+00:00").replace("Z", "+00:00")
    parsed = datetime.fromisoformat(text)
    return parsed.replace(tzinfo=UTC) if parsed.tzinfo is None else parsed.astimezone(UTC)


def from_epoch(value: int | float | str) -> datetime:
    """Epoch seconds or milliseconds (told apart by magnitude) to an aware UTC datetime."""
    number = float(value)
    if abs(number) >= 1e11:  # ms: 1e11 s would be year 5138
        number /= 1000.0
    return datetime.fromtimestamp(number, UTC)


def epoch_s(dt: datetime) -> int:
    return int(to_utc(dt).timestamp())


def epoch_ms(dt: datetime) -> int:
    return round(to_utc(dt).timestamp() * 1000)


def floor(dt: datetime, step: timedelta) -> datetime:
    dt = to_utc(dt)
    seconds = int(step.total_seconds())
    return from_epoch(epoch_s(dt) // seconds * seconds)


def parse_duration(text: str | int | float) -> timedelta:
    """``"30s"``, ``"15m"``, ``"4h"``, ``"7d"``, ``"2w"`` or a number of seconds."""
    if isinstance(text, (int, float)):
        return timedelta(seconds=float(text))
    match = _DURATION.match(text)
    if not match:
        raise ValueError(f"not a duration: {text!r} (use e.g. 30s, 15m, 4h, 7d)")
    try:
        return timedelta(seconds=float(match.group(1)) * _UNITS[match.group(2)])
    except OverflowError:
        raise ValueError(f"not a duration: {text!r} is too long") from None


def parse_retry_after(value: str | None, now: datetime | None = None) -> float | None:
    """Retry-After as delta-seconds or an HTTP-date; None when absent or unreadable."""
    if value is None or not str(value).strip():
        return None
    text = str(value).strip()
    try:
        return max(0.0, float(text))
    except ValueError:
        pass
    try:
        when = parsedate_to_datetime(text)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - (now or utcnow())).total_seconds())
