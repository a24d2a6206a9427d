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

# Order-to-cash business state. Quantities and money are strings holding the exact Decimal: portable, never
# rounded by a float, and the same on both databases.

orders = sa.Table(
    "orders",
    metadata,
    sa.Column("order_id", sa.String(200), primary_key=True),
    sa.Column("status", sa.String(40), nullable=False),
    sa.Column("channel", sa.String(100)),
    sa.Column("customer_id", sa.String(200)),
    sa.Column("state", sa.JSON, nullable=False),
    sa.Column("version", sa.Integer, nullable=False),
    sa.Column("created_at", UtcDateTime, nullable=False),
    sa.Column("updated_at", UtcDateTime, nullable=False),
    sa.Index("ix_orders_status", "status"),
    sa.Index("ix_orders_updated", "updated_at"),
)

stock_positions = sa.Table(
    "stock_positions",
    metadata,
    sa.Column("sku", sa.String(200), primary_key=True),
    sa.Column("location", sa.String(200), primary_key=True),
    sa.Column("on_hand", sa.String(50), nullable=False),
    sa.Column("in_transit", sa.String(50), nullable=False),
)

stock_reservations = sa.Table(
    "stock_reservations",
    metadata,
    sa.Column("order_id", sa.String(200), primary_key=True),
    sa.Column("line_id", sa.String(100), primary_key=True),
    sa.Column("sku", sa.String(200), nullable=False),
    sa.Column("requested", sa.String(50), nullable=False),
    sa.Column("consumed", sa.String(50), nullable=False),
    sa.Column("released", sa.String(50), nullable=False),
    sa.Column("cancelled", sa.Boolean, nullable=False),
    # Derived from the others (still short of stock), so that the backorder queue is an index scan.
    sa.Column("waiting", sa.Boolean, nullable=False),
    # Holds nothing and waits for nothing (shipped in full, or cancelled): loading a sku's ledger skips it, so
    # the cost of a reservation follows the open ones, not the history.
    sa.Column("settled", sa.Boolean, nullable=False),
    sa.Column("allocations", sa.JSON, nullable=False),
    sa.Column("created_at", UtcDateTime, nullable=False),
    sa.Index("ix_reservations_sku", "sku", "settled"),
    sa.Index("ix_reservations_order", "order_id"),
    sa.Index("ix_reservations_waiting", "sku", "waiting", "created_at"),
)

stock_movements = sa.Table(
    "stock_movements",
    metadata,
    sa.Column("id", sa.String(200), primary_key=True),
    sa.Column("sku", sa.String(200), nullable=False),
    sa.Column("location", sa.String(200), nullable=False),
    sa.Column("kind", sa.String(20), nullable=False),
    sa.Column("movement", sa.JSON, nullable=False),
    sa.Column("recorded_at", UtcDateTime, nullable=False),
    sa.Index("ix_movements_sku_location", "sku", "location"),
)

journal_ledgers = sa.Table(
    "journal_ledgers",
    metadata,
    sa.Column("ledger", sa.String(100), primary_key=True),
    sa.Column("last_sequence", sa.BigInteger, nullable=False),
)

journal_entries = sa.Table(
    "journal_entries",
    metadata,
    sa.Column("id", sa.String(200), primary_key=True),
    sa.Column("ledger", sa.String(100), nullable=False),
    sa.Column("sequence", sa.BigInteger, nullable=False),
    sa.Column("period", sa.String(7), nullable=False),
    sa.Column("date", sa.Date, nullable=False),
    sa.Column("currency", sa.String(3), nullable=False),
    sa.Column("document_number", sa.String(200), nullable=False),
    sa.Column("entry", sa.JSON, nullable=False),
    sa.Column("posted_at", UtcDateTime, nullable=False),
    sa.UniqueConstraint("ledger", "sequence", name="uq_journal_ledger_sequence"),
    sa.Index("ix_journal_document", "document_number"),
)

closed_periods = sa.Table(
    "closed_periods",
    metadata,
    sa.Column("ledger", sa.String(100), primary_key=True),
    sa.Column("period", sa.String(7), primary_key=True),
)

