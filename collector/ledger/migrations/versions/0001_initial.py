"""Initial ledger: instruments, spans, boots, sessions, dead letters, tokens, roll-ups, audit."""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from jishi.collector.ledger.migrations.columns import EPOCH

revision = "0001"
down_revision = None


def upgrade() -> None:
    _evidence_tables()
    _session_and_dead_letter_tables()
    _token_rollup_and_audit_tables()


def _evidence_tables() -> None:
    op.create_table(
        "instruments",
        sa.Column("id", sa.String(64), nullable=False),
        sa.Column("site", sa.String(64), nullable=False),
        sa.Column("name", sa.String(200)),
        sa.Column("unit", sa.String(200)),
        sa.Column("category", sa.String(20), nullable=False),
        sa.Column("quota_h", EPOCH),
        sa.Column("inner_id", sa.String(100)),
        sa.Column("stale_after_s", EPOCH),
        sa.Column("heartbeat_interval_s", EPOCH),
        sa.Column("announced_stale_after_s", EPOCH),
        sa.Column("registered", sa.Boolean, nullable=False),
        sa.Column("boot_id", sa.String(64)),
        sa.Column("online", sa.Boolean),
        sa.Column("online_changed_at", EPOCH),
        sa.Column("state", sa.String(20)),
        sa.Column("state_since", EPOCH),
        sa.Column("last_ts", EPOCH),
        sa.Column("last_seen", EPOCH),
        sa.Column("created_at", EPOCH, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_instruments"),
    )
    op.create_table(
        "spans",
        sa.Column("id", sa.Integer, autoincrement=True, nullable=False),
        sa.Column("instrument_id", sa.String(64), nullable=False),
        sa.Column("state", sa.String(20), nullable=False),
        sa.Column("start", EPOCH, nullable=False),
        sa.Column("end", EPOCH, nullable=False),
        sa.Column("last_ts", EPOCH),
        sa.Column("observations", sa.Integer, nullable=False),
        sa.Column("historical", sa.Boolean, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_spans"),
    )
    op.create_index("ix_spans_instrument_start", "spans", ["instrument_id", "start"])
    op.create_index("ix_spans_instrument_end", "spans", ["instrument_id", "end"])
    op.create_table(
        "boots",
        sa.Column("boot_id", sa.String(64), nullable=False),
        sa.Column("ranges", sa.Text, nullable=False),
        sa.Column("first_seen", EPOCH, nullable=False),
        sa.Column("last_seen", EPOCH, nullable=False),
        sa.PrimaryKeyConstraint("boot_id", name="pk_boots"),
    )


def _session_and_dead_letter_tables() -> None:
    op.create_table(
        "sessions",
        sa.Column("id", sa.Integer, autoincrement=True, nullable=False),
        sa.Column("instrument_id", sa.String(64), nullable=False),
        sa.Column("source", sa.String(40), nullable=False),
        sa.Column("external_id", sa.String(200), nullable=False),
        sa.Column("start_ts", EPOCH),
        sa.Column("end_ts", EPOCH),
        sa.Column("user", sa.String(200)),
        sa.Column("org", sa.String(200)),
        sa.Column("user_type", sa.String(20)),
        sa.Column("service_way", sa.String(100)),
        sa.Column("direction", sa.String(200)),
        sa.Column("satisfaction", sa.Float),
        sa.Column("sample_count", sa.Integer),
        sa.Column("created_at", EPOCH, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_sessions"),
        sa.UniqueConstraint("instrument_id", "source", "external_id", name="uq_sessions_key"),
    )
    op.create_index("ix_sessions_instrument_start", "sessions", ["instrument_id", "start_ts"])
    op.create_table(
        "dead_letters",
        sa.Column("id", sa.Integer, autoincrement=True, nullable=False),
        sa.Column("received_at", EPOCH, nullable=False),
        sa.Column("topic", sa.String(300), nullable=False),
        sa.Column("reason", sa.String(40), nullable=False),
        sa.Column("detail", sa.Text, nullable=False),
        sa.Column("size", sa.Integer, nullable=False),
        sa.Column("payload", sa.LargeBinary, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_dead_letters"),
    )
    op.create_index("ix_dead_letters_received", "dead_letters", ["received_at"])


def _token_rollup_and_audit_tables() -> None:
    op.create_table(
        "tokens",
        sa.Column("id", sa.Integer, autoincrement=True, nullable=False),
        sa.Column("name", sa.String(100), nullable=False),
        sa.Column("role", sa.String(10), nullable=False),
        sa.Column("token_hash", sa.String(64), nullable=False),
        sa.Column("created_at", EPOCH, nullable=False),
        sa.Column("revoked_at", EPOCH),
        sa.PrimaryKeyConstraint("id", name="pk_tokens"),
        sa.UniqueConstraint("token_hash", name="uq_tokens_token_hash"),
    )
    op.create_table(
        "daily_usage",
        sa.Column("instrument_id", sa.String(64), nullable=False),
        sa.Column("day", sa.String(10), nullable=False),
        sa.Column("figures", sa.Text, nullable=False),
        sa.Column("computed_at", EPOCH, nullable=False),
        sa.PrimaryKeyConstraint("instrument_id", "day", name="pk_daily_usage"),
    )
    op.create_table(
        "dirty_days",
        sa.Column("instrument_id", sa.String(64), nullable=False),
        sa.Column("day", sa.String(10), nullable=False),
        sa.Column("marked_at", EPOCH, nullable=False),
        sa.PrimaryKeyConstraint("instrument_id", "day", name="pk_dirty_days"),
    )
    op.create_table(
        "audit_log",
        sa.Column("id", sa.Integer, autoincrement=True, nullable=False),
        sa.Column("at", EPOCH, nullable=False),
        sa.Column("actor", sa.String(100), nullable=False),
        sa.Column("action", sa.String(40), nullable=False),
        sa.Column("instrument_id", sa.String(64)),
        sa.Column("detail", sa.Text, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_audit_log"),
    )


def downgrade() -> None:
    for table in (
        "audit_log",
        "dirty_days",
        "daily_usage",
        "tokens",
        "dead_letters",
        "sessions",
        "boots",
        "spans",
        "instruments",
    ):
        op.drop_table(table)
