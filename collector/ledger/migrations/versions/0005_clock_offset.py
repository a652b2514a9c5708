"""Instruments: the estimated offset of each agent's clock from the collector's (issue 17, 8)."""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from jishi.collector.ledger.migrations.columns import EPOCH

revision = "0005"
down_revision = "0004"


def upgrade() -> None:
    op.add_column("instruments", sa.Column("clock_offset_s", EPOCH))


def downgrade() -> None:
    with op.batch_alter_table("instruments") as batch:
        batch.drop_column("clock_offset_s")
