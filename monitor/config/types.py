"""Field types checked when the config loads, so a value the code cannot use is a config error with its
YAML path (exit 78), never a crash at the first poll.

- ``Duration`` ("30s", "15m", "4h", "7d", "2w") is kept as written; ``Duration`` itself must be longer than
  zero (a window, an interval), ``DurationOrZero`` may be zero (an overlap, a cache age, a back-off).
- ``PerpSymbol`` / ``SpotSymbol``: ccxt unified symbols, ``BASE/QUOTE:SETTLE`` and ``BASE/QUOTE``.
- ``UtcDate``: an ISO-8601 date or time (UTC unless an offset is given) or epoch seconds/milliseconds.
- ``HeaderText``: text bound for a mail header: no line break or control character, raw or encoded.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Annotated, Any

from pydantic import AfterValidator, BeforeValidator

from monitor.timeutil import parse_duration, to_utc

MAX_DURATION = timedelta(days=3650)


def _duration(allow_zero: bool) -> Callable[[str], str]:
    def check(value: str) -> str:
        try:
            span = parse_duration(value)
        except ValueError:
            raise ValueError(f"{value!r} is not a duration; write a number and one of s, m, h, d, w "
                             "(e.g. 30s, 15m, 4h, 7d)") from None
        if not span and not allow_zero:
            raise ValueError(f"{value!r} must be longer than zero")
        if span > MAX_DURATION:  # date arithmetic with it would leave the calendar
            raise ValueError(f"{value!r} is longer than {MAX_DURATION.days} days")
        return value

    return check


Duration = Annotated[str, AfterValidator(_duration(allow_zero=False))]
DurationOrZero = Annotated[str, AfterValidator(_duration(allow_zero=True))]

# ccxt unified symbols: BASE/QUOTE for spot, BASE/QUOTE:SETTLE for a perpetual swap (a dated future adds
# -YYMMDD, which is not a perp). Bases may start with digits (1000PEPE) or a lowercase multiplier (kPEPE).
_ASSET = r"[A-Za-z0-9][A-Za-z0-9._-]*"
_PERP = re.compile(rf"{_ASSET}/{_ASSET}:{_ASSET}")
_SPOT = re.compile(rf"{_ASSET}/{_ASSET}")
_DATED = re.compile(r".*-\d{6}$")


def _perp(value: str) -> str:
    if not _PERP.fullmatch(value) or _DATED.match(value):
        raise ValueError(f"{value!r} is not a ccxt unified perpetual symbol like AIA/USDT:USDT "
                         "(BASE/QUOTE:SETTLE)")
    return value


def _spot(value: str) -> str:
    if not _SPOT.fullmatch(value):
        raise ValueError(f"{value!r} is not a ccxt unified spot symbol like AIA/USDT (BASE/QUOTE)")
    return value


PerpSymbol = Annotated[str, AfterValidator(_perp)]
SpotSymbol = Annotated[str, AfterValidator(_spot)]


def _utc(value: Any) -> datetime:
    # YAML itself turns an unquoted 2025-10-01 into a date (read back through its ISO text) and
    # 2025-10-01T00:00:00Z into a datetime
    if isinstance(value, bool):  # YAML reads yes/no/true as booleans, and a bool is an int
        raise ValueError("expected an ISO-8601 date or time (e.g. 2025-10-01T00:00:00Z) or epoch seconds")
    try:
        return to_utc(value)
    except (ValueError, OverflowError, OSError):  # OverflowError, OSError: epoch beyond the platform's range
        raise ValueError(f"{value!r} is not an ISO-8601 date or time (e.g. 2025-10-01T00:00:00Z) "
                         "or epoch seconds") from None


UtcDate = Annotated[datetime, BeforeValidator(_utc)]

# an encoded line break is as bad as a raw one: %0A, =0A (quoted-printable), \n and RFC 2047 =?...?= words
_ENCODED_BREAK = re.compile(r"%0[ad]|=0[ad]|\\[rn]|=\?", re.IGNORECASE)


def _header(value: str) -> str:
    for ch in value:
        if unicodedata.category(ch) in ("Cc", "Zl", "Zp"):
            raise ValueError(f"must not contain a line break or control character ({ch!r}); "
                             "it would end up in a mail header")
    if _ENCODED_BREAK.search(value):
        raise ValueError("must not contain an encoded line break or an encoded word (%0A, =0A, \\n, =?); "
                         "write the text plainly, it is encoded when sent")
    return value


HeaderText = Annotated[str, AfterValidator(_header)]
