"""Digest e-mail: a multipart message (plain text + HTML + inline PNGs by Content-ID) and its SMTP send.

Delivery outcomes are reported as NotifyError(permanent=...): a 5xx reply is permanent (never
retried), a 4xx reply, a refused or dropped connection or a timeout is temporary (the delivery stays
pending). Once the server has answered 250 to DATA the message counts as sent, even if the
connection then drops before QUIT.
"""

from __future__ import annotations

import hashlib
import logging
import re
import smtplib
import socket
import ssl
from collections.abc import Callable
from datetime import datetime
from email.message import EmailMessage
from email.utils import format_datetime
from typing import Any, cast

from monitor.config import EmailConfig, Secrets
from monitor.errors import ConfigError, NotifyError
from monitor.notify.episodes import Digest, Episode

log = logging.getLogger(__name__)
_BAD_HEADER = re.compile(r"[\r\n\x00\x85\u2028\u2029]|%0[ad]|=0[ad]|\\[rn]|=\?", re.IGNORECASE)
_ADDRESS = re.compile(r"^[A-Za-z0-9._%+\-]+@[A-Za-z0-9.\-]+$")


def header_value(value: str, what: str) -> str:
    """A value bound for a header; CR/LF (raw or encoded) or NUL is refused before anything is sent."""
    if _BAD_HEADER.search(value):
        raise NotifyError(f"{what} contains a line break or encoded newline; refused", permanent=True)
    return value


def address(value: str, what: str) -> str:
    header_value(value, what)
    if not _ADDRESS.match(value):
        raise NotifyError(f"{what} {value!r} is not a plain address like name@example.org", permanent=True)
    return value


def message_id(channel: str, period: str, sender: str) -> str:
    """Stable across retries and restarts: the same period always has the same Message-ID."""
    digest = hashlib.sha256(f"{channel}\x00{period}".encode()).hexdigest()[:32]
    domain = sender.rsplit("@", 1)[-1] if "@" in sender else "localhost"
    return f"<divmon.{digest}@{header_value(domain, 'sender domain')}>"


def build_message(
    cfg: EmailConfig,
    *,
    subject: str,
    text: str,
    html: str,
    images: dict[str, bytes],
    msg_id: str,
    date: datetime,
) -> EmailMessage:
    """multipart/alternative (text, multipart/related(html, images)); ``images`` cid -> PNG bytes,
    referenced from the HTML as ``cid:<cid>``."""
    msg = EmailMessage()
    msg["Subject"] = header_value(subject, "subject")
    msg["From"] = address(cfg.sender, "email.sender")
    if not cfg.recipients:
        raise ConfigError("email.recipients is empty: name at least one address")
    msg["To"] = ", ".join(address(r, "email.recipients") for r in cfg.recipients)
    msg["Message-ID"] = header_value(msg_id, "Message-ID")
    msg["Date"] = format_datetime(date)
    msg["Auto-Submitted"] = "auto-generated"
    msg.set_content(text)
    msg.add_alternative(html, subtype="html")
    # multipart/alternative after add_alternative: [text, html]; the stubs type the payload as a union
    html_part = cast(list[EmailMessage], msg.get_payload())[1]
    for cid, png in images.items():
        html_part.add_related(png, maintype="image", subtype="png", cid=f"<{header_value(cid, 'Content-ID')}>",
                              filename=f"{cid.split('@')[0]}.png", disposition="inline")
    return msg


def digest_message(cfg: EmailConfig, digest: Digest, *, msg_id: str, date: datetime) -> EmailMessage:
    """The digest as mail: plain text, HTML, and each chart inline (cid:) shown at half its pixels."""
    from monitor.notify.digest_html import png_size, render_html
    from monitor.notify.digest_text import render_text, subject

    stem = msg_id.strip("<>").split("@")[0]
    cids = {token: f"chart{i}.{stem}@divmon" for i, token in enumerate(digest.charts, 1)}
    images = {token: (f"cid:{cid}", *png_size(digest.charts[token])) for token, cid in cids.items()}
    return build_message(cfg, subject=subject(cfg.subject_prefix, digest), text=render_text(digest),
                         html=render_html(digest, cfg.subject_prefix, images),
                         images={cid: digest.charts[token] for token, cid in cids.items()}, msg_id=msg_id, date=date)


