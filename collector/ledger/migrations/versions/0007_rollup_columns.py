"""Roll-ups as numbers, and monthly roll-ups (issue 18: a province's fleet in seconds).

Daily roll-ups kept their figures as JSON text: summing a fleet's year meant parsing 3.65
million documents. Each figure becomes a column (filled from the JSON, then the JSON goes), and
``monthly_usage`` holds closed months, so eleven years by month read months, not days. Monthly
rows are built by the collector's roll-up pass (it knows the site's calendar), not here.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from jishi.collector.ledger.migrations.columns import EPOCH
from jishi.collector.ledger.migrations.columns import ROLLUP_FIGURES as FIGURES

revision = "0007"
down_revision = "0006"


def _columns() -> list[sa.Column[float]]:
    return [sa.Column(name, EPOCH, nullable=False, server_default="0") for name in FIGURES]


def _from_json(dialect: str, name: str) -> str:
    if dialect == "sqlite":
        return f"COALESCE(json_extract(figures, '$.{name}'), 0)"
    return f"COALESCE(CAST(CAST(figures AS json) ->> '{name}' AS double precision), 0)"


def upgrade() -> None:
    dialect = op.get_bind().dialect.name
    with op.batch_alter_table("daily_usage") as batch:
        for column in _columns():
            batch.add_column(column)
    assignments = ", ".join(f"{name} = {_from_json(dialect, name)}" for name in FIGURES)
    op.execute(f"UPDATE daily_usage SET {assignments}")  # noqa: S608 - fixed names only
    with op.batch_alter_table("daily_usage") as batch:
        batch.drop_column("figures")
    # A fleet's days are read by day range across all instruments (issue 18).
    op.create_index("ix_daily_usage_day", "daily_usage", ["day"])
    op.create_table(
        "monthly_usage",
        sa.Column("instrument_id", sa.String(64), primary_key=True),
        sa.Column("month", sa.String(7), primary_key=True),
        sa.Column("first_day", sa.String(10), nullable=False),
        sa.Column("days", sa.Integer, nullable=False),
        *_columns(),
        sa.Column("computed_at", EPOCH, nullable=False),
    )


def downgrade() -> None:
    op.drop_table("monthly_usage")
    op.drop_index("ix_daily_usage_day", "daily_usage")
    dialect = op.get_bind().dialect.name
    with op.batch_alter_table("daily_usage") as batch:
        batch.add_column(sa.Column("figures", sa.Text, nullable=False, server_default="{}"))
    if dialect == "sqlite":
        pairs = ", ".join(f"'{name}', {name}" for name in FIGURES)
        op.execute(f"UPDATE daily_usage SET figures = json_object({pairs})")  # noqa: S608
    else:
        pairs = ", ".join(f"'{name}', {name}" for name in FIGURES)
        op.execute(f"UPDATE daily_usage SET figures = json_build_object({pairs})::text")  # noqa: S608
    with op.batch_alter_table("daily_usage") as batch:
        for name in FIGURES:
            batch.drop_column(name)
