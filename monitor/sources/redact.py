"""Redaction of secrets from URLs and text before anything is logged, raised or stored."""

from __future__ import annotations

import re
from collections.abc import Iterable
from urllib.parse import quote, quote_plus

_SECRET_PARAMS = re.compile(
    r"(?i)([?&](?:api_?key|apikey|key|token|access_token|secret|signature|x_cg_demo_api_key|x_cg_pro_api_key)=)[^&#\s]*"
)
_AUTH_IN_URL = re.compile(r"(?i)(https?://)[^/@\s:]+:[^/@\s]+@")


class Redactor:
    """Replaces known secret values (raw and URL-encoded) and secret-looking URL parts with ****."""

    def __init__(self, secrets: Iterable[str] = ()):
        self._values: set[str] = set()
        self.add(secrets)

    def add(self, secrets: Iterable[str | None]) -> None:
        for value in secrets:
            if value and len(value) >= 4:
                self._values |= {value, quote(value, safe=""), quote_plus(value)}

    def __call__(self, text: object) -> str:
        out = str(text)
        for value in sorted(self._values, key=len, reverse=True):
            out = out.replace(value, "****")
        out = _SECRET_PARAMS.sub(r"\1****", out)
        return _AUTH_IN_URL.sub(r"\1****@", out)
