"""Adjustments: manual corrections of a stretch of an instrument's timeline (issue 7)."""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from jishi.collector.ledger.migrations.columns import EPOCH

revision = "0002"
down_revision = "0001"


def upgrade() -> None:
    op.create_table(
        "adjustments",
        sa.Column("id", sa.Integer, autoincrement=True, nullable=False),
        sa.Column("instrument_id", sa.String(64), nullable=False),
        sa.Column("start", EPOCH, nullable=False),
        sa.Column("end", EPOCH, nullable=False),
        sa.Column("state", sa.String(20), nullable=False),
        sa.Column("reason", sa.Text, nullable=False),
        sa.Column("created_by", sa.String(100), nullable=False),
        sa.Column("created_at", EPOCH, nullable=False),
        sa.Column("revoked_at", EPOCH),
        sa.Column("revoked_by", sa.String(100)),
        sa.Column("revoke_reason", sa.Text),
        sa.PrimaryKeyConstraint("id", name="pk_adjustments"),
    )
    op.create_index("ix_adjustments_instrument_start", "adjustments", ["instrument_id", "start"])


def downgrade() -> None:
    op.drop_index("ix_adjustments_instrument_start", table_name="adjustments")
    op.drop_table("adjustments")
