"""Digests sent to a real SMTP server on loopback, parsed with the email package (rows M1-M6, R1)."""

from __future__ import annotations

import datetime as dt
import logging
import ssl

import pytest

from monitor.errors import NotifyError
from monitor.jobs.outputs import digest_job, period_key
from monitor.notify.email import header_value, message_id
from tests.htmltags import TagCollector
from tests.integration.outputs.helpers import T0, Clock, SmtpServer, fire, free_port, make_app, seed_series, self_signed

HOSTILE = ["<script>alert(1)</script>", '"><img src=x onerror=alert(1)>', "[x](javascript:alert(1))",
           "AB\u202eCD", "NUL\x00X", "Z" * 10_000]


@pytest.fixture
def db(tmp_path):
    return f"sqlite:///{tmp_path / 'divmon.db'}"


def test_digest_has_text_and_html_parts_and_inline_charts_referenced_by_content_id(db, tmp_path):
    with SmtpServer() as srv:
        app = make_app(db, tmp_path, srv.port)
        seed_series(app, "AIA")
        fire(app, "AIA", "oi_surge_unsupported", "crowded_longs", at=T0 - dt.timedelta(hours=3))
        [outcome] = digest_job(app, send=True)
        assert outcome.status == "sent"
        [msg] = srv.handler.parsed()
    assert msg["Subject"] == "[divmon] AIA crowded_longs (high), 2 new"
    assert msg["Message-ID"] == message_id("email", "day:2026-11-27", "divmon@example.org")
    assert msg["To"] == "analyst@example.org"
    text = msg.get_body(("plain",)).get_content()
    html = msg.get_body(("html",)).get_content()
    assert "NEW (2)" in text and "oi_surge_unsupported" in text and "OI growth: +412%" in text
    assert "oi_growth_pct" not in text and "oi_growth_pct" not in html  # evidence as a person reads it
    images = [p for p in msg.walk() if p.get_content_type() == "image/png"]
    assert len(images) == 1
    cid = images[0]["Content-ID"].strip("<>")
    assert f'src="cid:{cid}"' in html
    assert images[0].get_content()[:8] == b"\x89PNG\r\n\x1a\n"


def test_second_run_in_the_same_period_sends_nothing(db, tmp_path):
    with SmtpServer() as srv:
        clock = Clock()
        app = make_app(db, tmp_path, srv.port, clock)
        fire(app, "AIA", "oi_surge_unsupported", at=T0 - dt.timedelta(hours=1))
        assert digest_job(app, send=True)[0].status == "sent"
        clock.advance(hours=3)
        fire(app, "AIA", "oi_surge_unsupported")  # still firing: ongoing
        assert digest_job(app, send=True)[0].status == "skipped"
        assert len(srv.handler.messages) == 1
    row = app.store.get_delivery("email", "day:2026-11-27")
    assert row["status"] == "sent" and row["attempts"] == 1


def test_persisting_flag_is_not_resent_and_its_end_is_reported(db, tmp_path):
    with SmtpServer() as srv:
        clock = Clock()
        app = make_app(db, tmp_path, srv.port, clock)
        seed_series(app, "AIA", end=T0 + dt.timedelta(days=2))  # data keeps coming: resolved means resolved
        fire(app, "AIA", "oi_surge_unsupported", at=T0 - dt.timedelta(hours=1))
        digest_job(app, send=True)
        clock.advance(days=1)  # next day: the flag still fires, nothing new
        fire(app, "AIA", "oi_surge_unsupported", at=clock.now - dt.timedelta(hours=2))
        assert digest_job(app, send=True)[0].status == "empty"
        clock.advance(days=1)  # the flag stops firing: resolved, which is news
        fire(app, "AIA", at=clock.now - dt.timedelta(hours=3))  # quiet for longer than the 2 h cool-down
        assert digest_job(app, send=True)[0].status == "sent"
        msgs = srv.handler.parsed()
    assert len(msgs) == 2
    assert msgs[1]["Subject"].strip() == "[divmon] AIA oi_surge_unsupported (high) resolved, 1 resolved"


