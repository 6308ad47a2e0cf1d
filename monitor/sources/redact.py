"""Redaction of secrets from URLs and text before anything is logged, raised or stored."""

from __future__ import annotations

import logging
import re
import threading
from collections.abc import Iterable
from urllib.parse import quote, quote_plus, urlsplit

_SECRET_PARAMS = re.compile(
    r"(?i)([?&](?:api_?key|apikey|key|token|access_token|secret|signature|x_cg_demo_api_key|x_cg_pro_api_key)=)[^&#\s]*"
)
_AUTH_IN_URL = re.compile(r"(?i)(https?://)[^/@\s:]+:[^/@\s]+@")

# Every secret any Redactor of this process was given: third-party loggers (urllib3 logs each request
# line, query string included, at DEBUG) are scrubbed with it.
_KNOWN: set[str] = set()
_KNOWN_LOCK = threading.Lock()

# loggers of libraries that put request URLs into their records
LIBRARY_LOGGERS = ("urllib3.connectionpool", "urllib3.connection", "urllib3.util.retry", "urllib3.response")


PIECE = 8  # any piece of a secret this long is masked too: a length limit can cut a secret in half


def _variants(value: str) -> set[str]:
    return {value, quote(value, safe=""), quote_plus(value)}


def _secret_part(value: str) -> str:
    """The part of a secret whose pieces are secret: a URL's path and query, an address's local part."""
    parts = urlsplit(value) if "://" in value else None
    if parts is not None and parts.netloc:
        return value[len(f"{parts.scheme}://{parts.netloc}"):]
    return value.split("@", 1)[0] if "@" in value else value


def _pieces_pattern(values: Iterable[str]) -> re.Pattern[str] | None:
    parts = {form for v in values for form in _variants(_secret_part(v))}
    pieces = {part[i:i + PIECE] for part in parts for i in range(len(part) - PIECE + 1)}
    if not pieces:
        return None
    # a lookahead finds overlapping pieces; their union is what gets masked
    return re.compile("(?=(" + "|".join(re.escape(p) for p in sorted(pieces)) + "))")


def _scrub(text: str, values: Iterable[str], pieces: re.Pattern[str] | None = None) -> str:
    for value in sorted(values, key=len, reverse=True):
        text = text.replace(value, "****")
    if pieces is not None:
        spans: list[list[int]] = []
        for match in pieces.finditer(text):
            start, end = match.start(), match.start() + len(match.group(1))
            if spans and start <= spans[-1][1]:
                spans[-1][1] = max(spans[-1][1], end)
            else:
                spans.append([start, end])
        for start, end in reversed(spans):
            text = text[:start] + "****" + text[end:]
    text = _SECRET_PARAMS.sub(r"\1****", text)
    return _AUTH_IN_URL.sub(r"\1****@", text)


class Redactor:
    """Replaces known secret values (raw and URL-encoded) and secret-looking URL parts with ****."""

    def __init__(self, secrets: Iterable[str] = ()):
        self._values: set[str] = set()  # raw and URL-encoded forms
        self._raw: set[str] = set()
        self._pieces: re.Pattern[str] | None = None
        self.add(secrets)

    def add(self, secrets: Iterable[str | None]) -> None:
        global _KNOWN_PIECES
        for value in secrets:
            if value and len(value) >= 4:
                self._values |= _variants(value)
                self._raw.add(value)
                with _KNOWN_LOCK:
                    _KNOWN.update(_variants(value))
                    _KNOWN_RAW.add(value)
                    _KNOWN_PIECES = None
        self._pieces = _pieces_pattern(self._raw)

    def __call__(self, text: object) -> str:
        return _scrub(str(text), self._values, self._pieces)

    def cut(self, text: str, n: int) -> str:
        """The first ``n`` characters of ``text`` redacted: masked before the cut, so no secret is halved."""
        longest = max((len(v) for v in self._values), default=0)
        return self(text[: n + longest])[:n]


_KNOWN_RAW: set[str] = set()
_KNOWN_PIECES: re.Pattern[str] | None = None


def redact_known(text: object) -> str:
    """Redact with every secret known to this process (for text produced outside our clients)."""
    global _KNOWN_PIECES
    with _KNOWN_LOCK:
        values = list(_KNOWN)
        if _KNOWN_PIECES is None:
            _KNOWN_PIECES = _pieces_pattern(_KNOWN_RAW)
        pieces = _KNOWN_PIECES
    return _scrub(str(text), values, pieces)


class LibraryLogFilter(logging.Filter):
    """Rewrites a third-party log record's message with every known secret and secret URL part masked."""

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except Exception:
            return True
        clean = redact_known(message)
        if clean != message:
            record.msg, record.args = clean, None
        return True


def install_library_log_filter(names: Iterable[str] = LIBRARY_LOGGERS) -> None:
    """Attach LibraryLogFilter once to each named logger (logger filters do not inherit, hence the list)."""
    for name in names:
        logger = logging.getLogger(name)
        if not any(isinstance(f, LibraryLogFilter) for f in logger.filters):
            logger.addFilter(LibraryLogFilter())
