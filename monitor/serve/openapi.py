"""The OpenAPI 3.0 document of /api/ (served at /api/openapi.json). Written by hand: the routes are few,
and tests/integration/serve checks every answer against it with schemathesis."""

from __future__ import annotations

from typing import Any


def _s(kind: str, nullable: bool = False, **more: Any) -> dict[str, Any]:
    return {"type": kind, **({"nullable": True} if nullable else {}), **more}


def _obj(props: dict[str, Any], required: list[str] | None = None, **more: Any) -> dict[str, Any]:
    return {"type": "object", "properties": props, "required": required if required is not None else list(props),
            **more}


def _ref(name: str) -> dict[str, str]:
    return {"$ref": f"#/components/schemas/{name}"}


TIME = _s("string", True, format="date-time")
SEVERITY = _s("string", True, enum=["info", "warn", "high", "critical", None])
PAIRS = _obj({"t": {"type": "array", "items": _s("integer")}, "v": {"type": "array", "items": _s("number")}})
PAIRS_BY = {"type": "object", "additionalProperties": _ref("Pairs")}

SCHEMAS: dict[str, Any] = {
    "Error": _obj({"error": _s("string")}),
    "Status": _obj({"stamp": _s("string"), "data_updated_at": TIME, "data_until": TIME, "last_poll": TIME,
                    "judged_at": TIME, "as_of": TIME, "fixed_time": _s("boolean")}),
    "RankingRow": _obj({
        "rank": _s("integer", minimum=1), "token": _s("string"),
        "label": _s("string", enum=["adoption", "mixed", "speculation", "insufficient data"]),
        "score": _s("number", minimum=0, maximum=100), "confidence": _s("number", minimum=0, maximum=1),
        "degraded": _s("boolean"), "severity": SEVERITY, "worst_flag": _s("string", True),
        "worst_rule": _s("string", True), "flags": _s("integer", minimum=0), "data_until": TIME,
        "age_h": _s("number", True)}),
    "Ranking": _obj({"status": _ref("Status"), "tokens": {"type": "array", "items": _ref("RankingRow")}}),
    "Flag": _obj({"rule": _s("string"), "severity": _s("string"), "message": _s("string"), "window": _s("string"),
                  "confirmed": _s("boolean"), "lowers_confidence": _s("boolean"), "evidence": _s("object")}),
    "SourceState": _obj({"source": _s("string"), "status": _s("string"), "last_ts": TIME, "last_ok": TIME,
                         "age_s": _s("number", True), "poll_interval_s": _s("number", True),
                         "failures": _s("integer"), "throttled": _s("integer"), "stale": _s("boolean"),
                         "dark": _s("boolean"), "detail": _s("string")}),
    "Verdict": _obj({
        "version": _s("integer"), "token": _s("string"),
        "status": _s("string", enum=["OK", "WARNING", "CRITICAL", "UNKNOWN"]), "exit_code": _s("integer"),
        "label": _s("string"), "score": _s("number"), "confidence": _s("number"), "as_of": TIME,
        "degraded": _s("boolean"), "reasons": {"type": "array", "items": _s("string")},
        "flags": {"type": "array", "items": _ref("Flag")}, "health": {"type": "array", "items": _ref("SourceState")},
        "data_as_of": {"type": "object", "additionalProperties": _s("string", True)},
        "score_breakdown": _s("object")}),
    "Series": _obj({
        "token": _s("string"), "metric": _s("string"), "since": TIME, "until": TIME,
        "series": {"type": "array", "items": _obj({"source": _s("string"),
                                                   "ts": {"type": "array", "items": _s("integer")},
                                                   "value": {"type": "array", "items": _s("number")}})}}),
    "Pairs": PAIRS,
    "Charts": _obj({
        "token": _s("string"), "since": TIME, "until": TIME, "oi_by_venue": PAIRS_BY, "oi": _ref("NullablePairs"),
        "tvl": _ref("NullablePairs"), "active_addresses": _ref("NullablePairs"),
        "dev_activity": _ref("NullablePairs"), "funding": PAIRS_BY, "funding_cap": PAIRS_BY, "long_short": PAIRS_BY,
        "rsi": _ref("NullablePairs"), "rsi_levels": {"type": "array", "items": _s("number")},
        "liq_long": _ref("NullablePairs"), "liq_short": _ref("NullablePairs"), "volume": PAIRS_BY,
        "events": {"type": "array", "items": _obj({"t": _s("integer"), "kind": _s("string"),
                                                   "label": _s("string")})}}),
    "NullablePairs": {**PAIRS, "nullable": True},
    "FlagEpisode": _obj({"token": _s("string"), "rule": _s("string"), "title": _s("string"), "opened": TIME,
                         "last_seen": TIME, "resolved": TIME, "open": _s("boolean"), "severity": _s("string"),
                         "message": _s("string")}),
    "Flags": _obj({"flags": {"type": "array", "items": _ref("FlagEpisode")}}),
    "Event": _obj({"ts": TIME, "kind": _s("string"), "label": _s("string"), "chain": _s("string"),
                   "address": _s("string"), "tx_hash": _s("string"), "source": _s("string"),
                   "detail": _s("object")}),
    "Events": _obj({"events": {"type": "array", "items": _ref("Event")}}),
    "SourceHealth": _obj({"source": _s("string"), "polls": _s("integer"), "failures": _s("integer"),
                          "http_429": _s("integer"), "http_418": _s("integer"), "last_ok": TIME,
                          "newest_point": TIME, "latency_ms_avg": _s("number", True),
                          "latency_ms_max": _s("number", True)}),
    "Health": _obj({"sources": {"type": "array", "items": _ref("SourceHealth")}}),
}


