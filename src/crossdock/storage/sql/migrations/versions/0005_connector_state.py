"""Connector state: cross-references between the hub's ids and other systems', pollers' watermarks, partners'
control-number sequences, and master data imported in batches (items, customers, price lists).

Times are naive UTC (the application hands back aware datetimes).

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-02 09:00:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "cross_references",
        sa.Column("seq", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), autoincrement=True, nullable=False),
        sa.Column("kind", sa.String(length=50), nullable=False),
        sa.Column("system", sa.String(length=100), nullable=False),
        sa.Column("hub_id", sa.String(length=300), nullable=False),
        sa.Column("external_id", sa.String(length=300), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("seq"),
        sa.UniqueConstraint("kind", "system", "hub_id", name="uq_cross_reference_hub"),
        sa.UniqueConstraint("kind", "system", "external_id", name="uq_cross_reference_external"),
        sqlite_autoincrement=True,
    )
    with op.batch_alter_table("cross_references", schema=None) as batch_op:
        batch_op.create_index("ix_cross_references_hub_id", ["hub_id"], unique=False)

    op.create_table(
        "watermarks",
        sa.Column("connector", sa.String(length=100), nullable=False),
        sa.Column("stream", sa.String(length=100), nullable=False),
        sa.Column("value", sa.Text(), nullable=False),
        sa.Column("moved_at", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("connector", "stream"),
    )
    op.create_table(
        "control_numbers",
        sa.Column("partner", sa.String(length=100), nullable=False),
        sa.Column("kind", sa.String(length=20), nullable=False),
        sa.Column("current", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("partner", "kind"),
    )
    op.create_table(
        "master_records",
        sa.Column("kind", sa.String(length=20), nullable=False),
        sa.Column("key", sa.String(length=300), nullable=False),
        sa.Column("document", sa.JSON(), nullable=False),
        sa.Column("digest", sa.String(length=64), nullable=False),
        sa.Column("source", sa.String(length=300), nullable=False),
        sa.Column("updated_at", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("kind", "key"),
    )


def downgrade() -> None:
    op.drop_table("master_records")
    op.drop_table("control_numbers")
    op.drop_table("watermarks")
    with op.batch_alter_table("cross_references", schema=None) as batch_op:
        batch_op.drop_index("ix_cross_references_hub_id")

    op.drop_table("cross_references")
