"""The rules each instrument's roll-ups were computed under, so a corrected quota or policy
reaches the days already rolled up (collector/ledger/rollup_rules.py)."""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0011"
down_revision = "0010"


def upgrade() -> None:
    op.create_table(
        "rollup_rules",
        sa.Column("instrument_id", sa.String(64), primary_key=True),
        sa.Column("fingerprint", sa.String(16), nullable=False),
        sa.Column("since", sa.Float(precision=53), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("rollup_rules")