def _json(name: str) -> dict[str, Any]:
    return {"content": {"application/json": {"schema": _ref(name)}}}


def _op(summary: str, name: str, *, token: bool = False, params: list[dict[str, Any]] | None = None,
        extra: dict[str, Any] | None = None) -> dict[str, Any]:
    responses: dict[str, Any] = {"200": {"description": "OK", **_json(name)}}
    if token:
        responses["404"] = {"description": "unknown token", **_json("Error")}
    if params:
        responses["400"] = {"description": "bad query parameter", **_json("Error")}
    if extra:
        responses["200"]["content"].update(extra)
    parameters = ([{"name": "symbol", "in": "path", "required": True, "schema": _s("string")}] if token else [])
    return {"get": {"summary": summary, "parameters": parameters + (params or []), "responses": responses}}


_Q = [
    {"name": "metric", "in": "query", "required": True, "schema": _s("string", minLength=1, maxLength=64),
     "description": "metric name, e.g. oi_usd, funding_rate_8h, tvl_usd"},
    {"name": "since", "in": "query", "required": False, "schema": _s("string", format="date-time")},
    {"name": "until", "in": "query", "required": False, "schema": _s("string", format="date-time")},
    {"name": "source", "in": "query", "required": False, "schema": _s("string")},
    {"name": "format", "in": "query", "required": False, "schema": _s("string", enum=["json", "csv"])},
]

SCHEMA: dict[str, Any] = {
    "openapi": "3.0.3",
    "info": {"title": "divmon dashboard API", "version": "1",
             "description": "Read-only view of the divergence-monitor store. Times are ISO-8601 UTC; series "
                            "timestamps are epoch seconds."},
    "paths": {
        "/api/status": _op("when the data was last refreshed", "Status"),
        "/api/tokens": _op("every token ranked by speculation score", "Ranking"),
        "/api/tokens/{symbol}": _op("one token's verdict (the document `divmon check --json` prints)", "Verdict",
                                    token=True),
        "/api/tokens/{symbol}/series": _op("one metric's stored points per source, JSON or CSV", "Series",
                                           token=True, params=_Q,
                                           extra={"text/csv": {"schema": _s("string")}}),
        "/api/tokens/{symbol}/charts": _op("the token page's charts over the stored history", "Charts",
                                           token=True),
        "/api/tokens/{symbol}/flags": _op("the token's flag episodes, newest first", "Flags", token=True),
        "/api/tokens/{symbol}/events": _op("the token's contract and exchange events", "Events", token=True),
        "/api/flags": _op("every flag episode, newest first", "Flags"),
        "/api/health": _op("per source: polls, failures, 429/418, latency, newest point", "Health"),
    },
    "components": {"schemas": SCHEMAS},
}