business_exceptions = sa.Table(
    "business_exceptions",
    metadata,
    sa.Column("id", sa.String(200), primary_key=True),
    sa.Column("owner", sa.String(50), nullable=False),
    sa.Column("reason_code", sa.String(100), nullable=False),
    sa.Column("about_kind", sa.String(50), nullable=False),
    sa.Column("about_key", sa.String(300), nullable=False),
    sa.Column("message", sa.Text, nullable=False),
    sa.Column("status", sa.String(16), nullable=False),
    sa.Column("opened_at", UtcDateTime, nullable=False),
    sa.Column("resolved_at", UtcDateTime),
    sa.Column("actions", sa.JSON, nullable=False),
    sa.Index("ix_exceptions_about", "about_key"),
    sa.Index("ix_exceptions_status", "status", "opened_at"),
)

links = sa.Table(
    "links",
    metadata,
    sa.Column("kind", sa.String(50), primary_key=True),
    sa.Column("key", sa.String(300), primary_key=True),
    sa.Column("target", sa.String(300), nullable=False),
    sa.Column("created_at", UtcDateTime, nullable=False),
)

parked_events = sa.Table(
    "parked_events",
    metadata,
    # The sequence breaks ties between events parked at the same time: oldest first is arrival order.
    sa.Column("seq", BigId, primary_key=True, autoincrement=True),
    sa.Column("kind", sa.String(50), nullable=False),
    sa.Column("key", sa.String(300), nullable=False),
    sa.Column("event_id", sa.String(64), nullable=False),
    sa.Column("envelope", sa.JSON, nullable=False),
    sa.Column("parked_at", UtcDateTime, nullable=False),
    sa.UniqueConstraint("kind", "key", "event_id", name="uq_parked_event"),
    sqlite_autoincrement=True,
)

# Governance: API keys (a salted HMAC of the secret, never the secret) and the hash-chained audit trail.

api_keys = sa.Table(
    "api_keys",
    metadata,
    sa.Column("id", sa.String(32), primary_key=True),
    sa.Column("name", sa.String(200), nullable=False),
    sa.Column("scopes", sa.JSON, nullable=False),
    sa.Column("channel", sa.String(100)),
    sa.Column("rate_per_minute", sa.Integer),
    sa.Column("salt", sa.String(64), nullable=False),
    sa.Column("secret_hash", sa.String(64), nullable=False),
    sa.Column("created_at", UtcDateTime, nullable=False),
    sa.Column("created_by", sa.String(200), nullable=False),
    sa.Column("revoked_at", UtcDateTime),
)

audit_log = sa.Table(
    "audit_log",
    metadata,
    # Assigned by the appender as last + 1, not by the database: the number is part of what the hash covers.
    sa.Column("seq", sa.BigInteger, primary_key=True, autoincrement=False),
    sa.Column("at", UtcDateTime, nullable=False),
    sa.Column("actor", sa.String(300), nullable=False),
    sa.Column("action", sa.String(100), nullable=False),
    sa.Column("target", sa.String(600), nullable=False),
    sa.Column("details", sa.JSON, nullable=False),
    sa.Column("prev_hash", sa.String(64), nullable=False),
    sa.Column("hash", sa.String(64), nullable=False),
    sa.Index("ix_audit_actor", "actor", "seq"),
    sa.Index("ix_audit_action", "action", "seq"),
)

# Procure-to-pay business state: one row per purchase order, its workflow state and the document it was issued as.

purchase_orders = sa.Table(
    "purchase_orders",
    metadata,
    sa.Column("po_id", sa.String(200), primary_key=True),
    sa.Column("status", sa.String(40), nullable=False),
    sa.Column("supplier_id", sa.String(200)),
    sa.Column("document", sa.JSON),
    sa.Column("state", sa.JSON, nullable=False),
    sa.Column("version", sa.Integer, nullable=False),
    sa.Column("created_at", UtcDateTime, nullable=False),
    sa.Column("updated_at", UtcDateTime, nullable=False),
    sa.Index("ix_purchase_orders_status", "status"),
    sa.Index("ix_purchase_orders_supplier", "supplier_id"),
    sa.Index("ix_purchase_orders_updated", "updated_at"),
)

# Connectors' own state: ids across systems, how far each poller has read, partners' control-number sequences.

