"""Sessions: why a session ended when it was not the user's own doing (``forgot_sign_out``,
``agent_stopped``) and the feedback given at sign-out (issue 13)."""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"


def upgrade() -> None:
    op.add_column("sessions", sa.Column("end_reason", sa.String(64)))
    op.add_column("sessions", sa.Column("outcome", sa.String(10)))


def downgrade() -> None:
    with op.batch_alter_table("sessions") as batch:
        batch.drop_column("outcome")
        batch.drop_column("end_reason")
