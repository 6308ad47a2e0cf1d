"""Secrets: with canary values in every key env var, drive the HTTP client through the failures that
carry keys (query-string keys as Etherscan's, header keys as CoinGlass's, an upstream echoing them) and
search logs, exception chains, health rows and the SQLite file for the canaries, raw and URL-encoded.

The same checks run over the whole suite with ``-p tests.faults.canary_plugin`` (see that module)."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from monitor.app import App
from monitor.config import Secrets, parse_config
from monitor.errors import SourceError
from monitor.sources.http import HttpClient
from monitor.store import Store
from tests.faults.canary import CANARIES, assert_no_canary, canary_hits, exception_chain_text
from tests.faults.faultserver import FaultServer, closed_port

FAKE_LOGGERS = ("werkzeug", "pytest_httpserver")  # the fake upstream's own request log, not ours


@pytest.fixture
def canary_env(monkeypatch):
    for name, value in CANARIES.items():
        monkeypatch.setenv(name, value)


@pytest.fixture
def app(canary_env, httpserver, sqlite_url):
    base = httpserver.url_for("/").rstrip("/")
    config = parse_config({"network": {"allow_loopback": True},
                           "email": {"username_env": "DIVMON_SMTP_USER", "password_env": "DIVMON_SMTP_PASSWORD"},
                           "sources": {
        "etherscan": {"base_url": base + "/v2", "max_retries": 1, "deadline_s": 3},
        "coinglass": {"base_url": base, "max_retries": 1, "deadline_s": 3},
        "dune": {"base_url": base, "max_retries": 0, "deadline_s": 3},
    }})
    application = App(config, secrets=Secrets(), store=Store(sqlite_url))
    yield application
    application.close()


def _client(app: App, name: str, base_url: str | None = None, **kw) -> HttpClient:
    cfg = getattr(app.config.sources, name)
    if base_url is not None:
        cfg = cfg.model_copy(update={"base_url": base_url})
    ctx = app.context()
    return HttpClient.from_config(name, cfg, session=ctx.session_factory(), redactor=ctx.redactor,
                                  health=ctx.health, limiter=ctx.limiters.get(name, 1000, 100), **kw)


def _our_log(caplog) -> str:
    return "\n".join(f"{r.name} {r.getMessage()} {r.exc_text or ''}" for r in caplog.records
                     if not r.name.startswith(FAKE_LOGGERS))


def test_canary_helpers_find_raw_and_encoded_forms():
    value = CANARIES["ETHERSCAN_API_KEY"]
    assert canary_hits(f"GET /api?apikey={value}") == ["ETHERSCAN_API_KEY"]
    assert canary_hits(b"apikey=cnry-es%2BZ3K%26p%3D9") == ["ETHERSCAN_API_KEY"]
    assert canary_hits("apikey=cnry-es+Z3K&p=9".replace("+", "%2B")) == []  # half-encoded is not a form
    with pytest.raises(AssertionError, match="GITHUB_TOKEN"):
        assert_no_canary(repr(RuntimeError(CANARIES["GITHUB_TOKEN"])))


def test_secrets_never_reach_logs_exceptions_or_the_database(app, httpserver, caplog, sqlite_url):
    caplog.set_level(logging.DEBUG)
    es_key, cg_key = CANARIES["ETHERSCAN_API_KEY"], CANARIES["COINGLASS_API_KEY"]
    echo = f"<html><body>Error for /v2/api?module=account&apikey={es_key} (CG-API-KEY {cg_key})</body></html>"
    httpserver.expect_ordered_request("/v2/api").respond_with_data(echo, status=502, content_type="text/html")
    httpserver.expect_ordered_request("/v2/api").respond_with_data(f"Invalid API Key {es_key}", status=200)
    httpserver.expect_ordered_request("/api/futures/openInterest/ohlc-history").respond_with_json(
        {"code": "401", "msg": f"API key {cg_key} is invalid"}, status=401)
    httpserver.expect_ordered_request("/v2/api").respond_with_data(
        "", status=302, headers={"Location": f"https://evil.example/?apikey={es_key}&pw={CANARIES['DIVMON_SMTP_PASSWORD']}"})
    httpserver.expect_ordered_request("/api/v1/query/1/results").respond_with_data(
        f'{{"error": "key {CANARIES["DUNE_API_KEY"]} {CANARIES["DIVMON_WEBHOOK_URL"]}", NaN}}', status=200)

    etherscan = _client(app, "etherscan")
    coinglass = _client(app, "coinglass", headers={"CG-API-KEY": cg_key})
    dune = _client(app, "dune", headers={"X-Dune-Api-Key": CANARIES["DUNE_API_KEY"]})
    errors: list[BaseException] = []
    calls = [
        lambda: etherscan.get_json("api", params={"module": "account", "apikey": es_key}, token="AIA"),  # 502 + 200
        lambda: coinglass.get_json("api/futures/openInterest/ohlc-history", token="AIA"),
        lambda: etherscan.get_json("api", params={"module": "account", "apikey": es_key}, token="AIA"),
        lambda: dune.get_json("api/v1/query/1/results", token="AIA"),
    ]
    with FaultServer("silent") as silent:
        dead = f"http://127.0.0.1:{closed_port()}/v2"
        for base in (silent.url + "v2", dead):
            client = _client(app, "etherscan", base_url=base)
            client.read_timeout, client.deadline_s = 0.3, 0.8
            calls.append(lambda c=client: c.get_json("api", params={"apikey": es_key}, token="AIA"))
        for call in calls:
            with pytest.raises(SourceError) as info:
                call()
            errors.append(info.value)
    assert len(errors) == 6

    for exc in errors:
        assert_no_canary(exception_chain_text(exc), f"exception chain of {type(exc).__name__}")
    # the failures went through the code paths that carry keys: they are real failures, not no-ops
    assert "COINGLASS_API_KEY" in str(errors[1]) and "redirect not followed" in str(errors[2])
    assert_no_canary(_our_log(caplog), "log records")
    runs = app.health.drain()
    assert len(runs) >= 7
    app.store.record_poll_runs(runs)
    app.store.close()
    db = Path(sqlite_url.removeprefix("sqlite:///"))
    for path in db.parent.glob(db.name + "*"):  # the database, its WAL and shared-memory files
        assert_no_canary(path.read_bytes(), path.name)


def test_every_configured_secret_is_known_to_the_redactor(app):
    text = " ".join(CANARIES.values())
    assert_no_canary(app.redactor(text), "redacted text")
