"""Ledger lines by pooling region (with the counterparty for inter-region lines) and business date;
monthly clearing runs netting what each pair of regions owes.

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-23
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

MONEY = sa.Numeric(14, 2)


def upgrade() -> None:
    op.add_column("ledger_entries", sa.Column("region_code", sa.String(12), nullable=False, server_default=""))
    op.add_column("ledger_entries", sa.Column("counterparty_region", sa.String(12), nullable=False, server_default=""))
    # Lines posted before this revision get the Shanghai date they were posted on.
    op.add_column("ledger_entries", sa.Column("business_date", sa.Date(), nullable=True))
    op.execute("UPDATE ledger_entries SET business_date = (posted_at AT TIME ZONE 'Asia/Shanghai')::date")
    op.alter_column("ledger_entries", "business_date", nullable=False)
    op.create_index("ix_ledger_entries_account_date", "ledger_entries", ["account", "business_date"])
    op.create_index("ix_ledger_entries_institution_date", "ledger_entries", ["institution_code", "business_date"])
    op.create_table(
        "clearing_runs",
        sa.Column("month", sa.String(7), primary_key=True),
        sa.Column("run_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("run_by", sa.String(100), nullable=False),
    )
    op.create_table(
        "clearing_run_lines",
        sa.Column("month", sa.String(7), sa.ForeignKey("clearing_runs.month"), primary_key=True),
        sa.Column("payer_region", sa.String(12), primary_key=True),
        sa.Column("payee_region", sa.String(12), primary_key=True),
        sa.Column("net_amount", MONEY, nullable=False),
        sa.Column("payee_advanced", MONEY, nullable=False),
        sa.Column("payer_advanced", MONEY, nullable=False),
        sa.CheckConstraint("net_amount >= 0", name="ck_clearing_run_lines_net"),
    )


def downgrade() -> None:
    op.drop_table("clearing_run_lines")
    op.drop_table("clearing_runs")
    op.drop_index("ix_ledger_entries_institution_date", "ledger_entries")
    op.drop_index("ix_ledger_entries_account_date", "ledger_entries")
    op.drop_column("ledger_entries", "business_date")
    op.drop_column("ledger_entries", "counterparty_region")
    op.drop_column("ledger_entries", "region_code")
