"""Evidence: claims and wills beside the spans they resolve to (issue 12).

Existing spans become claims of one "legacy" boot ranked below every agent boot, so a late
message resolving an old stretch again keeps what was known. The old will markers (zero-length
``unknown`` spans) and the per-span bookkeeping columns go.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from jishi.collector.ledger.migrations.columns import EPOCH

revision = "0004"
down_revision = "0003"


def upgrade() -> None:
    _create_claims_and_wills()
    _add_columns()
    _spans_become_claims()


def _create_claims_and_wills() -> None:
    op.create_table(
        "claims",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("instrument_id", sa.String(64), nullable=False),
        sa.Column("boot_key", EPOCH, nullable=False),
        sa.Column("boot_id", sa.String(64), nullable=False),
        sa.Column("seq_lo", sa.BigInteger, nullable=False),
        sa.Column("seq_hi", sa.BigInteger, nullable=False),
        sa.Column("prev_seq", sa.BigInteger),
        sa.Column("linked", sa.Boolean, nullable=False),
        sa.Column("ts_lo", EPOCH, nullable=False),
        sa.Column("ts_hi", EPOCH, nullable=False),
        sa.Column("start", EPOCH, nullable=False),
        sa.Column("end", EPOCH, nullable=False),
        sa.Column("state", sa.String(20), nullable=False),
        sa.Column("closed", sa.Boolean, nullable=False),
        sa.Column("observations", sa.Integer, nullable=False),
        sa.Column("historical", sa.Boolean, nullable=False),
    )
    op.create_index("ix_claims_instrument_end", "claims", ["instrument_id", "end"])
    op.create_index("ux_claims_run", "claims", ["instrument_id", "boot_id", "seq_lo"], unique=True)
    op.create_table(
        "wills",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("instrument_id", sa.String(64), nullable=False),
        sa.Column("boot_key", EPOCH, nullable=False),
        sa.Column("boot_id", sa.String(64), nullable=False),
        sa.Column("seq", sa.BigInteger, nullable=False),
        sa.Column("received_at", EPOCH, nullable=False),
        sa.Column("withdrawn", sa.Boolean, nullable=False),
    )
    op.create_index("ix_wills_instrument_boot", "wills", ["instrument_id", "boot_id"])


def _add_columns() -> None:
    with op.batch_alter_table("boots") as batch:
        batch.add_column(sa.Column("boot_at", EPOCH))
        batch.add_column(sa.Column("instrument_id", sa.String(64)))
    with op.batch_alter_table("instruments") as batch:
        batch.add_column(sa.Column("top_boot_key", EPOCH))
        batch.add_column(sa.Column("top_boot_id", sa.String(64)))
        batch.add_column(sa.Column("top_phase", sa.Integer))
        batch.add_column(sa.Column("top_seq", sa.BigInteger))
        batch.add_column(sa.Column("top_claim_lo", sa.BigInteger))


def _spans_become_claims() -> None:
    op.execute("DELETE FROM spans WHERE state = 'unknown'")
    op.execute(
        "INSERT INTO claims (instrument_id, boot_key, boot_id, seq_lo, seq_hi, prev_seq, linked, "
        'ts_lo, ts_hi, start, "end", state, closed, observations, historical) '
        "SELECT instrument_id, 0.0, 'legacy', id, id, NULL, false, start, start, start, \"end\", "
        "state, false, observations, historical FROM spans"
    )
    # The legacy boot is each instrument's newest evidence until its agents speak again: the
    # first boot after the upgrade then ends it where it began, as any later boot would.
    op.execute(
        "UPDATE instruments SET top_boot_key = 0.0, top_boot_id = 'legacy', top_phase = 0, "
        "top_seq = (SELECT MAX(seq_hi) FROM claims c WHERE c.instrument_id = instruments.id "
        "AND c.boot_id = 'legacy'), top_claim_lo = (SELECT MAX(seq_lo) FROM claims c "
        "WHERE c.instrument_id = instruments.id AND c.boot_id = 'legacy') "
        "WHERE EXISTS (SELECT 1 FROM claims c WHERE c.instrument_id = instruments.id)"
    )
    with op.batch_alter_table("spans") as batch:
        batch.drop_column("last_ts")
        batch.drop_column("observations")
        batch.drop_column("historical")


def downgrade() -> None:
    with op.batch_alter_table("spans") as batch:
        batch.add_column(sa.Column("last_ts", EPOCH))
        batch.add_column(sa.Column("observations", sa.Integer, nullable=False, server_default="1"))
        batch.add_column(
            sa.Column("historical", sa.Boolean, nullable=False, server_default=sa.false())
        )
    with op.batch_alter_table("instruments") as batch:
        for name in ("top_claim_lo", "top_seq", "top_phase", "top_boot_id", "top_boot_key"):
            batch.drop_column(name)
    with op.batch_alter_table("boots") as batch:
        batch.drop_column("instrument_id")
        batch.drop_column("boot_at")
    op.drop_table("wills")
    op.drop_table("claims")
