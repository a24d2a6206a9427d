"""The hub's tables. Alembic migrations create them; this module is the one place their shape is written.

Times are stored as naive UTC and handed back timezone-aware, the same on SQLite and PostgreSQL.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Dialect

metadata = sa.MetaData()

BigId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


class UtcDateTime(sa.types.TypeDecorator[datetime]):
    impl = sa.DateTime(timezone=False)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetimes are not stored: pass an aware time")
        return value.astimezone(UTC).replace(tzinfo=None)

    def process_result_value(self, value: Any, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if isinstance(value, str):
            value = datetime.fromisoformat(value)
        return value.replace(tzinfo=UTC)  # type: ignore[no-any-return]


inbox_messages = sa.Table(
    "inbox_messages",
    metadata,
    sa.Column("id", BigId, primary_key=True, autoincrement=True),
    sa.Column("source", sa.String(100), nullable=False),
    sa.Column("key", sa.String(600), nullable=False),
    sa.Column("payload_hash", sa.String(64), nullable=False),
    sa.Column("body", sa.LargeBinary, nullable=False),
    sa.Column("headers", sa.JSON, nullable=False),
    sa.Column("received_at", UtcDateTime, nullable=False),
    sa.Column("partition_key", sa.String(600), nullable=False),
    sa.Column("shard", sa.Integer, nullable=False),
    sa.Column("status", sa.String(16), nullable=False),
    sa.Column("error", sa.Text),
    sa.Column("replays", sa.Integer, nullable=False, server_default="0"),
    sa.Column("processed_at", UtcDateTime),
    sa.UniqueConstraint("source", "key", name="uq_inbox_source_key"),
    sa.Index("ix_inbox_status_id", "status", "id"),
    sa.Index("ix_inbox_received", "received_at"),
    # Ids are never handed out twice, also after the newest rows were pruned: events keep pointing at them.
    sqlite_autoincrement=True,
)

log_head = sa.Table(
    "log_head",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("position", sa.BigInteger, nullable=False),
)

events = sa.Table(
    "events",
    metadata,
    sa.Column("position", sa.BigInteger, primary_key=True, autoincrement=False),
    sa.Column("id", sa.String(64), nullable=False, unique=True),
    sa.Column("type", sa.String(200), nullable=False),
    sa.Column("subject", sa.String(600), nullable=False),
    sa.Column("partition_key", sa.String(600), nullable=False),
    sa.Column("correlation_id", sa.String(64)),
    sa.Column("message_id", sa.BigInteger),
    sa.Column("time", UtcDateTime, nullable=False),
    sa.Column("recorded_at", UtcDateTime, nullable=False),
    sa.Column("envelope", sa.JSON, nullable=False),
    sa.Index("ix_events_subject", "subject"),
    sa.Index("ix_events_correlation", "correlation_id"),
    sa.Index("ix_events_message", "message_id"),
    sa.Index("ix_events_recorded", "recorded_at"),
)

deliveries = sa.Table(
    "deliveries",
    metadata,
    sa.Column("seq", BigId, primary_key=True, autoincrement=True),
    sa.Column("id", sa.String(64), nullable=False, unique=True),
    sa.Column("event_id", sa.String(64), nullable=False),
    sa.Column("event_type", sa.String(200), nullable=False),
    sa.Column("subject", sa.String(600), nullable=False),
    sa.Column("destination", sa.String(100), nullable=False),
    sa.Column("partition_key", sa.String(600), nullable=False),
    sa.Column("shard", sa.Integer, nullable=False),
    sa.Column("payload", sa.JSON, nullable=False),
    sa.Column("status", sa.String(16), nullable=False),
    sa.Column("attempts", sa.Integer, nullable=False, server_default="0"),
    sa.Column("replays", sa.Integer, nullable=False, server_default="0"),
    sa.Column("created_at", UtcDateTime, nullable=False),
    sa.Column("queued_at", UtcDateTime, nullable=False),
    sa.Column("next_attempt_at", UtcDateTime, nullable=False),
    sa.Column("last_error", sa.Text),
    sa.Column("delivered_at", UtcDateTime),
    sa.Index("ix_deliveries_due", "status", "seq"),
    sa.Index("ix_deliveries_partition", "destination", "partition_key", "status", "seq"),
    sa.Index("ix_deliveries_event", "event_id"),
    sa.Index("ix_deliveries_delivered", "delivered_at"),
    sqlite_autoincrement=True,
)

delivery_attempts = sa.Table(
    "delivery_attempts",
    metadata,
    sa.Column("seq", BigId, primary_key=True, autoincrement=True),
    sa.Column("delivery_id", sa.String(64), nullable=False),
    sa.Column("number", sa.Integer, nullable=False),
    sa.Column("round", sa.Integer, nullable=False, server_default="0"),
    sa.Column("at", UtcDateTime, nullable=False),
    sa.Column("outcome", sa.String(16), nullable=False),
    sa.Column("status_code", sa.Integer),
    sa.Column("error", sa.Text),
    sa.Column("duration_ms", sa.Float, nullable=False),
    sa.Index("ix_attempts_delivery", "delivery_id"),
)

endpoint_state = sa.Table(
    "endpoint_state",
    metadata,
    sa.Column("endpoint", sa.String(100), primary_key=True),
    sa.Column("breaker", sa.String(16), nullable=False),
    sa.Column("failures", sa.Integer, nullable=False),
    sa.Column("open_until", UtcDateTime),
    sa.Column("tokens", sa.Float, nullable=False),
    sa.Column("tokens_at", UtcDateTime),
)

shard_leases = sa.Table(
    "shard_leases",
    metadata,
    sa.Column("pool", sa.String(20), primary_key=True),
    sa.Column("shard", sa.Integer, primary_key=True, autoincrement=False),
    sa.Column("owner", sa.String(200)),
    sa.Column("expires_at", UtcDateTime),
)

timers = sa.Table(
    "timers",
    metadata,
    sa.Column("key", sa.String(300), primary_key=True),
    sa.Column("kind", sa.String(100), nullable=False),
    sa.Column("due_at", UtcDateTime, nullable=False),
    sa.Column("payload", sa.JSON, nullable=False),
    sa.Column("fired_at", UtcDateTime),
    sa.Column("last_error", sa.Text),
    sa.Index("ix_timers_due", "fired_at", "due_at"),
)

replays = sa.Table(
    "replays",
    metadata,
    sa.Column("seq", BigId, primary_key=True, autoincrement=True),
    sa.Column("kind", sa.String(20), nullable=False),
    sa.Column("target", sa.String(300), nullable=False),
    sa.Column("at", UtcDateTime, nullable=False),
    sa.Column("actor", sa.String(100), nullable=False),
    sa.Column("note", sa.Text, nullable=False),
)
