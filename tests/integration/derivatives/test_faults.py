"""Fault rows H4, H6, H8, H9, H10, X1, X2, X3 against Binance's shapes through the real ccxt client."""

from __future__ import annotations

import time
from datetime import timedelta

from werkzeug import Response

from monitor import model as m
from monitor.jobs.poll import poll

from .conftest import NOW, NOW_MS, H, json_response, series, venue_token
from .payloads import binance_exchange_info
from .test_binance import SINCE, binance_app, serve_binance


def sequence(*responses):
    """A handler answering with each response in turn, then repeating the last."""
    items = list(responses)

    def handler(req):
        item = items.pop(0) if len(items) > 1 else items[0]
        return item(req) if callable(item) and not isinstance(item, Response) else item

    return handler


def fast(app):
    app.sources()["binance"].backoff_base_s = 0.01
    return app


def kline_ok(req):
    from .payloads import binance_kline
    from .test_binance import DAY0

    return [binance_kline(NOW_MS - 3 * H, "0.5", "1", H)] if req.args["interval"] == "1h" else \
        [binance_kline(DAY0, "0.5", "1", 86_400_000)]


def test_h9_429_with_retry_after_delays_the_next_request(routes, make_app):
    serve_binance(routes)
    routes.add("/fapi/v1/fundingRate", sequence(
        json_response({"code": -1003, "msg": "Too many requests; current limit is 2400 requests per minute."}, 429,
                      {"Retry-After": "1"}),
        [{"symbol": "AIAUSDT", "fundingTime": NOW_MS - 8 * H, "fundingRate": "0.0001", "markPrice": "1"}]))
    app = fast(binance_app(make_app))
    [outcome] = poll(app, sources=["binance"], tokens=["AIA"], since=SINCE)
    assert outcome.status == "ok", outcome.message
    hits = [t for t, path, _ in routes.hits]
    first_429 = next(i for i, (_, p, _) in enumerate(routes.hits) if p == "/fapi/v1/fundingRate")
    assert hits[first_429 + 1] - hits[first_429] >= 0.95  # nothing at all went to the venue meanwhile
    assert series(app, "AIA", m.FUNDING_RATE, "binance") == [(NOW_MS - 8 * H, 0.0001)]
    runs = app.store.read_poll_runs(NOW - timedelta(days=1), source="binance")
    assert ((runs["http_status"] == 429) & (runs["status"] == "throttled")).sum() == 1


def test_h10_418_ban_means_zero_requests_until_it_ends(routes, make_app):
    serve_binance(routes)
    ban_ms = int(time.time() * 1000) + 120_000
    routes.add("/fapi/v1/klines", json_response(
        {"code": -1003, "msg": f"Way too many requests; IP banned until {ban_ms}. Please use the websocket."}, 418,
        {"Retry-After": "120"}))
    app = binance_app(make_app, deadline_s=2)
    [first] = poll(app, sources=["binance"], tokens=["AIA"], since=SINCE)
    assert first.status == "banned"
    after_ban = len(routes.hits)
    [second] = poll(app, sources=["binance"], tokens=["AIA"], since=SINCE)  # same process, ban still on
    assert second.status == "banned"
    assert len(routes.hits) == after_ban  # zero requests during the ban
    assert app.limiters.get("binance", 20).blocked_for > 100
    assert series(app, "AIA", m.PRICE_CLOSE_1H, "binance") == []


def test_h8_5xx_then_success_stores_one_row_set(routes, make_app):
    serve_binance(routes)
    routes.add("/fapi/v1/klines", sequence(
        json_response({"code": -1001, "msg": "Internal error"}, 503), Response("bad gateway", 502), kline_ok))
    app = fast(binance_app(make_app))
    [outcome] = poll(app, sources=["binance"], tokens=["AIA"], since=SINCE)
    assert outcome.status == "ok", outcome.message
    assert series(app, "AIA", m.PRICE_CLOSE_1H, "binance") == [(NOW_MS - 3 * H, 0.5)]
    statuses = list(app.store.read_poll_runs(NOW - timedelta(days=1), source="binance")["http_status"])
    assert statuses.count(503) == 1 and statuses.count(502) == 1


