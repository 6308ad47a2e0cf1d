"""Redaction of secrets from URLs and text before anything is logged, raised or stored."""

from __future__ import annotations

import logging
import re
import threading
from collections.abc import Iterable
from urllib.parse import quote, quote_plus

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


def _variants(value: str) -> set[str]:
    return {value, quote(value, safe=""), quote_plus(value)}


def _scrub(text: str, values: Iterable[str]) -> str:
    for value in sorted(values, key=len, reverse=True):
        text = text.replace(value, "****")
    text = _SECRET_PARAMS.sub(r"\1****", text)
    return _AUTH_IN_URL.sub(r"\1****@", text)


class Redactor:
    """Replaces known secret values (raw and URL-encoded) and secret-looking URL parts with ****."""

    def __init__(self, secrets: Iterable[str] = ()):
        self._values: set[str] = set()
        self.add(secrets)

    def add(self, secrets: Iterable[str | None]) -> None:
        for value in secrets:
            if value and len(value) >= 4:
                self._values |= _variants(value)
                with _KNOWN_LOCK:
                    _KNOWN.update(_variants(value))

    def __call__(self, text: object) -> str:
        return _scrub(str(text), self._values)


def redact_known(text: object) -> str:
    """Redact with every secret known to this process (for text produced outside our clients)."""
    with _KNOWN_LOCK:
        values = list(_KNOWN)
    return _scrub(str(text), values)


class LibraryLogFilter(logging.Filter):
    """Rewrites a third-party log record's message with every known secret and secret URL part masked."""

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except Exception:  # noqa: BLE001 - a malformed record is the library's bug; leave it alone
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
