"""Issue 14: `divmon -vv digest --send` as a subprocess, to a webhook whose URL path carries its token and
an SMTP server that takes a password: no piece of either secret in stdout or stderr (urllib3's debug
lines print the request path), nor in the database."""

from __future__ import annotations

import datetime as dt
import re
from pathlib import Path

import yaml
from werkzeug import Request, Response

from tests.cli.runner import divmon
from tests.integration.outputs.helpers import SmtpServer, config_dict, fire, make_app, seed_series

HOOK_TOKEN = "T0KEN4hooks-" + "q7Zr2kLm9Xw3Vb8N"  # the secret part of a chat webhook URL
PASSWORD = "smtp-pass-" + "Hq4Lk8Rt2Wz6"


def _pieces(secret: str, text: str, n: int = 8) -> list[str]:
    return sorted({secret[i:i + n] for i in range(len(secret) - n + 1) if secret[i:i + n] in text})


def test_a_vv_digest_send_never_shows_the_webhook_token_or_smtp_password(tmp_path, httpserver):
    seen: list[str] = []

    def hook(request: Request) -> Response:
        seen.append(request.path)
        return Response("ok", status=200)

    httpserver.expect_request(re.compile("^/hooks/.*")).respond_with_handler(hook)
    db = f"sqlite:///{tmp_path / 'divmon.db'}"
    now = dt.datetime.now(dt.UTC)
    with SmtpServer() as srv:
        app = make_app(db, tmp_path / "reports", srv.port)
        seed_series(app, "AIA", end=now.replace(minute=0, second=0, microsecond=0))
        fire(app, "AIA", "oi_surge_unsupported", at=now - dt.timedelta(hours=1))
        app.close()
        data = config_dict(db, tmp_path / "reports", srv.port,
                           email={"username_env": "DIVMON_TEST_SMTP_USER", "password_env": "DIVMON_TEST_SMTP_PASS"},
                           webhook={"enabled": True, "url_env": "DIVMON_TEST_HOOK", "style": "slack"})
        config = tmp_path / "config.yaml"
        config.write_text(yaml.safe_dump(data))
        out = divmon("--config", str(config), "-vv", "digest", "--send",
                     env={"DIVMON_TEST_HOOK": httpserver.url_for(f"/hooks/{HOOK_TOKEN}"),
                          "DIVMON_TEST_SMTP_USER": "analyst", "DIVMON_TEST_SMTP_PASS": PASSWORD})
    assert seen == [f"/hooks/{HOOK_TOKEN}"], out.stdout + out.stderr[-800:]  # the webhook was really called
    assert "urllib3" in out.stderr  # the debug lines that would carry the path were there
    text = out.stdout + out.stderr
    assert not _pieces(HOOK_TOKEN, text), out.stderr[-800:]
    assert not _pieces(PASSWORD, text)
    stored = Path(tmp_path / "divmon.db").read_bytes().decode("latin-1")
    assert not _pieces(HOOK_TOKEN, stored) and not _pieces(PASSWORD, stored)
