"""The fund ledger: double-entry journal lines per settlement and reversal.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-23
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

MONEY = sa.Numeric(14, 2)


def upgrade() -> None:
    op.create_table(
        "ledger_entries",
        sa.Column("id", sa.BigInteger(), sa.Identity(), primary_key=True),
        sa.Column("settlement_id", postgresql.UUID(as_uuid=True), nullable=False, index=True),
        sa.Column("kind", sa.String(20), nullable=False),
        sa.Column("institution_code", sa.String(20), nullable=False, index=True),
        sa.Column("account", sa.String(40), nullable=False),
        sa.Column("debit", MONEY, nullable=False),
        sa.Column("credit", MONEY, nullable=False),
        sa.Column("posted_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()),
        sa.CheckConstraint("kind IN ('settlement', 'reversal')", name="ck_ledger_entries_kind"),
        # One side per line, never negative.
        sa.CheckConstraint(
            "(debit > 0 AND credit = 0) OR (debit = 0 AND credit > 0)", name="ck_ledger_entries_one_side"
        ),
        # A settlement is journalled once and reversed at most once.
        sa.UniqueConstraint("settlement_id", "kind", "account", name="uq_ledger_entries_line"),
    )


def downgrade() -> None:
    op.drop_table("ledger_entries")
