"""JSON-RPC over a web3 HTTPProvider: bounded retries, a deadline, and provider errors sorted into
"range rejected" (split the range), transient (retry) and permanent.

web3's own retry loop (``exception_retry_configuration``) sleeps with time.sleep and has no deadline, so
it is switched off and this wrapper retries under the shared ``retry.py`` policy (a 429's Retry-After
blocks the endpoint's limiter like on every other client).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from datetime import datetime
from typing import Any

from monitor.errors import ParseError, PermanentSourceError, TransientSourceError
from monitor.sources import retry as retries
from monitor.sources import transport

log = logging.getLogger(__name__)

RANGE_CODES = {-32005, -32602}
RANGE_WORDS = (
    "log response size exceeded",
    "query returned more than",
    "block range",
    "range is too large",
    "range too large",
    "exceed maximum block range",
    "too many blocks",
    "limit exceeded",
)
THROTTLE_WORDS = ("rate limit", "too many requests", "capacity", "exceeded the limit")


class RangeRejected(TransientSourceError):
    """The provider refused an eth_getLogs range; the caller splits it."""


def classify_rpc_error(error: Any, source: str) -> TransientSourceError | PermanentSourceError:
    """A JSON-RPC ``error`` member -> the exception to raise (pure)."""
    if not isinstance(error, dict):
        return ParseError(f"malformed JSON-RPC error {str(error)[:80]!r}", source=source)
    code = error.get("code")
    code = code if isinstance(code, int) and not isinstance(code, bool) else None
    message = str(error.get("message", ""))[:200]
    low = message.lower()
    if code in RANGE_CODES or any(w in low for w in RANGE_WORDS):
        return RangeRejected(f"range rejected ({code}): {message}", source=source, kind="error")
    if code in (429, -32029) or any(w in low for w in THROTTLE_WORDS):
        return TransientSourceError(f"throttled ({code}): {message}", source=source, kind="throttled")
    if code in (-32603, -32000):  # internal / server errors: header not found, timeouts
        return TransientSourceError(f"server error ({code}): {message}", source=source)
    return PermanentSourceError(f"JSON-RPC error ({code}): {message}", source=source)


def build_provider(url: str, session: Any, connect_timeout: float, read_timeout: float, **limits: Any) -> Any:
    """A web3 HTTPProvider on our guarded session, without web3's own retries (we retry with a deadline).

    ``limits`` are transport Policy fields (max_body_bytes, deadline_s); Rpc.call bounds each call too.
    """
    from web3 import HTTPProvider

    return HTTPProvider(
        url,
        request_kwargs={"timeout": (connect_timeout, read_timeout)},
        session=transport.harden(session, **limits),
        exception_retry_configuration=None,
    )


class Rpc:
    """``call(method, params)`` -> the ``result`` member, with retries inside a deadline."""

    def __init__(
        self,
        provider: Any,
        *,
        source: str,
        chain: str,
        limiter: Any = None,
        redactor: Callable[[object], str] = str,
        health: Any = None,
        max_retries: int = 3,
        deadline_s: float = 60.0,
        max_retry_after_s: float = 900.0,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
        now: Callable[[], datetime] | None = None,
    ):
        self.provider = getattr(provider, "provider", provider)  # a Web3 or a provider
        self.source = source
        self.chain = chain
        self.limiter = limiter
        self.redact = redactor
        self.health = health
        self.deadline_s = deadline_s
        self.max_retry_after_s = max_retry_after_s
        self.policy = retries.RetryPolicy(max_retries, backoff_base_s=0.25, backoff_cap_s=10.0, clock=clock,
                                          sleep=sleep)
        self._clock = clock
        self._now = now
        self.deadline = clock() + deadline_s
        self.calls = 0

    def restart_deadline(self) -> None:
        self.deadline = self._clock() + self.deadline_s

    def call(self, method: str, params: list[Any], *, token: str = "*") -> Any:
        def attempt() -> Any:
            try:
                return self._attempt(method, params)
            except RangeRejected:
                raise  # the caller splits the range; not a failure of the endpoint
            except (TransientSourceError, PermanentSourceError) as exc:
                self._record(token, method, exc)
                raise

        return self.policy.run(attempt, deadline=self.deadline, limiter=self.limiter,
                               what=f"{self.source}/{self.chain}", redact=self.redact, final=(RangeRejected,))

    def _attempt(self, method: str, params: list[Any]) -> Any:
        import requests

        if self._clock() > self.deadline:
            raise TransientSourceError(f"{self.chain}: RPC deadline of {self.deadline_s:.0f}s passed",
                                       source=self.source, kind="timeout")
        if self.limiter is not None:
            self.limiter.acquire()
        self.calls += 1
        try:
            with transport.within(time.monotonic() + self.deadline - self._clock()):
                response = self.provider.make_request(method, params)
        except transport.GuardError as exc:
            raise transport.translate(exc, self.source, redact=self.redact) from None
        except requests.Timeout:
            raise TransientSourceError(f"{method} timed out", source=self.source, kind="timeout") from None
        except requests.HTTPError as exc:
            raise self._http_error(method, exc.response) from None
        except requests.RequestException as exc:
            raise TransientSourceError(f"{method}: {type(exc).__name__}: {self.redact(exc)[:120]}",
                                       source=self.source) from None
        except ValueError as exc:  # body was not JSON
            raise ParseError(f"{method}: response is not JSON ({str(exc)[:60]})", source=self.source) from None
        if not isinstance(response, dict):
            raise ParseError(f"{method}: response is not a JSON-RPC object", source=self.source)
        if response.get("error") is not None:
            raise classify_rpc_error(response["error"], self.source)
        if "result" not in response:
            raise ParseError(f"{method}: response has neither result nor error", source=self.source)
        return response["result"]

    def _http_error(self, method: str, response: Any) -> TransientSourceError | PermanentSourceError:
        status = response.status_code if response is not None else None
        if status in (418, 429):
            text = self.redact(response.content[:400].decode("utf-8", "replace"))
            wait = retries.wait_from_answer(status, response.headers, text, cap=self.max_retry_after_s)
            if self.limiter is not None:
                self.limiter.block_for(wait)
            kind = "banned" if status == 418 else "throttled"
            return TransientSourceError(f"{method}: HTTP {status} ({kind}); no request for {wait:.0f}s",
                                        source=self.source, status=status, kind=kind, retry_after=wait)
        if status == 408 or (status or 500) >= 500:
            pause = retries.server_wait(response.headers if response is not None else None,
                                        cap=self.max_retry_after_s)
            if pause is not None and self.limiter is not None:
                self.limiter.block_for(pause)
            return TransientSourceError(f"{method}: HTTP {status}", source=self.source, status=status,
                                        retry_after=pause)
        return PermanentSourceError(f"{method}: HTTP {status}", source=self.source, status=status)

    def _record(self, token: str, method: str, exc: Any) -> None:
        if self.health is None:
            return
        started = self._now() if self._now is not None else self.health.now()
        self.health.record(self.source, token, f"{self.chain}:{method}", started, None, exc.kind,
                           http_status=exc.status, error_class=type(exc).__name__, message=exc,
                           redact=self.redact)
