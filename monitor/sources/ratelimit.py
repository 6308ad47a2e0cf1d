"""Client-side rate limiting shared by every client of one host, and the host's ban gate."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

from monitor.sources.netstate import NetState


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
        on_block: Callable[[float], None] | None = None,
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
        self._last_sent = float("-inf")  # real send time of the latest request plus its cost
        self._on_block = on_block  # told the seconds of each block (Limiters persists it)

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
        """Wait for a slot; returns the seconds waited.

        No burst beyond the bucket: a sender that woke late (a loaded box) still keeps the next request
        ``cost x interval`` after its REAL send, so a late one and an on-time one never go back to back.
        """
        slot = self.reserve(cost)
        waited = 0.0
        while True:
            delay = slot - self._clock()
            if delay > 0:
                self._sleep(delay)
                waited += delay
            with self._lock:
                now = self._clock()
                earliest = self._last_sent - (self.burst - 1) * self.interval
                if now >= earliest:
                    self._last_sent = max(self._last_sent, now + cost * self.interval)
                    return waited
                slot = earliest

    def block_for(self, seconds: float) -> None:
        """No request before now + seconds (Retry-After, ban)."""
        with self._lock:
            self._blocked_until = max(self._blocked_until, self._clock() + max(0.0, seconds))
        if self._on_block is not None and seconds > 0:
            self._on_block(seconds)

    @property
    def blocked_for(self) -> float:
        with self._lock:
            return max(0.0, self._blocked_until - self._clock())


class Limiters:
    """One limiter per name (host or venue), created on first use; shared by every client of it.

    With a NetState, bans and Retry-After blocks are saved as wall-clock times and a limiter created
    after a restart starts blocked until then.
    """

    SECTION = "blocked_until"

    def __init__(self, state: NetState | None = None) -> None:
        self._lock = threading.Lock()
        self._items: dict[str, RateLimiter] = {}
        self._state = state

    @property
    def state(self) -> NetState | None:
        """The network state file, for other memories that must survive a restart (Dune's)."""
        return self._state

    def get(self, name: str, rate_per_s: float, burst: int = 1, *, margin: float = 0.0) -> RateLimiter:
        """``margin`` (0.1 = 10 %) keeps the pace under the venue's limit: jitter on the way cannot make two
        requests arrive closer than the venue counts."""
        with self._lock:
            if name not in self._items:
                limiter = RateLimiter(rate_per_s * (1.0 - margin), burst)
                if self._state is not None:
                    until = self._state.read(self.SECTION).get(name)
                    if isinstance(until, (int, float)) and until > time.time():
                        limiter.block_for(until - time.time())
                    limiter._on_block = self._saver(name)
                self._items[name] = limiter
            return self._items[name]

    def _saver(self, name: str) -> Callable[[float], None]:
        state = self._state
        assert state is not None

        def save(seconds: float) -> None:
            until = time.time() + seconds
            if until > (state.read(self.SECTION).get(name) or 0):
                state.update(self.SECTION, name, round(until, 3))

        return save
