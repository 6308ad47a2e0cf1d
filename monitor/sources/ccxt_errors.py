"""The one place where ccxt exceptions become the monitor's SourceError tree.

Order matters: ccxt's classes nest (RateLimitExceeded ⊂ DDoSProtection ⊂ NetworkError, BadSymbol ⊂
BadRequest ⊂ ExchangeError), so the most specific class is tested first.
"""

from __future__ import annotations

import ccxt

from monitor.errors import PermanentSourceError, SourceError, TransientSourceError, UnsupportedError


def map_ccxt_error(
    exc: BaseException, source: str, *, status: int | None = None, retry_after: float | None = None
) -> SourceError:
    """Translate one ccxt exception; ``status``/``retry_after`` come from the wire (ccxt drops them)."""
    text = f"{type(exc).__name__}: {_short(exc)}"
    if isinstance(exc, SourceError):
        return exc
    if isinstance(exc, ccxt.DDoSProtection):  # 429, 418, -1003 and friends
        banned = status == 418 or "banned" in str(exc).lower()
        return TransientSourceError(text, source=source, status=status, retry_after=retry_after,
                                    kind="banned" if banned else "throttled")
    if isinstance(exc, ccxt.RequestTimeout):
        return TransientSourceError(text, source=source, status=status, kind="timeout")
    if isinstance(exc, (ccxt.OnMaintenance, ccxt.ExchangeNotAvailable)):
        # also geo-blocks (451/403); transient for this cycle, health shows the venue as dark
        return TransientSourceError(text, source=source, status=status, retry_after=retry_after)
    if isinstance(exc, ccxt.NetworkError):  # connection reset, truncated body, invalid nonce
        return TransientSourceError(text, source=source, status=status)
    if isinstance(exc, ccxt.BadSymbol):
        return UnsupportedError(f"symbol not listed ({text})", source=source)
    if isinstance(exc, ccxt.NotSupported):
        return UnsupportedError(text, source=source)
    if isinstance(exc, ccxt.AuthenticationError):
        return PermanentSourceError(text, source=source, status=status, kind="auth")
    if isinstance(exc, ccxt.BadResponse):
        return PermanentSourceError(text, source=source, status=status, kind="parse")
    if isinstance(exc, ccxt.BaseError):
        if status is not None and (status >= 500 or status == 408):
            return TransientSourceError(text, source=source, status=status)
        return PermanentSourceError(text, source=source, status=status)
    return PermanentSourceError(text, source=source, status=status)


def _short(exc: BaseException) -> str:
    # ccxt puts the whole URL and body in its messages; keep the head (URLs are redacted by the caller)
    return " ".join(str(exc).split())[:200]