def test_m1_smtp_down_stays_pending_then_delivered_once(db, tmp_path, caplog):
    port = free_port()  # nothing listens yet
    clock = Clock()
    app = make_app(db, tmp_path, port, clock)
    fire(app, "AIA", "oi_surge_unsupported", at=T0 - dt.timedelta(hours=1))
    [first] = digest_job(app, send=True)
    assert first.status == "pending" and "unavailable" in first.detail
    assert app.store.get_delivery("email", "day:2026-11-27")["status"] == "pending"
    with SmtpServer(port) as srv:
        clock.advance(minutes=30)
        assert digest_job(app, send=True)[0].status == "sent"
        assert digest_job(app, send=True)[0].status == "skipped"
        assert len(srv.handler.messages) == 1
    row = app.store.get_delivery("email", "day:2026-11-27")
    assert row["status"] == "sent" and row["attempts"] == 2


def test_m1_pending_period_is_delivered_when_the_next_period_runs(db, tmp_path):
    port = free_port()
    clock = Clock()
    app = make_app(db, tmp_path, port, clock)
    fire(app, "AIA", "oi_surge_unsupported", at=T0 - dt.timedelta(hours=1))
    digest_job(app, send=True)
    clock.advance(days=1)
    fire(app, "BBB", "crowded_longs", at=clock.now - dt.timedelta(hours=1))
    with SmtpServer(port) as srv:
        outcomes = digest_job(app, send=True)
        ids = [m["Message-ID"] for m in srv.handler.parsed()]
    assert [(o.period, o.status) for o in outcomes] == [("day:2026-11-27", "sent"), ("day:2026-11-28", "sent")]
    assert len(set(ids)) == 2


@pytest.mark.parametrize("stage,code", [("MAIL", "421 4.3.2 Service shutting down"),
                                        ("RCPT", "451 4.3.0 Try again later"), ("DATA", "451 4.3.0 Local error")])
def test_m2_temporary_reply_keeps_the_digest_pending_for_a_retry(db, tmp_path, stage, code):
    with SmtpServer() as srv:
        app = make_app(db, tmp_path, srv.port)
        fire(app, "AIA", "oi_surge_unsupported", at=T0 - dt.timedelta(hours=1))
        srv.handler.codes[stage] = code
        [o] = digest_job(app, send=True)
        assert o.status == "pending" and code[:3] in o.detail
        del srv.handler.codes[stage]
        assert digest_job(app, send=True)[0].status == "sent"
        assert len(srv.handler.messages) == 1


def test_m2_permanent_550_is_logged_and_not_retried(db, tmp_path, caplog):
    with SmtpServer() as srv:
        app = make_app(db, tmp_path, srv.port)
        fire(app, "AIA", "oi_surge_unsupported", at=T0 - dt.timedelta(hours=1))
        srv.handler.codes["RCPT"] = "550 5.1.1 No such user"
        with caplog.at_level(logging.ERROR, logger="monitor.jobs.outputs"):
            assert digest_job(app, send=True)[0].status == "failed"
        assert any("rejected permanently" in r.getMessage() and "550" in r.getMessage() for r in caplog.records)
        del srv.handler.codes["RCPT"]
        [again] = digest_job(app, send=True)  # never retried, and still reported as failed
        assert again.status == "failed" and "550" in again.detail
        assert srv.handler.messages == []
    assert app.store.get_delivery("email", "day:2026-11-27")["status"] == "failed"


def test_m3_disconnect_after_data_250_counts_as_sent_without_duplicate(db, tmp_path):
    with SmtpServer() as srv:
        srv.handler.drop_after_data = True
        app = make_app(db, tmp_path, srv.port)
        fire(app, "AIA", "oi_surge_unsupported", at=T0 - dt.timedelta(hours=1))
        assert digest_job(app, send=True)[0].status == "sent"
        srv.handler.drop_after_data = False
        assert digest_job(app, send=True)[0].status == "skipped"
        assert len(srv.handler.messages) == 1


@pytest.mark.parametrize("bad", ["[divmon]\r\nBcc: victim@example.org", "[divmon]\nX: y", "pre%0d%0aBcc: x",
                                 "=?utf-8?q?=0D=0ABcc:_x?="])
