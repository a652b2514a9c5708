"""User directory and bookings (issue 13: who used an instrument, and who had booked it).

``directory_users`` maps the names a session carries (an account, a card number, an e-mail) to
a person, an organisation, a management unit and a user type; it is applied when figures are
computed, so a corrected entry corrects past figures. ``bookings`` are kept apart from sessions:
a booking is an intention, a session is a use, and reconciliation compares the two.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from jishi.collector.ledger.migrations.columns import EPOCH

revision = "0008"
down_revision = "0007"


def upgrade() -> None:
    op.create_table(
        "directory_users",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("account", sa.String(200), nullable=False),
        sa.Column("card", sa.String(100)),
        sa.Column("email", sa.String(200)),
        sa.Column("person", sa.String(200)),
        sa.Column("org", sa.String(200)),
        sa.Column("unit", sa.String(200)),
        sa.Column("user_type", sa.String(20), nullable=False),
        sa.Column("updated_at", EPOCH, nullable=False),
        sa.UniqueConstraint("account", name="uq_directory_users_account"),
    )
    op.create_index("ix_directory_users_card", "directory_users", ["card"])
    op.create_index("ix_directory_users_email", "directory_users", ["email"])
    op.create_table(
        "bookings",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("instrument_id", sa.String(64), nullable=False),
        sa.Column("source", sa.String(100), nullable=False),
        sa.Column("external_id", sa.String(300), nullable=False),
        sa.Column("start_ts", EPOCH, nullable=False),
        sa.Column("end_ts", EPOCH, nullable=False),
        sa.Column("user", sa.String(200)),
        sa.Column("title", sa.String(300)),
        sa.Column("all_day", sa.Boolean, nullable=False),
        sa.Column("created_at", EPOCH, nullable=False),
        sa.UniqueConstraint("instrument_id", "source", "external_id", name="uq_bookings_key"),
    )
    op.create_index("ix_bookings_instrument_start", "bookings", ["instrument_id", "start_ts"])


def downgrade() -> None:
    op.drop_table("bookings")
    op.drop_table("directory_users")