def test_h6_html_error_page_fails_clean_with_nothing_stored(routes, make_app):
    serve_binance(routes)
    page = "<!DOCTYPE html><html><head><title>Attention Required! | Cloudflare</title></head><body>x</body></html>"
    routes.add("/fapi/v1/fundingRate", Response(page, 200, content_type="text/html"))
    app = fast(binance_app(make_app, deadline_s=1))
    [outcome] = poll(app, sources=["binance"], tokens=["AIA"], since=SINCE)
    assert outcome.status == "error"
    assert "upstream unavailable" in outcome.message and "HTML" in outcome.message
    assert app.store.catalogue("AIA").empty  # klines fetched before the failure were not stored either


def test_h4_truncated_body_is_transient_and_nothing_partial_is_stored(routes, make_app):
    serve_binance(routes)

    def cut(req):
        resp = Response('[{"symbol": "AIAUSDT", "fundingTime": 17', 200, content_type="application/json")
        resp.headers["Content-Length"] = "400"  # promises more than it sends
        return resp

    routes.add("/fapi/v1/fundingRate", cut)
    app = fast(binance_app(make_app, deadline_s=1))
    [outcome] = poll(app, sources=["binance"], tokens=["AIA"], since=SINCE)
    assert outcome.status in ("error", "parse")
    assert routes.count("/fapi/v1/fundingRate") >= 2  # retried as transient
    assert app.store.catalogue("AIA").empty


def test_h7_malformed_json_with_correct_length_is_a_clear_error(routes, make_app):
    serve_binance(routes)
    routes.add("/fapi/v1/fundingRate", Response('[{"fundingRate": NaN}]', 200, content_type="application/json"))
    app = fast(binance_app(make_app, deadline_s=1))
    [outcome] = poll(app, sources=["binance"], tokens=["AIA"], since=SINCE)
    assert outcome.status == "parse"
    assert "malformed body" in outcome.message
    assert app.store.catalogue("AIA").empty


def test_x1_request_timeout_and_unavailable_are_retried(routes, make_app):
    serve_binance(routes)

    def slow(req):
        time.sleep(0.6)
        return kline_ok(req)

    routes.add("/fapi/v1/klines", sequence(slow, json_response({"code": -1, "msg": "maintenance"}, 503), kline_ok))
    app = fast(binance_app(make_app, read_timeout_s=0.3))
    [outcome] = poll(app, sources=["binance"], tokens=["AIA"], since=SINCE)
    assert outcome.status == "ok", outcome.message
    runs = app.store.read_poll_runs(NOW - timedelta(days=1), source="binance")
    assert "timeout" in set(runs["status"])
    assert series(app, "AIA", m.PRICE_CLOSE_1H, "binance") == [(NOW_MS - 3 * H, 0.5)]


def test_x2_bad_symbol_marks_token_unsupported_and_others_continue(routes, make_app):
    serve_binance(routes)
    app = make_app([venue_token({"binance": {"perp": "AIA/USDT:USDT"}}),
                    venue_token({"binance": {"perp": "GONE/USDT:USDT"}}, "GONE")],
                   {"binance": {"ccxt_id": "binanceusdm"}})
    outcomes = {o.token: o for o in poll(app, sources=["binance"], since=SINCE)}
    assert outcomes["GONE"].status == "unsupported"
    assert "not listed" in outcomes["GONE"].message
    assert outcomes["AIA"].status == "ok"
    assert series(app, "AIA", m.OI_USD, "binance")
    assert not any("GONE" in str(args) for _, _, args in routes.hits)  # no request for the unknown symbol


def test_x3_concurrent_tokens_share_one_instance_within_the_rate(routes, make_app):
    symbols = [f"T{i}" for i in range(8)]
    serve_binance(routes)
    routes.add("/fapi/v1/exchangeInfo", binance_exchange_info([(s, "USDT") for s in symbols], NOW_MS))
    app = make_app([venue_token({"binance": {"perp": f"{s}/USDT:USDT"}}, s) for s in symbols],
                   {"binance": {"ccxt_id": "binanceusdm", "rate_limit_per_s": 40}})
    source = app.sources()["binance"]
    assert source.concurrency > 1
    outcomes = poll(app, sources=["binance"], since=SINCE)
    assert {o.status for o in outcomes} == {"ok"}
    assert routes.count("/fapi/v1/exchangeInfo") == 1  # one shared exchange, markets loaded once
    times = sorted(t for t, _, _ in routes.hits)
    # spacing enforced by the shared limiter: no 1-second window at the server holds more than the rate,
    # give or take arrival jitter on a loaded 2-core machine (without the limiter it would be hundreds)
    worst = max(sum(1 for u in times if t <= u < t + 1.0) for t in times)
    assert worst <= 45
    span = times[-1] - times[0]
    assert span >= (len(times) - 1) / 40 * 0.95
