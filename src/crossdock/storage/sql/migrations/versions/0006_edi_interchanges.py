"""EDI interchanges sent to trading partners, with what their functional acknowledgements (997 / CONTRL) said.

Times are naive UTC (the application hands back aware datetimes).

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-03 09:00:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "edi_interchanges",
        sa.Column("seq", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), autoincrement=True, nullable=False),
        sa.Column("delivery_id", sa.String(length=36), nullable=False),
        sa.Column("partner", sa.String(length=100), nullable=False),
        sa.Column("standard", sa.String(length=10), nullable=False),
        sa.Column("interchange", sa.String(length=20), nullable=False),
        sa.Column("group_number", sa.String(length=20), nullable=True),
        sa.Column("functional_id", sa.String(length=10), nullable=False),
        sa.Column("sets", sa.JSON(), nullable=False),
        sa.Column("document", sa.Text(), nullable=False),
        sa.Column("business_key", sa.String(length=300), nullable=False),
        sa.Column("event_id", sa.String(length=36), nullable=False),
        sa.Column("queued_at", sa.DateTime(), nullable=False),
        sa.Column("due_by", sa.DateTime(), nullable=True),
        sa.Column("status", sa.String(length=30), nullable=False),
        sa.Column("sent_at", sa.DateTime(), nullable=True),
        sa.Column("acknowledged_at", sa.DateTime(), nullable=True),
        sa.Column("acknowledgement", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("seq"),
        sa.UniqueConstraint("delivery_id"),
        sqlite_autoincrement=True,
    )
    with op.batch_alter_table("edi_interchanges", schema=None) as batch_op:
        batch_op.create_index("ix_edi_interchanges_group", ["partner", "group_number"], unique=False)
        batch_op.create_index("ix_edi_interchanges_interchange", ["partner", "interchange"], unique=False)
        batch_op.create_index("ix_edi_interchanges_status", ["status"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("edi_interchanges", schema=None) as batch_op:
        batch_op.drop_index("ix_edi_interchanges_status")
        batch_op.drop_index("ix_edi_interchanges_interchange")
        batch_op.drop_index("ix_edi_interchanges_group")
    op.drop_table("edi_interchanges")
