"""Issue 14 / 17: ccxt's request weights are charged to our shared limiter, and venues are paced with a
safety margin under their limit, so a venue that allows no burst never answers 429."""

from __future__ import annotations

import json
import threading
import time

import pytest
from werkzeug import Request, Response

from monitor.errors import SourceError
from monitor.sources import exchanges
from monitor.sources.ratelimit import RateLimiter

KLINE = [1_700_000_000_000, "0.5", "0.6", "0.4", "0.55", "1000", 1_700_003_599_999, "550", 10, "500", "275", "0"]


def _venue(make_app, base: str, **limits):
    app = make_app(base, **limits)
    return app, exchanges.build("binance", app.config.sources.binance, app.context())


@pytest.mark.parametrize(("rate", "limit", "charged"), [
    (20.0, 50, 1), (20.0, 200, 2), (20.0, 1000, 5),  # at Binance's own pace (ccxt's 50 ms) the weight as is
    (2.0, 1000, 1),  # configured slower: each request already waits 0.5 s, more than weight 5 at ccxt's pace
    (100.0, 1000, 25),  # configured faster: the weight still costs the time ccxt gives it (5 x 50 ms)
])
def test_a_klines_request_charges_binances_documented_weight(rate, limit, charged, httpserver, make_app):
    # Binance USD-M klines: weight 1 below 100 rows, 2 below 500, 5 up to 1000 (ccxt's byLimit table, in
    # units of its 50 ms rateLimit); our limiter counts requests at rate_limit_per_s, so the weight is converted
    httpserver.expect_request("/fapi/v1/klines").respond_with_json([KLINE])
    _app, venue = _venue(make_app, httpserver.url_for("/"), rate_limit_per_s=rate, rate_limit_margin=0.0)
    costs: list[float] = []
    acquire = venue.limiter.acquire
    venue.limiter.acquire = lambda cost=1.0: costs.append(cost) or acquire(cost)  # type: ignore[method-assign]
    rows = venue.call("klines", venue.exchange.fapiPublicGetKlines,
                      {"symbol": "AIAUSDT", "interval": "1h", "limit": limit})
    assert rows == [KLINE]
    assert costs == [pytest.approx(charged)]


def test_the_margin_slows_the_pace_below_the_configured_rate(make_app):
    app, venue = _venue(make_app, "http://127.0.0.1:9/", rate_limit_per_s=10.0, rate_limit_margin=0.2)
    assert venue.limiter.interval == pytest.approx(1 / 8.0)
    assert app.config.sources.okx.rate_limit_margin == 0.1  # the default margin


def test_a_venue_that_allows_no_burst_sees_no_429(httpserver, make_app):
    rate = 5.0
    lock = threading.Lock()
    accepted: list[float] = []
    refused: list[float] = []

    def strict(request: Request) -> Response:
        # the venue's rule: no request earlier than 1/rate after the last one it accepted
        now = time.monotonic()
        with lock:
            if accepted and now - accepted[-1] < 1 / rate:
                refused.append(now)
                return Response(json.dumps({"code": -1003, "msg": "Too many requests"}), status=429,
                                headers={"Retry-After": "1"}, content_type="application/json")
            accepted.append(now)
        return Response(json.dumps({"serverTime": 1_700_000_000_000}), content_type="application/json")

    httpserver.expect_request("/fapi/v1/time").respond_with_handler(strict)
    # a quarter below the limit: ~65 ms of slack for a loaded 2-core box to send one request late
    _app, venue = _venue(make_app, httpserver.url_for("/"), rate_limit_per_s=rate, rate_limit_margin=0.25,
                        deadline_s=10.0)
    errors: list[BaseException] = []

    def worker() -> None:
        for _ in range(8):
            try:
                venue.call("time", venue.exchange.fetch_time)
            except SourceError as exc:
                errors.append(exc)

    threads = [threading.Thread(target=worker) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert len(accepted) == 16 and not refused and not errors, (len(accepted), len(refused), errors[:1])


def test_a_late_sender_still_keeps_a_full_interval_before_the_next():
    now = [0.0]
    late = [0.05]  # the first sleeper wakes 50 ms late, as on a loaded box

    def sleep(seconds: float) -> None:
        now[0] += seconds + late.pop() if late else seconds

    limiter = RateLimiter(10.0, clock=lambda: now[0], sleep=sleep)
    limiter.acquire()  # at 0.0, on time: the next may go at 0.1
    assert now[0] == 0.0
    limiter.acquire()  # slot 0.1, woke at 0.15
    assert now[0] == pytest.approx(0.15)
    limiter.acquire()  # slot 0.2 from the bucket, but only 50 ms after the late send: waits to 0.25
    assert now[0] == pytest.approx(0.25)


def test_a_late_heavy_request_keeps_its_weight_and_a_burst_still_goes_at_once():
    now = [0.0]
    late = [0.05]

    def sleep(seconds: float) -> None:
        now[0] += seconds + late.pop() if late else seconds

    heavy = RateLimiter(10.0, clock=lambda: now[0], sleep=sleep)
    heavy.acquire()
    heavy.acquire(cost=3)  # slot 0.1, woke at 0.15: weight 3 means nothing before 0.45
    heavy.acquire()
    assert now[0] == pytest.approx(0.45)
    now[0], late[:] = 0.0, []
    burst = RateLimiter(10.0, burst=3, clock=lambda: now[0], sleep=sleep)
    for _ in range(3):
        burst.acquire()
    assert now[0] == 0.0  # three at once, as the bucket allows
    burst.acquire()
    assert now[0] == pytest.approx(0.1)
