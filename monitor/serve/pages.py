"""Server-rendered pages (Jinja2, autoescaped). Every value from the store or an upstream reaches the
page as escaped text; chart data comes from /api/ and is drawn by the shipped static scripts."""

from __future__ import annotations

from pathlib import Path
from typing import Any
from urllib.parse import quote

from jinja2 import Environment, FileSystemLoader, select_autoescape
from starlette.requests import Request
from starlette.responses import HTMLResponse, Response
from starlette.routing import Route

from monitor import evidence as ev
from monitor.model import SEVERITY_ORDER
from monitor.serve.dashboard import SEVERITIES, Dashboard, NotFound

TEMPLATES = Path(__file__).parent / "templates"
LABELS = ("speculation", "mixed", "adoption", "insufficient data")

env = Environment(loader=FileSystemLoader(TEMPLATES), autoescape=select_autoescape(["html"], default=True))
env.filters["q"] = lambda text: quote(str(text), safe="")  # a token in a URL path: every byte encoded
env.filters["usd"] = ev.fmt_usd
env.filters["when"] = lambda iso: ev.fmt_ts(iso) if iso else "never"
env.filters["metric"] = ev.metric_name
env.filters["fact"] = ev.fmt_value


def _board(request: Request) -> Dashboard:
    board: Dashboard = request.app.state.dashboard
    return board


def render(name: str, code: int = 200, **context: Any) -> HTMLResponse:
    return HTMLResponse(env.get_template(name).render(**context), status_code=code)


def ranking(request: Request) -> Response:
    board = _board(request)
    return render("ranking.html", page="ranking", rows=board.ranking(), status=board.status(), labels=LABELS,
                  severities=SEVERITIES)


def token(request: Request) -> Response:
    board = _board(request)
    try:
        verdict = board.verdict(request.path_params["symbol"])
    except NotFound as exc:
        return render("missing.html", 404, page="token", message=str(exc), status=board.status())
    flags = sorted(verdict.flags, key=lambda f: (-SEVERITY_ORDER.get(f.severity, 0), f.rule))
    return render("token.html", page="token", v=verdict, status=board.status(),
                  flags=[(f, ev.flag_text(f, verbose=True)) for f in flags],
                  explanation=ev.verdict_explanation(verdict), history=board.flag_history(verdict.token),
                  events=board.events(verdict.token), health=verdict.health)


def health(request: Request) -> Response:
    board = _board(request)
    return render("health.html", page="health", sources=board.health(), status=board.status())


def config(request: Request) -> Response:
    board = _board(request)
    return render("config.html", page="config", text=board.config_text(), status=board.status())


ROUTES = [
    Route("/", ranking),
    Route("/tokens/{symbol}", token),
    Route("/health", health),
    Route("/config", config),
]
