"""Adjustments: manual corrections of a stretch of an instrument's timeline (issue 7).

Revision ID: 0002
Revises: 0001
Create Date: 2025-01-02
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

EPOCH = sa.Float(precision=53)


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