def test_m5_line_breaks_in_header_bound_values_are_rejected_before_sending(db, tmp_path, bad):
    with pytest.raises(NotifyError) as err:
        header_value(bad, "subject")
    assert err.value.permanent
    with SmtpServer() as srv:
        app = make_app(db, tmp_path, srv.port)
        # past config validation (which refuses raw line breaks too): the send path checks again
        email_cfg = app.config.email.model_copy(update={"subject_prefix": bad})
        app.config = app.config.model_copy(update={"email": email_cfg})
        fire(app, "AIA", "oi_surge_unsupported", at=T0 - dt.timedelta(hours=1))
        [o] = digest_job(app, send=True)
        assert o.status == "failed" and "line break" in o.detail
        assert srv.handler.messages == []


@pytest.mark.parametrize("section,value", [("subject_prefix", "[divmon]\r\nBcc: x@example.org"),
                                           ("sender", "a@example.org\nBcc: x@example.org"),
                                           ("recipients", ["a@example.org\r\nBcc: b@example.org"])])
def test_m5_config_refuses_line_breaks_in_header_bound_values(db, tmp_path, section, value):
    from monitor.errors import ConfigError

    with pytest.raises(ConfigError, match=f"email.{section}"):
        make_app(db, tmp_path, email={section: value})


def test_m5_recipient_with_crlf_is_rejected_at_send_time_too(db, tmp_path):
    with SmtpServer() as srv:
        app = make_app(db, tmp_path, srv.port)
        email_cfg = app.config.email.model_copy(update={"recipients": ["a@example.org\r\nBcc: b@example.org"]})
        app.config = app.config.model_copy(update={"email": email_cfg})
        fire(app, "AIA", "oi_surge_unsupported", at=T0 - dt.timedelta(hours=1))
        assert digest_job(app, send=True)[0].status == "failed"
        assert srv.handler.messages == []


def test_m6_starttls_with_self_signed_certificate_is_refused_unless_its_ca_is_configured(db, tmp_path):
    cert, key = self_signed(tmp_path)
    ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ctx.load_cert_chain(cert, key)
    with SmtpServer(tls_context=ctx) as srv:
        app = make_app(db, tmp_path, srv.port, email={"security": "starttls"})
        fire(app, "AIA", "oi_surge_unsupported", at=T0 - dt.timedelta(hours=1))
        [o] = digest_job(app, send=True)
        assert o.status == "pending" and "not trusted" in o.detail and "email.ca_file" in o.detail
        assert srv.handler.messages == []
        trusting = make_app(db, tmp_path, srv.port, email={"security": "starttls", "ca_file": str(cert)})
        assert digest_job(trusting, send=True)[0].status == "sent"
        assert len(srv.handler.messages) == 1


def test_m6_server_without_starttls_is_refused_when_starttls_is_configured(db, tmp_path):
    with SmtpServer() as srv:
        app = make_app(db, tmp_path, srv.port, email={"security": "starttls"})
        fire(app, "AIA", "oi_surge_unsupported", at=T0 - dt.timedelta(hours=1))
        [o] = digest_job(app, send=True)
        assert o.status == "pending" and "STARTTLS" in o.detail
        assert srv.handler.messages == []


def test_r1_hostile_token_names_are_escaped_in_html_and_plain_parts(db, tmp_path):
    with SmtpServer() as srv:
        app = make_app(db, tmp_path, srv.port)
        for name in HOSTILE:
            fire(app, name, "oi_surge_unsupported", at=T0 - dt.timedelta(hours=1))
        assert digest_job(app, send=True)[0].status == "sent"
        [msg] = srv.handler.parsed()
    html = msg.get_body(("html",)).get_content()
    text = msg.get_body(("plain",)).get_content()
    parser = TagCollector()
    parser.feed(html)
    tags = {t for t, _ in parser.tags}
    assert not tags & {"script", "img", "a", "iframe"}, tags
    assert not any(k.startswith("on") for _, attrs in parser.tags for k in attrs)
    shown = "".join(parser.text)
    assert "<script>alert(1)</script>" in shown and '"><img src=x onerror=alert(1)>' in shown
    for part in (html, text):
        assert "\u202e" not in part and "\x00" not in part
        assert "Z" * 501 not in part  # 10k-character values are cut (names to 64, messages to 500)
        assert "Z" * 63 + "…" in part
    assert "[x](javascript:alert(1))" in text  # plain text shows it as it is: no markup is interpreted there


