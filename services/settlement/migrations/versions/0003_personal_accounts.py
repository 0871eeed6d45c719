"""Personal accounts (个人账户) of employees: balances and the contributions credited to them.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-23
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

MONEY = sa.Numeric(14, 2)


def upgrade() -> None:
    op.create_table(
        "personal_accounts",
        sa.Column("person_no", sa.String(12), primary_key=True),
        sa.Column("balance", MONEY, nullable=False, server_default="0"),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()),
        # An account never pays more than it holds, whatever runs at once.
        sa.CheckConstraint("balance >= 0", name="ck_personal_accounts_balance"),
    )
    op.create_table(
        "account_credits",
        sa.Column("contribution_id", postgresql.UUID(as_uuid=True), primary_key=True),
        sa.Column("person_no", sa.String(12), nullable=False, index=True),
        sa.Column("year", sa.Integer(), nullable=False),
        sa.Column("amount", MONEY, nullable=False),
        sa.Column("posted_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint("amount > 0", name="ck_account_credits_amount"),
    )


def downgrade() -> None:
    op.drop_table("account_credits")
    op.drop_table("personal_accounts")
