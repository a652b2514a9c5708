"""Dead letters: a fingerprint of retained messages, so each is kept once (issue 17, 6)."""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"


def upgrade() -> None:
    op.add_column("dead_letters", sa.Column("fingerprint", sa.String(64)))
    op.create_index("ix_dead_letters_fingerprint", "dead_letters", ["fingerprint"])


def downgrade() -> None:
    op.drop_index("ix_dead_letters_fingerprint", "dead_letters")
    # batch mode because SQLite cannot drop a column in place on older versions
    with op.batch_alter_table("dead_letters") as batch:
        batch.drop_column("fingerprint")
