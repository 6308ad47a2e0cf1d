"""A real SMTP server on loopback (aiosmtpd) with scriptable replies, and an App over a SQLite file."""

from __future__ import annotations

import asyncio
import datetime as dt
import email
import email.policy
import socket
import threading
from pathlib import Path
from typing import Any

from aiosmtpd.controller import Controller

from monitor.app import App
from monitor.config import SOURCE_DEFAULTS, Secrets, parse_config
from monitor.model import Flag
from monitor.store import Store

T0 = dt.datetime(2026, 11, 27, 8, 0, tzinfo=dt.UTC)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Handler:
    """Accepts mail and keeps it; ``codes`` maps MAIL/RCPT/DATA to a reply that replaces the 250."""

    def __init__(self) -> None:
        self.messages: list[bytes] = []
        self.codes: dict[str, str] = {}
        self.drop_after_data = False
        self.on_data = None  # callable run after a message is kept, before the 250 goes out
        self.lock = threading.Lock()

    async def handle_MAIL(self, server, session, envelope, address, mail_options):
        if "MAIL" in self.codes:
            return self.codes["MAIL"]
        envelope.mail_from = address
        return "250 OK"

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        if "RCPT" in self.codes:
            return self.codes["RCPT"]
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):
        if "DATA" in self.codes:
            return self.codes["DATA"]
        with self.lock:
            self.messages.append(envelope.original_content or envelope.content)
        if self.on_data is not None:
            self.on_data()
        if self.drop_after_data:  # the 250 is written first, then the connection goes away before QUIT
            asyncio.get_running_loop().call_later(0.05, server.transport.close)
        return "250 Message accepted for delivery"

    def parsed(self) -> list[email.message.EmailMessage]:
        with self.lock:
            return [email.message_from_bytes(m, policy=email.policy.default) for m in self.messages]


class SmtpServer:
    def __init__(self, port: int | None = None, tls_context: Any = None):
        self.port = port or free_port()
        self.handler = Handler()
        kwargs = {"tls_context": tls_context} if tls_context is not None else {}
        self.controller = Controller(self.handler, hostname="127.0.0.1", port=self.port, **kwargs)

    def __enter__(self) -> SmtpServer:
        self.controller.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.controller.stop()


class Clock:
    def __init__(self, now: dt.datetime = T0):
        self.now = now

    def __call__(self) -> dt.datetime:
        return self.now

    def advance(self, **kw: float) -> None:
        self.now = self.now + dt.timedelta(**kw)


def config_dict(db_url: str, out_dir: Path, port: int = 25, **sections: Any) -> dict[str, Any]:
    data: dict[str, Any] = {
        "storage": {"url": db_url},
        "network": {"allow_loopback": True},
        "sources": {name: {"enabled": False} for name in SOURCE_DEFAULTS},
        "report": {"out_dir": str(out_dir), "chart_days": 30},
        "email": {"enabled": True, "host": "127.0.0.1", "port": port, "security": "none",
                  "sender": "divmon@example.org", "recipients": ["analyst@example.org"], "timeout_s": 5},
        "schedule": {"digest_period": "day", "heartbeat_s": 5},
    }
    for key, value in sections.items():
        data[key] = {**data.get(key, {}), **value}
    return data


def make_app(db_url: str, out_dir: Path, port: int = 25, clock: Clock | None = None,
             secrets: dict[str, str] | None = None, **sections: Any) -> App:
    config = parse_config(config_dict(db_url, out_dir, port, **sections))
    return App(config, store=Store(db_url), secrets=Secrets(secrets or {}), now=clock or Clock())


def fire(app: App, token: str, *rules: str, severity: str = "high", at: dt.datetime | None = None) -> None:
    """Record the flags that fired for a token at a moment (the real store's flag history)."""
    flags = [Flag(rule, severity, f"{rule} fired for {token}", {"oi_growth_pct": 412.5}, "7d") for rule in rules]
    app.store.sync_flags(token, flags, at or app.now())


def seed_series(app: App, token: str, end: dt.datetime = T0, hours: int = 240) -> None:
    """Hourly observations for every chart panel, in the long frame shape the sources write."""
    import numpy as np
    import pandas as pd

    idx = pd.date_range(end=end, periods=hours, freq="1h", tz="UTC")
    ramp = np.linspace(1.0, 5.0, hours)
    rows = []
    for metric, source, values in (
        ("oi_usd", "binance", 1e6 * ramp), ("oi_usd", "okx", 5e5 * ramp), ("tvl_usd", "defillama", 2e6 + 0 * ramp),
        ("active_addresses", "dune", 900 + 10 * np.sin(ramp)), ("dev_commits", "github", 3 + 0 * ramp),
        ("funding_rate_8h", "binance", 1e-4 * ramp), ("funding_rate_8h", "okx", 2e-4 * ramp),
        ("long_short_account_ratio", "binance", 1.5 + 0.2 * ramp), ("price_close_1h", "binance", 1 + np.sin(ramp * 3)),
        ("liq_long_usd", "okx", 1e4 * ramp), ("liq_short_usd", "okx", 5e3 * ramp),
    ):
        rows.append(pd.DataFrame({"ts": idx, "source": source, "token": token, "metric": metric, "value": values}))
    app.store.upsert_observations(pd.concat(rows, ignore_index=True))


def self_signed(tmp: Path) -> tuple[Path, Path]:
    """A self-signed certificate for 127.0.0.1 (and localhost): (cert.pem, key.pem)."""
    import ipaddress

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
        .serial_number(x509.random_serial_number()).not_valid_before(now - dt.timedelta(days=1))
        .not_valid_after(now + dt.timedelta(days=2))
        .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1")),
                                                    x509.DNSName("localhost")]), critical=False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = tmp / "cert.pem", tmp / "key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    return cert_path, key_path
