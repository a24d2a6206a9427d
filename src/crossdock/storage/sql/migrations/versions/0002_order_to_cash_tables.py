"""Order-to-cash tables: orders, the stock ledger (positions, reservations, movements), the journal and its
closed periods, business exceptions, links and parked events.

Quantities and money are exact decimal strings; times are naive UTC (the application hands back aware datetimes).

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-22 17:37:11.246358
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "business_exceptions",
        sa.Column("id", sa.String(length=200), nullable=False),
        sa.Column("owner", sa.String(length=50), nullable=False),
        sa.Column("reason_code", sa.String(length=100), nullable=False),
        sa.Column("about_kind", sa.String(length=50), nullable=False),
        sa.Column("about_key", sa.String(length=300), nullable=False),
        sa.Column("message", sa.Text(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("opened_at", sa.DateTime(), nullable=False),
        sa.Column("resolved_at", sa.DateTime(), nullable=True),
        sa.Column("actions", sa.JSON(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("business_exceptions", schema=None) as batch_op:
        batch_op.create_index("ix_exceptions_about", ["about_key"], unique=False)
        batch_op.create_index("ix_exceptions_status", ["status", "opened_at"], unique=False)

    op.create_table(
        "closed_periods",
        sa.Column("ledger", sa.String(length=100), nullable=False),
        sa.Column("period", sa.String(length=7), nullable=False),
        sa.PrimaryKeyConstraint("ledger", "period"),
    )
    op.create_table(
        "journal_entries",
        sa.Column("id", sa.String(length=200), nullable=False),
        sa.Column("ledger", sa.String(length=100), nullable=False),
        sa.Column("sequence", sa.BigInteger(), nullable=False),
        sa.Column("period", sa.String(length=7), nullable=False),
        sa.Column("date", sa.Date(), nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("document_number", sa.String(length=200), nullable=False),
        sa.Column("entry", sa.JSON(), nullable=False),
        sa.Column("posted_at", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("ledger", "sequence", name="uq_journal_ledger_sequence"),
    )
    with op.batch_alter_table("journal_entries", schema=None) as batch_op:
        batch_op.create_index("ix_journal_document", ["document_number"], unique=False)

    op.create_table(
        "journal_ledgers",
        sa.Column("ledger", sa.String(length=100), nullable=False),
        sa.Column("last_sequence", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("ledger"),
    )
    op.create_table(
        "links",
        sa.Column("kind", sa.String(length=50), nullable=False),
        sa.Column("key", sa.String(length=300), nullable=False),
        sa.Column("target", sa.String(length=300), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("kind", "key"),
    )
    op.create_table(
        "orders",
        sa.Column("order_id", sa.String(length=200), nullable=False),
        sa.Column("status", sa.String(length=40), nullable=False),
        sa.Column("channel", sa.String(length=100), nullable=True),
        sa.Column("customer_id", sa.String(length=200), nullable=True),
        sa.Column("state", sa.JSON(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("updated_at", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("order_id"),
    )
    with op.batch_alter_table("orders", schema=None) as batch_op:
        batch_op.create_index("ix_orders_status", ["status"], unique=False)
        batch_op.create_index("ix_orders_updated", ["updated_at"], unique=False)

    op.create_table(
        "parked_events",
        sa.Column("seq", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), autoincrement=True, nullable=False),
        sa.Column("kind", sa.String(length=50), nullable=False),
        sa.Column("key", sa.String(length=300), nullable=False),
        sa.Column("event_id", sa.String(length=64), nullable=False),
        sa.Column("envelope", sa.JSON(), nullable=False),
        sa.Column("parked_at", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("seq"),
        sa.UniqueConstraint("kind", "key", "event_id", name="uq_parked_event"),
        sqlite_autoincrement=True,
    )
    op.create_table(
        "stock_movements",
        sa.Column("id", sa.String(length=200), nullable=False),
        sa.Column("sku", sa.String(length=200), nullable=False),
        sa.Column("location", sa.String(length=200), nullable=False),
        sa.Column("kind", sa.String(length=20), nullable=False),
        sa.Column("movement", sa.JSON(), nullable=False),
        sa.Column("recorded_at", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("stock_movements", schema=None) as batch_op:
        batch_op.create_index("ix_movements_sku_location", ["sku", "location"], unique=False)

    op.create_table(
        "stock_positions",
        sa.Column("sku", sa.String(length=200), nullable=False),
        sa.Column("location", sa.String(length=200), nullable=False),
        sa.Column("on_hand", sa.String(length=50), nullable=False),
        sa.Column("in_transit", sa.String(length=50), nullable=False),
        sa.PrimaryKeyConstraint("sku", "location"),
    )
    op.create_table(
        "stock_reservations",
        sa.Column("order_id", sa.String(length=200), nullable=False),
        sa.Column("line_id", sa.String(length=100), nullable=False),
        sa.Column("sku", sa.String(length=200), nullable=False),
        sa.Column("requested", sa.String(length=50), nullable=False),
        sa.Column("consumed", sa.String(length=50), nullable=False),
        sa.Column("released", sa.String(length=50), nullable=False),
        sa.Column("cancelled", sa.Boolean(), nullable=False),
        sa.Column("waiting", sa.Boolean(), nullable=False),
        sa.Column("settled", sa.Boolean(), nullable=False),
        sa.Column("allocations", sa.JSON(), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("order_id", "line_id"),
    )
    with op.batch_alter_table("stock_reservations", schema=None) as batch_op:
        batch_op.create_index("ix_reservations_sku", ["sku", "settled"], unique=False)
        batch_op.create_index("ix_reservations_order", ["order_id"], unique=False)
        batch_op.create_index("ix_reservations_waiting", ["sku", "waiting", "created_at"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("stock_reservations", schema=None) as batch_op:
        batch_op.drop_index("ix_reservations_waiting")
        batch_op.drop_index("ix_reservations_order")
        batch_op.drop_index("ix_reservations_sku")

    op.drop_table("stock_reservations")
    op.drop_table("stock_positions")
    with op.batch_alter_table("stock_movements", schema=None) as batch_op:
        batch_op.drop_index("ix_movements_sku_location")

    op.drop_table("stock_movements")
    op.drop_table("parked_events")
    with op.batch_alter_table("orders", schema=None) as batch_op:
        batch_op.drop_index("ix_orders_updated")
        batch_op.drop_index("ix_orders_status")

    op.drop_table("orders")
    op.drop_table("links")
    op.drop_table("journal_ledgers")
    with op.batch_alter_table("journal_entries", schema=None) as batch_op:
        batch_op.drop_index("ix_journal_document")

    op.drop_table("journal_entries")
    op.drop_table("closed_periods")
    with op.batch_alter_table("business_exceptions", schema=None) as batch_op:
        batch_op.drop_index("ix_exceptions_status")
        batch_op.drop_index("ix_exceptions_about")

    op.drop_table("business_exceptions")
