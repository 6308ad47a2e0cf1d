"""What the venues publish about a market itself: delisting announcements and settlements (stamped once),
and the funding cap and interval (Binance fundingInfo, Bybit instruments-info, OKX funding-rate, Gate
contract), through the real ccxt clients on loopback."""

from __future__ import annotations

from datetime import timedelta

from werkzeug import Response

from monitor import model as m
from monitor.jobs.poll import poll

from .conftest import NOW, NOW_MS, H, series, venue_token
from .payloads import binance_exchange_info, binance_funding_info, bybit, bybit_instruments, okx_funding_rate
from .test_binance import SINCE, serve_binance
from .test_venues import serve_bybit, serve_gate, serve_okx

HOUR = NOW_MS // H * H


def exchange_events(app, kind):
    return [e for e in app.store.read_events("AIA") if e.kind == kind]


def poll_at(make_app, when, venue, ccxt_id, **symbols):
    app = make_app([venue_token({venue: {"perp": "AIA/USDT:USDT", **symbols}})], {venue: {"ccxt_id": ccxt_id}},
                   now=when)
    [outcome] = poll(app, sources=[venue], tokens=["AIA"], since=SINCE)
    return app, outcome


# ------------------------------------------------------------------ delistings


def test_binance_perpetual_with_its_no_delivery_date_has_no_market_event(routes, make_app):
    serve_binance(routes)
    app, outcome = poll_at(make_app, NOW, "binance", "binanceusdm")
    assert outcome.status == "ok", outcome.message
    assert [e.kind for e in app.store.read_events("AIA") if e.kind.startswith("perp_")] == []


def test_binance_delivery_date_is_a_delisting_announced_now_with_its_schedule(routes, make_app):
    serve_binance(routes)
    delivery = NOW_MS + 3 * 86_400_000
    routes.add("/fapi/v1/exchangeInfo", binance_exchange_info([("AIA", "USDT")], NOW_MS, delivery_ms=delivery))
    app, outcome = poll_at(make_app, NOW, "binance", "binanceusdm")
    assert outcome.status == "ok", outcome.message
    [event] = exchange_events(app, "perp_delisted")
    assert event.ts == NOW and event.chain == "exchange:binance"  # announced when seen, not hidden until then
    assert event.detail["scheduled_at"] == (NOW + timedelta(days=3)).isoformat()
    assert exchange_events(app, "perp_settled") == []


def test_binance_delivery_date_passed_is_one_settlement_at_that_date(routes, make_app):
    serve_binance(routes)
    delivery = NOW_MS - 5 * H
    routes.add("/fapi/v1/exchangeInfo", binance_exchange_info([("AIA", "USDT")], NOW_MS, status="SETTLING",
                                                              delivery_ms=delivery))
    app, _ = poll_at(make_app, NOW, "binance", "binanceusdm")
    poll_at(make_app, NOW + timedelta(hours=2), "binance", "binanceusdm")
    [event] = exchange_events(app, "perp_settled")
    assert int(event.ts.timestamp() * 1000) == delivery
    assert exchange_events(app, "perp_delisted") == []


def test_gate_future_delisting_time_is_announced_now_not_future_dated(routes, make_app):
    delist_s = NOW_MS // 1000 + 86_400
    serve_gate(routes, in_delisting=False, delisting_time=delist_s)
    app, _ = poll_at(make_app, NOW, "gate", "gate")
    [event] = exchange_events(app, "perp_delisted")
    assert event.ts == NOW and event.chain == "exchange:gate"
    assert event.detail["scheduled_at"] == (NOW + timedelta(days=1)).isoformat()


