"""The one retry policy of every client family (our HttpClient, ccxt, the web3 RPC path).

Which failures get another attempt (transient ones, never a ban or a permanent error), how long to wait
(the host's own answer first: Retry-After or Binance's "banned until <ms>"; else capped exponential
backoff with jitter), and never past the whole-call deadline. Also the one reader of those "stay away"
answers, so every family blocks a host for the same time on the same answer.
"""

from __future__ import annotations

import logging
import random
import re
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, TypeVar

from monitor.errors import SourceError
from monitor.timeutil import parse_retry_after

log = logging.getLogger(__name__)
T = TypeVar("T")

DEFAULT_WAIT_S = 30.0  # a 429 that does not say how long
BAN_WAIT_S = 60.0  # a 418 (Binance's ban) that does not say how long
_BAN_UNTIL = re.compile(r"banned until (\d{12,14})")


def header(headers: Mapping[str, str] | None, name: str) -> str | None:
    """A header by name in any case (some callers hold a plain dict)."""
    if not headers:
        return None
    low = name.lower()
    return next((v for k, v in headers.items() if k.lower() == low), None)


def wait_from_answer(status: int | None, headers: Mapping[str, str] | None, text: str, *, cap: float,
                     now: Callable[[], float] = time.time) -> float:
    """Seconds a throttling answer (429/418/-1003) keeps the host closed: the longer of Retry-After and a
    "banned until <epoch ms>" in the body, else the default for the status; at most ``cap``."""
    wait = parse_retry_after(header(headers, "Retry-After"))
    ban = _BAN_UNTIL.search(text or "")
    if ban:
        wait = max(wait or 0.0, int(ban.group(1)) / 1000 - now())
    if wait is None:
        wait = BAN_WAIT_S if status == 418 else DEFAULT_WAIT_S
    return min(max(0.0, wait), cap)


def server_wait(headers: Mapping[str, str] | None, *, cap: float) -> float | None:
    """A 503's (or 5xx's) Retry-After, capped; None when it gives none (then backoff decides)."""
    wait = parse_retry_after(header(headers, "Retry-After"))
    return None if wait is None else min(wait, cap)


@dataclass
class RetryPolicy:
    max_retries: int = 4
    backoff_base_s: float = 0.5
    backoff_cap_s: float = 30.0
    clock: Callable[[], float] = time.monotonic
    sleep: Callable[[float], None] = time.sleep

    @classmethod
    def from_config(cls, cfg: Any, **kwargs: Any) -> RetryPolicy:
        return cls(max_retries=cfg.max_retries, **kwargs)

    def backoff(self, attempt: int) -> float:
        """Exponential from ``backoff_base_s``, capped, with jitter (half to full) so clients spread out."""
        delay: float = min(self.backoff_cap_s, self.backoff_base_s * 2 ** (attempt - 1))
        return delay * (0.5 + random.random() / 2)

    def next_delay(self, exc: SourceError, attempt: int, deadline: float) -> float | None:
        """Seconds before attempt ``attempt + 1``, or None: give up (permanent, banned, out of tries or time)."""
        if not exc.transient or exc.kind == "banned" or attempt > self.max_retries:
            return None
        delay = exc.retry_after if exc.retry_after is not None else self.backoff(attempt)
        if self.clock() + delay >= deadline:
            return None
        return delay

    def run(self, attempt: Callable[[], T], *, deadline: float, retry: bool = True, limiter: Any = None,
            what: str = "", redact: Callable[[object], str] = str, final: tuple[type, ...] = ()) -> T:
        """Call ``attempt`` until it returns, retrying SourceErrors this policy allows.

        A Retry-After is waited out by the host's ``limiter`` (blocked by whoever read the answer), so the
        next attempt waits there, together with every other client of the host; without one it is slept.
        ``final`` errors go straight to the caller (an RPC range rejection is split, not repeated).
        """
        n = 0
        while True:
            n += 1
            try:
                return attempt()
            except SourceError as exc:
                delay = self.next_delay(exc, n, deadline) if retry and not isinstance(exc, final) else None
                if delay is None:
                    raise
                log.info("%s%s; retry %d in %.2fs", f"{what}: " if what else "", redact(exc), n, delay)
                if exc.retry_after is None or limiter is None:
                    self.sleep(delay)
