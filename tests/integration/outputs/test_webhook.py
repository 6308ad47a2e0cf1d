"""The webhook channel against a loopback HTTP server: body shapes, once per period, temp vs permanent."""

from __future__ import annotations

import datetime as dt
import json

import pytest
from werkzeug import Response

from monitor.jobs.outputs import digest_job
from tests.integration.outputs.helpers import T0, Clock, fire, make_app

HOOK = {"enabled": True, "url_env": "DIVMON_WEBHOOK_URL"}


def _app(tmp_path, httpserver, style="slack", clock=None):
    db = f"sqlite:///{tmp_path / 'divmon.db'}"
    url = httpserver.url_for("/hook/T000/SECRET")
    return make_app(db, tmp_path, 25, clock, secrets={"DIVMON_WEBHOOK_URL": url},
                    email={"enabled": False}, webhook={**HOOK, "style": style})


@pytest.mark.parametrize("style,key", [("slack", "blocks"), ("discord", "embeds"), ("telegram", "parse_mode"),
                                       ("generic", "digest")])
def test_webhook_posts_the_digest_once_per_period_in_the_style_receivers_accept(tmp_path, httpserver, style, key):
    bodies = []

    def hook(request):
        bodies.append((json.loads(request.data), request.headers.get("Idempotency-Key")))
        return Response("ok", 200)

    httpserver.expect_request("/hook/T000/SECRET", method="POST").respond_with_handler(hook)
    clock = Clock()
    app = _app(tmp_path, httpserver, style, clock)
    fire(app, "<b>AIA</b>", "oi_surge_unsupported", at=T0 - dt.timedelta(hours=1))
    assert [o.status for o in digest_job(app, send=True)] == ["sent"]
    clock.advance(hours=2)
    assert [o.status for o in digest_job(app, send=True)] == ["skipped"]
    assert len(bodies) == 1
    body, idem = bodies[0]
    assert key in body
    text = body.get("text") or body.get("content")
    assert "oi_surge_unsupported (high), 1 new" in text.replace("\\", "")
    if style != "generic":  # plain text there; every chat style escapes the name in its markup
        assert "<b>AIA</b>" not in text
    assert idem and idem.startswith("<divmon.")
    if style == "discord":
        assert body["allowed_mentions"] == {"parse": []}


def test_webhook_5xx_stays_pending_then_delivers_and_4xx_fails_permanently(tmp_path, httpserver):
    httpserver.expect_ordered_request("/hook/T000/SECRET").respond_with_data("busy", status=503)
    httpserver.expect_ordered_request("/hook/T000/SECRET").respond_with_data("ok", status=200)
    clock = Clock()
    app = _app(tmp_path, httpserver, clock=clock)
    fire(app, "AIA", "oi_surge_unsupported", at=T0 - dt.timedelta(hours=1))
    [first] = digest_job(app, send=True)
    assert first.status == "pending" and "503" in first.detail
    assert "SECRET" not in first.detail and "DIVMON_WEBHOOK_URL" in first.detail
    assert digest_job(app, send=True)[0].status == "sent"
    httpserver.check_assertions()

    httpserver.clear()
    httpserver.expect_request("/hook/T000/SECRET").respond_with_data("no such channel", status=404)
    clock.advance(days=1)
    fire(app, "BBB", "crowded_longs", at=clock.now - dt.timedelta(hours=1))
    assert digest_job(app, send=True)[0].status == "failed"
    assert digest_job(app, send=True)[0].status == "failed"  # still failed, and not retried
    assert len(httpserver.log) == 1


def test_webhook_url_env_missing_names_the_variable(tmp_path):
    from monitor.errors import ConfigError

    app = make_app(f"sqlite:///{tmp_path / 'x.db'}", tmp_path, email={"enabled": False}, webhook=HOOK)
    fire(app, "AIA", "oi_surge_unsupported", at=T0 - dt.timedelta(hours=1))
    with pytest.raises(ConfigError, match="DIVMON_WEBHOOK_URL"):
        digest_job(app, send=True)