def test_a_delisting_is_stamped_once_across_polls(routes, make_app):
    serve_gate(routes, in_delisting=True, delisting_time=NOW_MS // 1000 + 86_400)
    app, _ = poll_at(make_app, NOW, "gate", "gate")
    poll_at(make_app, NOW + timedelta(hours=3), "gate", "gate")
    poll_at(make_app, NOW + timedelta(hours=7), "gate", "gate")
    [event] = exchange_events(app, "perp_delisted")
    assert event.ts == NOW  # the first sighting; later polls neither move it nor add another


def test_gate_delisted_time_passed_is_one_settlement(routes, make_app):
    settled_s = NOW_MS // 1000 - 7200
    serve_gate(routes, in_delisting=True, delisting_time=settled_s - 86_400, delisted_time=settled_s)
    app, _ = poll_at(make_app, NOW, "gate", "gate")
    poll_at(make_app, NOW + timedelta(hours=4), "gate", "gate")
    [event] = exchange_events(app, "perp_settled")
    assert int(event.ts.timestamp()) == settled_s


def test_gate_delisting_seen_on_the_contract_itself_not_the_cached_market_list(routes, make_app):
    serve_gate(routes)
    poll_at(make_app, NOW, "gate", "gate")  # caches the market list (no delisting yet)
    delist_s = NOW_MS // 1000 + 86_400
    serve_gate(routes, in_delisting=True, delisting_time=delist_s)
    app, _ = poll_at(make_app, NOW + timedelta(hours=1), "gate", "gate")
    assert routes.count("/api/v4/futures/usdt/contracts") == 1  # the list came from the cache
    [event] = exchange_events(app, "perp_delisted")
    assert event.ts == NOW + timedelta(hours=1)


# ------------------------------------------------------------------ funding cap and interval


def test_binance_funding_cap_from_funding_info(routes, make_app):
    serve_binance(routes)
    routes.add("/fapi/v1/fundingInfo", binance_funding_info([("BLZUSDT", "0.02500000", 8)]) +
               binance_funding_info([("AIAUSDT", "0.02000000", 4)], floor="-0.03000000"))
    app, outcome = poll_at(make_app, NOW, "binance", "binanceusdm")
    assert outcome.status == "ok", outcome.message
    assert series(app, "AIA", m.FUNDING_CAP, "binance") == [(HOUR, 0.03)]  # the larger side: the cap magnitude


def test_binance_symbol_absent_from_funding_info_writes_no_cap(routes, make_app):
    serve_binance(routes)  # fundingInfo lists only adjusted symbols; AIAUSDT is not among them
    app, outcome = poll_at(make_app, NOW, "binance", "binanceusdm")
    assert outcome.status == "ok", outcome.message
    assert series(app, "AIA", m.FUNDING_CAP, "binance") == []


def test_bybit_okx_gate_publish_their_caps(routes, make_app):
    serve_bybit(routes)
    listing = bybit_instruments(["BTC", "AIA"], NOW_MS)
    listing["result"]["list"][0].update(upperFundingRate="0.04", lowerFundingRate="-0.04")  # BTC's, not ours
    routes.add("/v5/market/instruments-info", listing)
    app, outcome = poll_at(make_app, NOW, "bybit", "bybit")
    assert outcome.status == "ok", outcome.message
    assert series(app, "AIA", m.FUNDING_CAP, "bybit") == [(HOUR, 0.02)]  # upperFundingRate "0.02"
    args = [a for _, p, a in routes.hits if p == "/v5/market/instruments-info"]
    assert {"category": "linear", "symbol": "AIAUSDT"} in args

    serve_okx(routes)
    app, outcome = poll_at(make_app, NOW, "okx", "okx")
    assert outcome.status == "ok", outcome.message
    assert series(app, "AIA", m.FUNDING_CAP, "okx") == [(HOUR, 0.0075)]  # maxFundingRate

    serve_gate(routes)
    app, outcome = poll_at(make_app, NOW, "gate", "gate")
    assert outcome.status == "ok", outcome.message
    assert series(app, "AIA", m.FUNDING_CAP, "gate") == [(HOUR, 0.003)]  # funding_rate_limit


def test_a_published_cap_or_interval_change_is_a_funding_regime_changed_event(routes, make_app):
    serve_okx(routes)
    poll_at(make_app, NOW, "okx", "okx")
    later = NOW + timedelta(hours=2)
    app, _ = poll_at(make_app, later, "okx", "okx")  # unchanged: no event
    published = [e for e in exchange_events(app, "funding_regime_changed") if e.detail.get("published")]
    assert published == []
    routes.add("/api/v5/public/funding-rate", okx_funding_rate("AIA-USDT-SWAP", NOW_MS, interval_h=1, cap="0.015"))
    app, _ = poll_at(make_app, later + timedelta(hours=1), "okx", "okx")
    [event] = [e for e in exchange_events(app, "funding_regime_changed") if e.detail.get("published")]
    assert event.ts == later + timedelta(hours=1)
    assert (event.detail["cap_from"], event.detail["cap_to"]) == (0.0075, 0.015)
    assert (event.detail["from_h"], event.detail["to_h"]) == (4, 1)
    assert [v for _, v in series(app, "AIA", m.FUNDING_CAP, "okx")] == [0.0075, 0.0075, 0.015]


def test_a_cap_change_alone_is_recorded(routes, make_app):
    serve_okx(routes)
    poll_at(make_app, NOW, "okx", "okx")
    routes.add("/api/v5/public/funding-rate", okx_funding_rate("AIA-USDT-SWAP", NOW_MS, interval_h=4, cap="0.02"))
    app, _ = poll_at(make_app, NOW + timedelta(hours=1), "okx", "okx")
    [event] = [e for e in exchange_events(app, "funding_regime_changed") if e.detail.get("published")]
    assert (event.detail["cap_from"], event.detail["cap_to"], event.detail["to_h"]) == (0.0075, 0.02, 4)


def test_an_interval_change_alone_is_recorded(routes, make_app):
    serve_bybit(routes)
    poll_at(make_app, NOW, "bybit", "bybit")
    one_hour = bybit_instruments(["AIA"], NOW_MS)
    one_hour["result"]["list"][0]["fundingInterval"] = 60
    routes.add("/v5/market/instruments-info", one_hour)
    app, _ = poll_at(make_app, NOW + timedelta(hours=1), "bybit", "bybit")
    [event] = [e for e in exchange_events(app, "funding_regime_changed") if e.detail.get("published")]
    assert (event.detail["from_h"], event.detail["to_h"], event.detail["cap_to"]) == (4, 1, 0.02)


def test_gate_contract_without_a_rate_limit_writes_no_cap(routes, make_app):
    serve_gate(routes, funding_rate_limit=None)
    app, outcome = poll_at(make_app, NOW, "gate", "gate")
    assert outcome.status == "ok", outcome.message
    assert series(app, "AIA", m.FUNDING_CAP, "gate") == []


def test_an_unreadable_terms_memory_is_started_again(routes, make_app, tmp_path):
    serve_okx(routes)
    (tmp_path / "cache").mkdir()
    (tmp_path / "cache" / "funding-terms-okx.json").write_text("[1, 2]", encoding="utf-8")
    poll_at(make_app, NOW, "okx", "okx")
    routes.add("/api/v5/public/funding-rate", okx_funding_rate("AIA-USDT-SWAP", NOW_MS, interval_h=4, cap="0.02"))
    app, outcome = poll_at(make_app, NOW + timedelta(hours=1), "okx", "okx")
    assert outcome.status == "ok", outcome.message
    assert len([e for e in exchange_events(app, "funding_regime_changed") if e.detail.get("published")]) == 1


def test_an_inactive_market_without_a_schedule_is_announced(routes, make_app):
    serve_binance(routes)
    routes.add("/fapi/v1/exchangeInfo", binance_exchange_info([("AIA", "USDT")], NOW_MS, status="PRE_SETTLE"))
    app, _ = poll_at(make_app, NOW, "binance", "binanceusdm")
    [event] = exchange_events(app, "perp_delisted")
    assert event.ts == NOW and "scheduled_at" not in event.detail


def test_gate_in_delisting_without_times_is_announced(routes, make_app):
    serve_gate(routes, in_delisting=True)
    app, _ = poll_at(make_app, NOW, "gate", "gate")
    [event] = exchange_events(app, "perp_delisted")
    assert event.ts == NOW and "scheduled_at" not in event.detail


# ------------------------------------------------------------------ one failing extra


def test_a_failing_extra_marks_the_fetch_partial_and_keeps_the_rest(routes, make_app):
    serve_okx(routes)
    routes.add("/api/v5/public/liquidation-orders", Response('{"code":"50015","msg":"Either parameter instFamily '
                                                             'or instId is required","data":[]}', 400,
                                                             content_type="application/json"))
    app, outcome = poll_at(make_app, NOW, "okx", "okx")
    assert outcome.status == "partial"
    assert "liquidation" in outcome.message
    assert series(app, "AIA", m.LIQ_LONG_USD, "okx") == []
    assert series(app, "AIA", m.TOP_TRADER_POSITION_RATIO, "okx") == [(NOW_MS - 2 * H, 1.25)]
    assert series(app, "AIA", m.PRICE_CLOSE_1H, "okx") != []


def test_a_failing_funding_terms_call_marks_the_fetch_partial(routes, make_app):
    serve_bybit(routes)
    markets = bybit_instruments(["AIA", "BTC"], NOW_MS)
    routes.add("/v5/market/instruments-info", lambda req: markets if "symbol" not in req.args else
               bybit({"category": "linear", "list": "unexpected"}, NOW_MS))
    app, outcome = poll_at(make_app, NOW, "bybit", "bybit")
    assert outcome.status == "partial"
    assert "funding terms" in outcome.message
    assert series(app, "AIA", m.PRICE_CLOSE_1H, "bybit") == [(NOW_MS - 3 * H, 0.5), (NOW_MS - 2 * H, 0.6)]
