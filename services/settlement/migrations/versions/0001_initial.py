"""Eligibility projection, settlements, and the platform tables.

Revision ID: 0001
Revises:
Create Date: 2026-11-23
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

from shared.migrations import create_platform_tables_v1, drop_platform_tables_v1

revision: str = "0001"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

MONEY = sa.Numeric(14, 2)
BREAKDOWN = (
    "medfee_sumamt", "fulamt_ownpay_amt", "overlmt_selfpay", "preselfpay_amt", "inscp_scp_amt", "hifp_pay",
    "hifmi_pay", "hifob_pay", "maf_pay", "acct_pay", "psn_cash_pay", "fund_pay_sumamt",
)  # fmt: skip


def upgrade() -> None:
    create_platform_tables_v1()
    op.create_table(
        "eligibility_persons",
        sa.Column("person_no", sa.String(12), primary_key=True),
        sa.Column("birth_date", sa.Date(), nullable=False),
        sa.Column("sex", sa.String(1), nullable=False),
        sa.Column("hukou_region_code", sa.String(12), nullable=False),
    )
    op.create_table(
        "eligibility_coverages",
        sa.Column("enrollment_id", postgresql.UUID(as_uuid=True), primary_key=True),
        sa.Column("person_no", sa.String(12), nullable=False, index=True),
        sa.Column("scheme", sa.String(20), nullable=False),
        sa.Column("year", sa.Integer(), nullable=False),
        sa.Column("region_code", sa.String(12), nullable=False),
        sa.Column("effective_from", sa.Date(), nullable=False),
        sa.Column("effective_to", sa.Date(), nullable=False),
        sa.Column("status", sa.String(20), nullable=False),
    )
    op.create_table(
        "settlements",
        sa.Column("id", postgresql.UUID(as_uuid=True), primary_key=True),
        sa.Column("institution_code", sa.String(20), nullable=False),
        sa.Column("idempotency_key", sa.String(200), nullable=False),
        sa.Column("person_no", sa.String(12), nullable=False, index=True),
        sa.Column("scheme", sa.String(20), nullable=False),
        sa.Column("visit_type", sa.String(20), nullable=False),
        sa.Column("admitted_on", sa.Date(), nullable=False),
        sa.Column("discharged_on", sa.Date(), nullable=False),
        sa.Column("practitioner_code", sa.String(30), nullable=False),
        sa.Column("diagnoses", postgresql.JSONB(), nullable=False),
        sa.Column("lines", postgresql.JSONB(), nullable=False),
        *[sa.Column(name, MONEY, nullable=False) for name in BREAKDOWN],
        sa.Column("status", sa.String(20), nullable=False),
        sa.Column("settled_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()),
        sa.UniqueConstraint("institution_code", "idempotency_key", name="uq_settlements_idempotency"),
        sa.CheckConstraint(
            "medfee_sumamt = fulamt_ownpay_amt + overlmt_selfpay + preselfpay_amt + inscp_scp_amt",
            name="ck_settlements_scope_parts",
        ),
        sa.CheckConstraint(
            "fund_pay_sumamt + acct_pay + psn_cash_pay = medfee_sumamt", name="ck_settlements_pay_parts"
        ),
    )


def downgrade() -> None:
    op.drop_table("settlements")
    op.drop_table("eligibility_coverages")
    op.drop_table("eligibility_persons")
    drop_platform_tables_v1()
