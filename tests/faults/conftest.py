"""Fixtures of the fault suite: the raw-socket fault server and HttpClient factories with small limits."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest

from monitor.sources.http import HealthLog, HttpClient
from monitor.sources.ratelimit import RateLimiter
from monitor.sources.redact import Redactor
from tests.faults.faultserver import FaultServer, serving


@pytest.fixture
def fault_server() -> Iterator[Callable[..., FaultServer]]:
    yield from serving()


@pytest.fixture
def make_client() -> Callable[..., HttpClient]:
    """HttpClient with test-sized timeouts; no real backoff sleeps unless a test asks for them."""

    def build(base_url: str, **kw: Any) -> HttpClient:
        kw.setdefault("connect_timeout", 0.5)
        kw.setdefault("read_timeout", 0.5)
        kw.setdefault("deadline_s", 2.0)
        kw.setdefault("max_retries", 2)
        kw.setdefault("backoff_base_s", 0.01)
        kw.setdefault("limiter", RateLimiter(1000.0, burst=100))
        kw.setdefault("health", HealthLog())
        kw.setdefault("redactor", Redactor())
        return HttpClient(kw.pop("name", "fake"), base_url, **kw)

    return build
