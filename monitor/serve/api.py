"""The JSON API under /api/ (schema: openapi.py). Handlers are plain functions: Starlette runs them in
its thread pool, so a judgement or a long read never blocks the event loop."""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route

from monitor.errors import ConfigError
from monitor.serve.dashboard import Dashboard, NotFound, csv_lines, iso, parse_time
from monitor.serve.openapi import SCHEMA

METRIC_MAX = 64


def error(status: int, message: str) -> JSONResponse:
    return JSONResponse({"error": message}, status_code=status)


def _board(request: Request) -> Dashboard:
    board: Dashboard = request.app.state.dashboard
    return board


def tokens(request: Request) -> Response:
    board = _board(request)
    return JSONResponse({"status": board.status(), "tokens": board.ranking()})


def token_verdict(request: Request) -> Response:
    from monitor.cli.check import to_json  # the very document `divmon check --json` prints

    try:
        verdict = _board(request).verdict(request.path_params["symbol"])
    except NotFound as exc:
        return error(404, str(exc))
    return JSONResponse(to_json(verdict))


def token_series(request: Request) -> Response:
    board, q = _board(request), request.query_params
    metric, fmt, source = q.get("metric", ""), q.get("format", "json"), q.get("source") or None
    if not metric or len(metric) > METRIC_MAX:
        return error(400, "metric: required, e.g. ?metric=oi_usd")
    if fmt not in ("json", "csv"):
        return error(400, "format: json or csv")
    try:
        since, until = parse_time(q.get("since"), "since"), parse_time(q.get("until"), "until")
        rows = board.series_rows(request.path_params["symbol"], metric, since, until, source)
    except NotFound as exc:
        return error(404, str(exc))
    except ConfigError as exc:
        return error(400, str(exc))
    if fmt == "csv":
        name = f"{metric}.csv".replace('"', "")
        return StreamingResponse(csv_lines(rows), media_type="text/csv; charset=utf-8",
                                 headers={"Content-Disposition": f'attachment; filename="{name}"'})
    series: dict[str, dict[str, list[Any]]] = {}
    for t, src, value in rows:
        pair = series.setdefault(src, {"ts": [], "value": []})
        pair["ts"].append(t)
        pair["value"].append(value)
    body = {"token": board.symbol(request.path_params["symbol"]), "metric": metric,
            "since": iso(since), "until": iso(until),
            "series": [{"source": src, **pair} for src, pair in series.items()]}
    return JSONResponse(body)


def token_charts(request: Request) -> Response:
    try:
        return JSONResponse(_board(request).charts(request.path_params["symbol"]))
    except NotFound as exc:
        return error(404, str(exc))


def token_flags(request: Request) -> Response:
    try:
        return JSONResponse({"flags": _board(request).flag_history(request.path_params["symbol"])})
    except NotFound as exc:
        return error(404, str(exc))


def flags(request: Request) -> Response:
    return JSONResponse({"flags": _board(request).flag_history()})


def token_events(request: Request) -> Response:
    try:
        return JSONResponse({"events": _board(request).events(request.path_params["symbol"])})
    except NotFound as exc:
        return error(404, str(exc))


def health(request: Request) -> Response:
    return JSONResponse({"sources": _board(request).health()})


def status(request: Request) -> Response:
    return JSONResponse(_board(request).status())


def openapi(request: Request) -> Response:
    return JSONResponse(SCHEMA)


ROUTES = [
    Route("/api/openapi.json", openapi),
    Route("/api/status", status),
    Route("/api/tokens", tokens),
    Route("/api/tokens/{symbol}", token_verdict),
    Route("/api/tokens/{symbol}/series", token_series),
    Route("/api/tokens/{symbol}/charts", token_charts),
    Route("/api/tokens/{symbol}/flags", token_flags),
    Route("/api/tokens/{symbol}/events", token_events),
    Route("/api/flags", flags),
    Route("/api/health", health),
]
