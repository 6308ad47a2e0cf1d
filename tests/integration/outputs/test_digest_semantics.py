"""What a digest says happened (issue 13): data dark is not resolved, a cool-down merges flapping
episodes, escalations are news, a severity floor per channel, immediate critical alerts once per
episode, and a permanent rejection keeps failing (exit 75) until a later digest is delivered."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import pytest
import yaml
from werkzeug import Response

from monitor.jobs.outputs import alert_job, digest_job
from tests.cli.runner import divmon
from tests.integration.outputs.helpers import T0, Clock, SmtpServer, config_dict, fire, make_app, seed_series

H = dt.timedelta(hours=1)


@pytest.fixture
def db(tmp_path):
    return f"sqlite:///{tmp_path / 'divmon.db'}"


def _text(msg) -> str:
    return msg.get_body(("plain",)).get_content()


def test_flag_whose_data_went_dark_is_data_dark_not_resolved(db, tmp_path):
    with SmtpServer() as srv:
        clock = Clock()
        app = make_app(db, tmp_path, srv.port, clock)
        for token in ("AIA", "BBB"):
            seed_series(app, token, end=T0)
            fire(app, token, "oi_surge_unsupported", at=T0 - H)
        assert digest_job(app, send=True)[0].status == "sent"
        clock.advance(days=3)  # longer than any source's staleness limit (daily sources: 2 days)
        seed_series(app, "BBB", end=clock.now)  # BBB keeps reporting; AIA's sources went quiet at T0
        for token in ("AIA", "BBB"):
            fire(app, token, at=clock.now - 3 * H)  # neither rule fires any more
        [o] = digest_job(app, send=True)
        assert o.status == "sent"
        msg = srv.handler.parsed()[-1]
    text = _text(msg)
    assert msg["Subject"].strip() == "[divmon] BBB oi_surge_unsupported (high) resolved, 1 resolved, 1 data dark"
    dark = text.split("DATA DARK (1)")[1]
    assert "AIA" in dark and "BBB" not in dark
    assert "AIA" not in text.split("RESOLVED (1)")[1].split("DATA DARK")[0]


def test_a_token_that_stays_dark_is_listed_but_sends_nothing(db, tmp_path):
    with SmtpServer() as srv:
        clock = Clock()
        app = make_app(db, tmp_path, srv.port, clock)
        seed_series(app, "AIA", end=T0)
        fire(app, "AIA", "oi_surge_unsupported", at=T0 - H)
        digest_job(app, send=True)
        clock.advance(days=3)
        assert digest_job(app, send=True)[0].status == "sent"  # went dark: news once
        clock.advance(days=1)
        assert digest_job(app, send=True)[0].status == "empty"  # still dark: not news
        assert len(srv.handler.messages) == 2


def test_a_flapping_condition_is_one_episode_under_the_cooldown(db, tmp_path):
    with SmtpServer() as srv:
        clock = Clock(T0 - 4 * H)
        app = make_app(db, tmp_path, srv.port, clock, schedule={"digest_period": "hour"})
        seed_series(app, "AIA", end=T0 + 6 * H)
        for quarter in range(4):  # fires, clears, fires, clears: every 15 minutes for an hour
            at = T0 - 3 * H + dt.timedelta(minutes=5 + 15 * quarter)
            fire(app, "AIA", *(["crowded_longs"] if quarter % 2 == 0 else []), at=at)
        fire(app, "AIA", "crowded_longs", at=T0 - 2 * H - dt.timedelta(minutes=2))
        clock.now = T0 - 2 * H
        assert digest_job(app, send=True)[0].status == "sent"
        fire(app, "AIA", at=T0 - 2 * H + dt.timedelta(minutes=5))  # clears for good
        clock.now = T0 - H  # 55 minutes quiet: within the 2 h cool-down, not resolved yet
        assert digest_job(app, send=True)[0].status == "empty"
        clock.now = T0 + H  # quiet for the whole cool-down: resolved
        assert digest_job(app, send=True)[0].status == "sent"
        first, last = srv.handler.parsed()
    assert "1 new" in first["Subject"] and "1 new" in _text(first).splitlines()[1]
    assert _text(first).count("crowded_longs") == 1
    assert "re-opened 2×" in _text(first)
    assert last["Subject"].endswith("1 resolved")


def test_cooldown_is_configurable_and_zero_keeps_every_episode(db, tmp_path):
    with SmtpServer() as srv:
        clock = Clock(T0 - 2 * H)
        app = make_app(db, tmp_path, srv.port, clock, schedule={"digest_period": "hour"}, digest={"cooldown": "0s"})
        seed_series(app, "AIA", end=T0 + 6 * H)
        for quarter in range(3):
            fire(app, "AIA", *(["crowded_longs"] if quarter % 2 == 0 else []),
                 at=T0 - 2 * H + dt.timedelta(minutes=15 * (quarter + 1)))
        clock.now = T0 - H
        assert digest_job(app, send=True)[0].status == "sent"
        [msg] = srv.handler.parsed()
    assert msg["Subject"].endswith(", 1 new, 1 resolved")  # two episodes: no merging without a cool-down


def test_an_escalation_from_warn_to_critical_is_sent(db, tmp_path):
    with SmtpServer() as srv:
        clock = Clock()
        app = make_app(db, tmp_path, srv.port, clock)
        seed_series(app, "AIA", end=T0 + dt.timedelta(days=2))
        fire(app, "AIA", "oi_surge_unsupported", severity="warn", at=T0 - H)
        assert digest_job(app, send=True)[0].status == "sent"
        clock.advance(days=1)
        fire(app, "AIA", "oi_surge_unsupported", severity="critical", at=clock.now - H)
        assert digest_job(app, send=True, verdicts=[_verdict("AIA", "speculation")])[0].status == "sent"
        clock.advance(days=1)
        fire(app, "AIA", "oi_surge_unsupported", severity="critical", at=clock.now - H)
        assert digest_job(app, send=True)[0].status == "empty"  # still critical: nothing new
        msg = srv.handler.parsed()[-1]
    assert msg["Subject"].strip() == "[divmon] AIA → speculation (critical), 1 escalated"
    section = _text(msg).split("ESCALATED (1)")[1]
    assert "AIA [critical]" in section and "was warn" in section


def _verdict(token: str, label: str):
    from monitor.model import Verdict

    return Verdict(token=token, label=label, score=90.0, confidence=0.9, flags=(), as_of=T0)


def test_each_channel_has_its_own_severity_floor(db, tmp_path, httpserver):
    bodies = []
    httpserver.expect_request("/hook").respond_with_handler(lambda r: bodies.append(json.loads(r.data))
                                                            or Response("ok", 200))
    with SmtpServer() as srv:
        app = make_app(db, tmp_path, srv.port, secrets={"DIVMON_WEBHOOK_URL": httpserver.url_for("/hook")},
                       email={"min_severity": "warn"},
                       webhook={"enabled": True, "style": "generic", "min_severity": "info"})
        seed_series(app, "AIA", end=T0)
        fire(app, "AIA", "data_blind_spot", severity="info", at=T0 - H)
        outcomes = {o.channel: o.status for o in digest_job(app, send=True)}
        assert outcomes == {"email": "empty", "webhook": "sent"}
        assert srv.handler.messages == []
    assert [r["rule"] for r in bodies[0]["digest"]["new"]] == ["data_blind_spot"]


def test_default_floor_keeps_info_flags_out_of_email(db, tmp_path):
    with SmtpServer() as srv:
        app = make_app(db, tmp_path, srv.port)
        seed_series(app, "AIA", end=T0)
        fire(app, "AIA", "data_blind_spot", severity="info", at=T0 - H)
        fire(app, "BBB", "crowded_longs", severity="warn", at=T0 - H)
        assert digest_job(app, send=True)[0].status == "sent"
        [msg] = srv.handler.parsed()
    assert "data_blind_spot" not in _text(msg) and "crowded_longs" in _text(msg)


def test_critical_alert_is_sent_once_per_episode_across_restarts(db, tmp_path):
    with SmtpServer() as srv:
        clock = Clock()
        make = lambda: make_app(db, tmp_path, srv.port, clock, email={"alert_critical": True})  # noqa: E731
        app = make()
        seed_series(app, "AIA", end=T0 + dt.timedelta(days=1))
        fire(app, "AIA", "crowded_longs", severity="high", at=T0 - H)
        assert alert_job(app) == []  # high is not critical
        fire(app, "AIA", "crowded_longs", severity="critical", at=T0)
        assert [o.status for o in alert_job(app)] == ["sent"]
        clock.advance(minutes=15)
        assert alert_job(make()) == []  # a restarted process: the deliveries table remembers
        fire(make(), "AIA", at=clock.now)  # clears, then re-fires within the cool-down: same episode
        fire(make(), "AIA", "crowded_longs", severity="critical", at=clock.now + dt.timedelta(minutes=15))
        assert alert_job(make()) == []
        fire(make(), "AIA", at=clock.now + H)  # clears for longer than the cool-down, then fires again
        clock.advance(hours=5)
        fire(make(), "AIA", "crowded_longs", severity="critical", at=clock.now)
        assert [o.status for o in alert_job(make())] == ["sent"]
        msgs = srv.handler.parsed()
    assert len(msgs) == 2 and msgs[0]["Subject"].strip() == "[divmon] CRITICAL AIA crowded_longs"
    assert msgs[0]["Message-ID"] != msgs[1]["Message-ID"]
    assert "Crowded longs" in _text(msgs[0]) or "crowded_longs" in _text(msgs[0])


def test_alerts_are_off_unless_configured_and_ride_along_with_digest_send(db, tmp_path):
    with SmtpServer() as srv:
        app = make_app(db, tmp_path, srv.port)
        seed_series(app, "AIA", end=T0)
        fire(app, "AIA", "crowded_longs", severity="critical", at=T0 - H)
        assert alert_job(app) == []
        on = make_app(db, tmp_path, srv.port, email={"alert_critical": True})
        statuses = sorted((o.period.split(":")[0], o.status) for o in digest_job(on, send=True))
        assert statuses == [("alert", "sent"), ("day", "sent")]
        assert len(srv.handler.messages) == 2


def _config_file(tmp_path: Path, port: int, db: str) -> Path:
    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump(config_dict(db, tmp_path / "reports", port)))
    return path


def test_cli_digest_send_keeps_saying_failed_after_a_550_until_a_digest_gets_through(db, tmp_path):
    now = dt.datetime.now(dt.UTC)
    with SmtpServer() as srv:
        cfg = _config_file(tmp_path, srv.port, db)
        app = make_app(db, tmp_path, srv.port, Clock(now))
        fire(app, "AIA", "oi_surge_unsupported", at=now - H)
        srv.handler.codes["RCPT"] = "550 5.1.1 No such user"
        first = divmon("--config", str(cfg), "digest", "--send")
        assert first.returncode == 75, first.stderr
        assert "failed" in first.stdout and "550" in first.stdout
        del srv.handler.codes["RCPT"]
        again = divmon("--config", str(cfg), "digest", "--send")
        assert again.returncode == 75, again.stdout + again.stderr
        assert "failed" in again.stdout and "550" in again.stdout
        assert srv.handler.messages == []  # never retried by itself
        # a later digest delivered on the channel settles it
        record = app.store.get_delivery("email", next(d["period"] for d in app.store.list_deliveries("email")))
        summary = json.loads(record["summary"])
        app.store.save_delivery("email", "day:2099-01-01", message_id="<later@divmon>", status="sent", attempts=1,
                                summary=json.dumps({"since": summary["until"], "until": summary["until"] + 1}))
        settled = divmon("--config", str(cfg), "digest", "--send")
    assert settled.returncode == 0, settled.stdout + settled.stderr


def test_no_alert_for_a_critical_flag_that_already_stopped_or_whose_data_is_dark(db, tmp_path):
    with SmtpServer() as srv:
        app = make_app(db, tmp_path, srv.port, email={"alert_critical": True})
        seed_series(app, "AIA", end=T0)
        fire(app, "AIA", "crowded_longs", severity="critical", at=T0 - 2 * H)
        fire(app, "AIA", at=T0 - H)  # stopped before anyone evaluated alerts
        fire(app, "OLD", "crowded_longs", severity="critical", at=T0 - H)  # OLD has no fresh data
        assert alert_job(app) == []
        fire(app, "AIA", "crowded_longs", severity="critical", at=T0)  # AIA fires again: alert
        assert [o.status for o in alert_job(app)] == ["sent"]
        assert len(srv.handler.messages) == 1
