"""Sessions: the applicant's contact (phone or e-mail) for service records (issue 7)."""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"


def upgrade() -> None:
    op.add_column("sessions", sa.Column("contact", sa.String(200)))


def downgrade() -> None:
    # batch mode because SQLite cannot drop a column in place on older versions
    with op.batch_alter_table("sessions") as batch:
        batch.drop_column("contact")
