"""Tables. Primary keys make every write an idempotent upsert; timestamps are epoch seconds (UTC).

Migrations are additive: each entry in MIGRATIONS runs once, in order, and bumps schema_version.
"""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Column,
    Float,
    Integer,
    MetaData,
    String,
    Table,
    Text,
)

metadata = MetaData()

# Ordered (token, metric, source, ts) so one token's metric across venues is a single range scan.
observations = Table(
    "observations",
    metadata,
    Column("token", String(64), primary_key=True),
    Column("metric", String(64), primary_key=True),
    Column("source", String(32), primary_key=True),
    Column("ts", BigInteger, primary_key=True),
    Column("value", Float, nullable=False),
    sqlite_with_rowid=False,
)

# Small catalogue of series: listing them, freshness and poll cursors need no scan of observations.
series = Table(
    "series",
    metadata,
    Column("token", String(64), primary_key=True),
    Column("metric", String(64), primary_key=True),
    Column("source", String(32), primary_key=True),
    Column("first_ts", BigInteger, nullable=False),
    Column("last_ts", BigInteger, nullable=False),
    Column("updated_at", BigInteger, nullable=False),
)

events = Table(
    "events",
    metadata,
    Column("chain", String(32), primary_key=True),
    Column("tx_hash", String(80), primary_key=True),
    Column("log_index", Integer, primary_key=True),
    Column("token", String(64), primary_key=True),
    Column("ts", BigInteger, nullable=False, index=True),
    Column("kind", String(40), nullable=False),
    Column("address", String(64), nullable=False),
    Column("block", BigInteger),
    Column("source", String(32), nullable=False, default=""),
    Column("detail", Text, nullable=False, default="{}"),
)

poll_runs = Table(
    "poll_runs",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("source", String(32), nullable=False),
    Column("token", String(64), nullable=False),
    Column("started_at", BigInteger, nullable=False),
    Column("finished_at", BigInteger, nullable=False),
    Column("status", String(16), nullable=False),
    Column("http_status", Integer),
    Column("error_class", String(64)),
    Column("message", Text),
    Column("latency_ms", Float),
    Column("rows", Integer, nullable=False, default=0),
    Column("endpoint", String(200)),
)

flags = Table(
    "flags",
    metadata,
    Column("token", String(64), primary_key=True),
    Column("rule", String(64), primary_key=True),
    Column("first_seen", BigInteger, primary_key=True),
    Column("last_seen", BigInteger, nullable=False),
    Column("resolved_at", BigInteger),
    Column("severity", String(16), nullable=False),
    Column("message", Text, nullable=False, default=""),
    Column("evidence", Text, nullable=False, default="{}"),
)

deliveries = Table(
    "deliveries",
    metadata,
    Column("channel", String(32), primary_key=True),
    Column("period", String(40), primary_key=True),
    Column("message_id", String(200), nullable=False),
    Column("status", String(16), nullable=False),  # pending | sent | failed
    Column("attempts", Integer, nullable=False, default=0),
    Column("last_error", Text),
    Column("created_at", BigInteger, nullable=False),
    Column("sent_at", BigInteger),
    Column("summary", Text, nullable=False, default="{}"),
)

meta = Table(
    "meta",
    metadata,
    Column("key", String(64), primary_key=True),
    Column("value", Text, nullable=False),
    Column("updated_at", BigInteger, nullable=False),
)

SCHEMA_VERSION = 2

# version -> list of SQL statements (additive only, idempotent). Version 1 is the create_all above.
MIGRATIONS: dict[int, list[str]] = {
    # evaluations read one token's recent health: without this it is a scan of every request ever made
    2: ["CREATE INDEX IF NOT EXISTS ix_poll_runs_token_started ON poll_runs (token, started_at)"],
}
