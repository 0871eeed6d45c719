"""Recoveries tracked to closure (追回): payments received against a concluded case until the
amount to recover is fully recovered; penalties (罚款) decided at conclusion.

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-23
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

MONEY = sa.Numeric(14, 2)


def upgrade() -> None:
    op.add_column("cases", sa.Column("penalty", MONEY, nullable=True))
    op.add_column("cases", sa.Column("recovered", MONEY, nullable=False, server_default="0"))
    op.add_column("cases", sa.Column("recovery_status", sa.String(12), nullable=False, server_default="none"))
    op.add_column("cases", sa.Column("recovery_closed_on", sa.Date(), nullable=True))
    # Cases concluded before this revision: nothing recovered yet, or nothing to recover.
    op.execute(
        "UPDATE cases SET recovery_status = CASE WHEN amount_to_recover = 0 THEN 'closed' ELSE 'outstanding' END, "
        "recovery_closed_on = CASE WHEN amount_to_recover = 0 THEN concluded_on END WHERE status = 'concluded'"
    )
    op.create_check_constraint(
        "ck_cases_recovery_status", "cases", "recovery_status IN ('none', 'outstanding', 'closed')"
    )
    # The money invariant, in the database too: never more recovered than decided.
    op.create_check_constraint(
        "ck_cases_recovered_within_decided",
        "cases",
        "recovered >= 0 AND (recovered = 0 OR recovered <= amount_to_recover)",
    )
    op.create_check_constraint("ck_cases_penalty", "cases", "penalty IS NULL OR penalty >= 0")
    op.create_table(
        "recovery_payments",
        sa.Column("id", postgresql.UUID(as_uuid=True), primary_key=True),
        sa.Column("case_id", postgresql.UUID(as_uuid=True), sa.ForeignKey("cases.id"), nullable=False),
        sa.Column("amount", MONEY, nullable=False),
        sa.Column("received_on", sa.Date(), nullable=False),
        sa.Column("reference", sa.String(64), nullable=False),
        sa.Column("recorded_by", sa.String(100), nullable=False),
        sa.Column("recorded_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()),
        sa.CheckConstraint("amount > 0", name="ck_recovery_payments_amount"),
        # A payment's reference (the bank or treasury receipt) is recorded once per case.
        sa.UniqueConstraint("case_id", "reference", name="uq_recovery_payments_reference"),
    )
    op.create_index("ix_recovery_payments_received_on", "recovery_payments", ["received_on"])


def downgrade() -> None:
    op.drop_table("recovery_payments")
    op.drop_constraint("ck_cases_penalty", "cases")
    op.drop_constraint("ck_cases_recovered_within_decided", "cases")
    op.drop_constraint("ck_cases_recovery_status", "cases")
    op.drop_column("cases", "recovery_closed_on")
    op.drop_column("cases", "recovery_status")
    op.drop_column("cases", "recovered")
    op.drop_column("cases", "penalty")