def test_digest_preview_writes_eml_and_webhook_json_without_a_delivery(db, tmp_path):
    app = make_app(db, tmp_path, 25)
    fire(app, "AIA", "oi_surge_unsupported", at=T0 - dt.timedelta(hours=1))
    out = tmp_path / "preview.eml"
    [o] = digest_job(app, send=False, out=str(out))
    assert o.status == "preview"
    import email
    import email.policy
    import json

    msg = email.message_from_bytes(out.read_bytes(), policy=email.policy.default)
    assert msg["Subject"] == "[divmon] AIA oi_surge_unsupported (high), 1 new"
    [body] = json.loads(out.with_suffix(".json").read_text())
    assert body["digest"]["counts"] == {"new": 1, "escalated": 0, "ongoing": 0, "resolved": 0, "dark": 0}
    assert app.store.list_deliveries() == []
    assert period_key(T0, "week") == "week:2026-W48" and period_key(T0, "hour") == "hour:2026-11-27T08"


def test_implicit_tls_delivers_with_the_configured_ca_and_refuses_without(db, tmp_path):
    cert, key = self_signed(tmp_path)
    ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ctx.load_cert_chain(cert, key)
    srv = SmtpServer()
    srv.controller = type(srv.controller)(srv.handler, hostname="127.0.0.1", port=srv.port, ssl_context=ctx)
    with srv:
        app = make_app(db, tmp_path, srv.port, email={"security": "ssl"})
        fire(app, "AIA", "oi_surge_unsupported", at=T0 - dt.timedelta(hours=1))
        assert digest_job(app, send=True)[0].status == "pending"
        trusting = make_app(db, tmp_path, srv.port, email={"security": "ssl", "ca_file": str(cert)})
        assert digest_job(trusting, send=True)[0].status == "sent"
        assert len(srv.handler.messages) == 1


def test_smtp_login_uses_credentials_from_the_named_env_vars_and_never_logs_them(db, tmp_path, caplog):
    from aiosmtpd.smtp import AuthResult

    seen = []

    def authenticator(server, session, envelope, mechanism, auth_data):
        seen.append((auth_data.login, auth_data.password))
        return AuthResult(success=auth_data.password == b"s3cret-pw", handled=False)

    srv = SmtpServer()
    srv.controller = type(srv.controller)(srv.handler, hostname="127.0.0.1", port=srv.port,
                                          authenticator=authenticator, auth_require_tls=False,
                                          auth_exclude_mechanism=["LOGIN"])
    creds = {"username_env": "DIVMON_SMTP_USER", "password_env": "DIVMON_SMTP_PASSWORD"}
    with srv, caplog.at_level(logging.DEBUG):
        wrong = make_app(db, tmp_path, srv.port, secrets={"DIVMON_SMTP_USER": "bot", "DIVMON_SMTP_PASSWORD": "nope-pw"},
                         email=creds)
        fire(wrong, "AIA", "oi_surge_unsupported", at=T0 - dt.timedelta(hours=1))
        [o] = digest_job(wrong, send=True)
        assert o.status == "failed" and "DIVMON_SMTP_PASSWORD" in o.detail and "nope-pw" not in o.detail
        wrong.store.save_delivery("email", "day:2026-11-27", status="pending")  # operator fixed it: retry
        app = make_app(db, tmp_path, srv.port, secrets={"DIVMON_SMTP_USER": "bot", "DIVMON_SMTP_PASSWORD": "s3cret-pw"},
                       email=creds)
        assert digest_job(app, send=True)[0].status == "sent"
    assert seen[-1] == (b"bot", b"s3cret-pw")
    assert "s3cret-pw" not in caplog.text and "nope-pw" not in caplog.text
    missing = make_app(db, tmp_path, srv.port, email=creds)
    from monitor.errors import ConfigError

    with pytest.raises(ConfigError, match="DIVMON_SMTP_USER"):
        from monitor.notify.email import send

        send(None, missing.config.email, missing.secrets)