def alert_message(cfg: EmailConfig, ep: Episode, *, msg_id: str, date: datetime,
                  report_url: str | None = None) -> EmailMessage:
    from html import escape

    from monitor.notify.digest_text import alert_subject, alert_text

    text = alert_text(ep, report_url)
    html = f'<!DOCTYPE html><html><body><pre style="white-space:pre-wrap;">{escape(text)}</pre></body></html>'
    return build_message(cfg, subject=alert_subject(cfg.subject_prefix, ep), text=text, html=html, images={},
                         msg_id=msg_id, date=date)


def _context(cfg: EmailConfig) -> ssl.SSLContext:
    # Certificates are always verified; a private CA is trusted only through email.ca_file.
    try:
        return ssl.create_default_context(cafile=cfg.ca_file) if cfg.ca_file else ssl.create_default_context()
    except (OSError, ssl.SSLError) as exc:
        raise ConfigError(f"email.ca_file {cfg.ca_file!r} cannot be loaded: {exc}") from None


def _classify(exc: BaseException, cfg: EmailConfig) -> NotifyError:
    where = f"{cfg.host}:{cfg.port}"
    if isinstance(exc, ssl.SSLCertVerificationError):
        return NotifyError(f"SMTP {where}: certificate not trusted ({exc.verify_message}); set email.ca_file to "
                           "the CA that signed it")
    if isinstance(exc, smtplib.SMTPRecipientsRefused):
        codes = [code for code, _ in exc.recipients.values()]
        permanent = any(c >= 500 for c in codes)
        return NotifyError(f"SMTP {where}: recipients refused with {sorted(set(codes))}", permanent=permanent)
    if isinstance(exc, smtplib.SMTPResponseException):
        text = exc.smtp_error.decode("utf-8", "replace") if isinstance(exc.smtp_error, bytes) else str(exc.smtp_error)
        kind = "permanent" if exc.smtp_code >= 500 else "temporary"
        return NotifyError(f"SMTP {where}: {kind} failure {exc.smtp_code} {text[:200]}",
                           permanent=exc.smtp_code >= 500)
    if isinstance(exc, (smtplib.SMTPServerDisconnected, socket.timeout, TimeoutError, ConnectionError, OSError)):
        return NotifyError(f"SMTP {where}: unavailable ({type(exc).__name__}: {exc})")
    return NotifyError(f"SMTP {where}: {type(exc).__name__}: {exc}")


def send(
    msg: EmailMessage,
    cfg: EmailConfig,
    secrets: Secrets,
    *,
    smtp_factory: Callable[..., Any] | None = None,
) -> None:
    """Deliver one message; returns when the server accepted DATA, raises NotifyError otherwise."""
    user = secrets.get(cfg.username_env)
    password = secrets.get(cfg.password_env)
    if cfg.username_env and not user:
        raise ConfigError(f"SMTP login needs environment variable {cfg.username_env}")
    login: tuple[str, str] | None = None
    if user:
        if not password:
            raise ConfigError(f"SMTP login needs environment variable {cfg.password_env or '(email.password_env)'}")
        login = (user, password)
    conn = None
    accepted = False
    try:
        if cfg.security == "ssl":
            factory = smtp_factory or smtplib.SMTP_SSL
            conn = factory(cfg.host, cfg.port, timeout=cfg.timeout_s, context=_context(cfg))
        else:
            factory = smtp_factory or smtplib.SMTP
            conn = factory(cfg.host, cfg.port, timeout=cfg.timeout_s)
        conn.ehlo()
        if cfg.security == "starttls":
            if not conn.has_extn("starttls"):
                raise NotifyError(f"SMTP {cfg.host}:{cfg.port} does not offer STARTTLS; refusing to send in clear "
                                  "(set email.security)")
            conn.starttls(context=_context(cfg))
            conn.ehlo()
        if login:
            conn.login(*login)
        refused = conn.send_message(msg)
        accepted = True
        if refused:
            log.warning("SMTP %s:%s refused %d recipient(s) of %s", cfg.host, cfg.port, len(refused), msg["Message-ID"])
    except (NotifyError, ConfigError):
        raise
    except smtplib.SMTPAuthenticationError as exc:
        raise NotifyError(f"SMTP {cfg.host}:{cfg.port}: login refused ({exc.smtp_code}); check {cfg.username_env} "
                          f"and {cfg.password_env}", permanent=exc.smtp_code >= 500) from None
    except Exception as exc:
        raise _classify(exc, cfg) from None
    finally:
        if conn is not None:
            try:
                conn.quit()
            except Exception:
                if accepted:
                    log.info("SMTP %s:%s closed before QUIT; message %s was accepted", cfg.host, cfg.port,
                             msg["Message-ID"])
                try:
                    conn.close()
                except Exception:
                    pass
