"""Sessions indexed by their ends, so the usage of today reads the few sessions that end after
its start instead of each instrument's whole history of sessions (issue 18)."""

from __future__ import annotations

from alembic import op

revision = "0010"
down_revision = "0009"


def upgrade() -> None:
    op.create_index("ix_sessions_instrument_end", "sessions", ["instrument_id", "end_ts"])


def downgrade() -> None:
    op.drop_index("ix_sessions_instrument_end", table_name="sessions")
