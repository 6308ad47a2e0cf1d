"""Client-side rate limiting shared by every client of one host, and the host's ban gate."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable


class RateLimiter:
    """Spaces requests at ``rate`` per second (``burst`` may go at once) and holds them during bans.

    Thread-safe: each caller reserves the next slot under a lock, then sleeps outside it, so N threads
    sharing one limiter together stay within the rate.
    """

    def __init__(
        self,
        rate_per_s: float,
        burst: int = 1,
        *,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ):
        if rate_per_s <= 0:
            raise ValueError("rate_per_s must be positive")
        self.interval = 1.0 / rate_per_s
        self.burst = max(1, burst)
        self._clock = clock
        self._sleep = sleep
        self._lock = threading.Lock()
        self._next = clock()  # earliest time the next request may start (theoretical arrival time)
        self._blocked_until = 0.0

    def reserve(self, cost: float = 1.0) -> float:
        """Reserve a slot; returns the monotonic time at which the caller may send."""
        with self._lock:
            now = self._clock()
            earliest = max(now, self._blocked_until)
            slot = max(earliest, self._next - (self.burst - 1) * self.interval)
            self._next = max(self._next, slot) + cost * self.interval
            return slot

    def wait_time(self) -> float:
        """Seconds until a request could go, without reserving."""
        with self._lock:
            now = self._clock()
            slot = max(now, self._blocked_until, self._next - (self.burst - 1) * self.interval)
            return slot - now

    def acquire(self, cost: float = 1.0) -> float:
        slot = self.reserve(cost)
        delay = slot - self._clock()
        if delay > 0:
            self._sleep(delay)
        return max(0.0, delay)

    def block_for(self, seconds: float) -> None:
        """No request before now + seconds (Retry-After, ban)."""
        with self._lock:
            self._blocked_until = max(self._blocked_until, self._clock() + max(0.0, seconds))

    @property
    def blocked_for(self) -> float:
        with self._lock:
            return max(0.0, self._blocked_until - self._clock())


class Limiters:
    """One limiter per name (host or venue), created on first use; shared by every client of it."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._items: dict[str, RateLimiter] = {}

    def get(self, name: str, rate_per_s: float, burst: int = 1) -> RateLimiter:
        with self._lock:
            if name not in self._items:
                self._items[name] = RateLimiter(rate_per_s, burst)
            return self._items[name]