cross_references = sa.Table(
    "cross_references",
    metadata,
    # The sequence breaks ties between links made at the same time: oldest first is the order they were made.
    sa.Column("seq", BigId, primary_key=True, autoincrement=True),
    sa.Column("kind", sa.String(50), nullable=False),
    sa.Column("system", sa.String(100), nullable=False),
    sa.Column("hub_id", sa.String(300), nullable=False),
    sa.Column("external_id", sa.String(300), nullable=False),
    sa.Column("created_at", UtcDateTime, nullable=False),
    # One to one per kind and system, in both directions.
    sa.UniqueConstraint("kind", "system", "hub_id", name="uq_cross_reference_hub"),
    sa.UniqueConstraint("kind", "system", "external_id", name="uq_cross_reference_external"),
    sa.Index("ix_cross_references_hub_id", "hub_id"),
    sqlite_autoincrement=True,
)

watermarks = sa.Table(
    "watermarks",
    metadata,
    sa.Column("connector", sa.String(100), primary_key=True),
    sa.Column("stream", sa.String(100), primary_key=True),
    sa.Column("value", sa.Text, nullable=False),
    sa.Column("moved_at", UtcDateTime, nullable=False),
)

control_numbers = sa.Table(
    "control_numbers",
    metadata,
    sa.Column("partner", sa.String(100), primary_key=True),
    sa.Column("kind", sa.String(20), primary_key=True),
    sa.Column("current", sa.BigInteger, nullable=False),
)

# Master data imported in batches (items, customers, price lists): the latest document per key, with its digest so
# that importing the same rows again changes nothing.

master_records = sa.Table(
    "master_records",
    metadata,
    sa.Column("kind", sa.String(20), primary_key=True),
    sa.Column("key", sa.String(300), primary_key=True),
    sa.Column("document", sa.JSON, nullable=False),
    sa.Column("digest", sa.String(64), nullable=False),
    sa.Column("source", sa.String(300), nullable=False),
    sa.Column("updated_at", UtcDateTime, nullable=False),
)

# Interchanges written to trading partners and what their functional acknowledgements said, one row per delivery.

edi_interchanges = sa.Table(
    "edi_interchanges",
    metadata,
    # The sequence orders rows as they were written: the newest holder of a (wrapped) number comes first.
    sa.Column("seq", BigId, primary_key=True, autoincrement=True),
    sa.Column("delivery_id", sa.String(36), nullable=False, unique=True),
    sa.Column("partner", sa.String(100), nullable=False),
    sa.Column("standard", sa.String(10), nullable=False),
    sa.Column("interchange", sa.String(20), nullable=False),
    sa.Column("group_number", sa.String(20), nullable=True),
    sa.Column("functional_id", sa.String(10), nullable=False),
    sa.Column("sets", sa.JSON, nullable=False),
    sa.Column("document", sa.Text, nullable=False),
    sa.Column("business_key", sa.String(300), nullable=False),
    sa.Column("event_id", sa.String(36), nullable=False),
    sa.Column("queued_at", UtcDateTime, nullable=False),
    sa.Column("due_by", UtcDateTime, nullable=True),
    sa.Column("status", sa.String(30), nullable=False),
    sa.Column("sent_at", UtcDateTime, nullable=True),
    sa.Column("acknowledged_at", UtcDateTime, nullable=True),
    sa.Column("acknowledgement", sa.Text, nullable=False),
    sa.Index("ix_edi_interchanges_group", "partner", "group_number"),
    sa.Index("ix_edi_interchanges_interchange", "partner", "interchange"),
    sa.Index("ix_edi_interchanges_status", "status"),
    sqlite_autoincrement=True,
)

# Inventory reconciliation runs, kept as they ran: who, when, which count, what drifted and what was done.

reconciliation_runs = sa.Table(
    "reconciliation_runs",
    metadata,
    # The sequence orders runs as they were kept: the newest comes first in a listing.
    sa.Column("seq", BigId, primary_key=True, autoincrement=True),
    sa.Column("id", sa.String(200), nullable=False, unique=True),
    sa.Column("source", sa.String(100), nullable=False),
    sa.Column("actor", sa.String(200), nullable=False),
    sa.Column("at", UtcDateTime, nullable=False),
    sa.Column("digest", sa.String(64), nullable=False),
    sa.Column("checked", sa.BigInteger, nullable=False),
    sa.Column("matched", sa.BigInteger, nullable=False),
    sa.Column("drifts", sa.JSON, nullable=False),
    sa.Column("exceptions", sa.JSON, nullable=False),
    sa.Index("ix_reconciliation_runs_source", "source", "seq"),
    sqlite_autoincrement=True,
)
