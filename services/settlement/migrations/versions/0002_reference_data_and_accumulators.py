"""Reference data (catalogue, policies, institutions), supervision projections, accumulators, reversals.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-23
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

MONEY = sa.Numeric(14, 2)
ACCUMULATED_MONEY = (
    "deductible_used", "basic_fund_paid", "critical_paid", "inscope_self_paid", "assistance_base",
    "assistance_paid", "personal_burden",
)  # fmt: skip


def upgrade() -> None:
    op.create_table(
        "eligibility_deaths",
        sa.Column("person_no", sa.String(12), primary_key=True),
        sa.Column("died_on", sa.Date(), nullable=False),
    )
    op.add_column(
        "eligibility_coverages", sa.Column("retiree", sa.Boolean(), nullable=False, server_default=sa.false())
    )
    op.create_table(
        "eligibility_stops",
        sa.Column("enrollment_id", postgresql.UUID(as_uuid=True), primary_key=True),
        sa.Column("person_no", sa.String(12), nullable=False, index=True),
        sa.Column("suspended_from", sa.Date(), nullable=True),
        sa.Column("terminated_on", sa.Date(), nullable=True),
    )

    op.create_table(
        "catalogue_items",
        sa.Column("id", sa.BigInteger(), sa.Identity(), primary_key=True),
        sa.Column("region", sa.String(6), nullable=False),
        sa.Column("code", sa.String(50), nullable=False),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("category", sa.String(10), nullable=False),
        sa.Column("item_class", sa.String(1), nullable=False),
        sa.Column("preselfpay_ratio", sa.Numeric(5, 4), nullable=False),
        sa.Column("limit_price", MONEY, nullable=True),
        sa.Column("sex", sa.String(1), nullable=True),
        sa.Column("min_age", sa.Integer(), nullable=True),
        sa.Column("max_age", sa.Integer(), nullable=True),
        sa.Column("min_institution_level", sa.Integer(), nullable=True),
        sa.Column("max_qty_per_day", sa.Integer(), nullable=True),
        sa.Column("max_qty_per_stay", sa.Integer(), nullable=True),
        sa.Column("valid_from", sa.Date(), nullable=True),
        sa.Column("valid_to", sa.Date(), nullable=True),
        sa.CheckConstraint("item_class IN ('A', 'B', 'C')", name="ck_catalogue_items_class"),
    )
    # One version of a code per region and start date; NULL valid_from counts as one value.
    op.execute(
        "CREATE UNIQUE INDEX uq_catalogue_items_version ON catalogue_items (code, region, valid_from) "
        "NULLS NOT DISTINCT"
    )

    op.create_table(
        "policies",
        sa.Column("region", sa.String(6), primary_key=True),
        sa.Column("scheme", sa.String(20), primary_key=True),
        sa.Column("year", sa.Integer(), primary_key=True),
        sa.Column("visit_type", sa.String(20), primary_key=True),
        sa.Column("institution_level", sa.Integer(), primary_key=True),
        sa.Column("retiree", sa.Boolean(), primary_key=True),
        sa.Column("version", sa.Integer(), primary_key=True),
        sa.Column("source_row", postgresql.JSONB(), nullable=False),
        sa.Column("loaded_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()),
    )

    op.create_table(
        "institutions",
        sa.Column("code", sa.String(20), primary_key=True),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("level", sa.Integer(), nullable=False),
        sa.Column("region_code", sa.String(12), nullable=False),
        sa.Column("institution_type", sa.String(20), nullable=False),
        sa.Column("agreement_status", sa.String(20), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()),
        sa.CheckConstraint("level BETWEEN 0 AND 3", name="ck_institutions_level"),
        sa.CheckConstraint(
            "agreement_status IN ('active', 'suspended', 'terminated')", name="ck_institutions_agreement"
        ),
    )
    op.create_table(
        "institution_sanctions",
        sa.Column("event_id", postgresql.UUID(as_uuid=True), primary_key=True),
        sa.Column("institution_code", sa.String(20), nullable=False, index=True),
        sa.Column("sanction", sa.String(30), nullable=False),
        sa.Column("refuses_settlement", sa.Boolean(), nullable=False),
        sa.Column("effective_from", sa.Date(), nullable=False),
    )
    op.create_table(
        "practitioner_status",
        sa.Column("practitioner_code", sa.String(30), primary_key=True),
        sa.Column("suspended_from", sa.Date(), nullable=True),
        sa.Column("suspended_until", sa.Date(), nullable=True),
        sa.Column("reinstated_on", sa.Date(), nullable=True),
        sa.Column("points", sa.Integer(), nullable=True),
        sa.Column("reason", sa.String(500), nullable=True),
    )

    op.create_table(
        "accumulators",
        sa.Column("person_no", sa.String(12), primary_key=True),
        sa.Column("year", sa.Integer(), primary_key=True),
        *[sa.Column(name, MONEY, nullable=False, server_default="0") for name in ACCUMULATED_MONEY],
        sa.Column("basic_fund_due", sa.Numeric(), nullable=False, server_default="0"),
        sa.Column("settlements", sa.Integer(), nullable=False, server_default="0"),
        # A reversal never takes more back than was added: every figure stays at or above zero.
        *[sa.CheckConstraint(f"{name} >= 0", name=f"ck_accumulators_{name}") for name in ACCUMULATED_MONEY],
        sa.CheckConstraint("basic_fund_due >= 0", name="ck_accumulators_basic_fund_due"),
        sa.CheckConstraint("settlements >= 0", name="ck_accumulators_settlements"),
    )

    op.add_column("settlements", sa.Column("year", sa.Integer(), nullable=True))
    op.add_column("settlements", sa.Column("policy_version", sa.String(80), nullable=True))
    op.add_column("settlements", sa.Column("institution_level", sa.Integer(), nullable=True))
    op.add_column("settlements", sa.Column("institution_type", sa.String(20), nullable=True))
    op.add_column("settlements", sa.Column("region_code", sa.String(12), nullable=True))
    op.add_column("settlements", sa.Column("insured_region_code", sa.String(12), nullable=True))
    op.add_column("settlements", sa.Column("explanation", postgresql.JSONB(), nullable=True))
    op.add_column("settlements", sa.Column("accumulator_delta", postgresql.JSONB(), nullable=True))
    op.add_column("settlements", sa.Column("reversed_at", sa.DateTime(timezone=True), nullable=True))
    op.create_check_constraint("ck_settlements_status", "settlements", "status IN ('settled', 'reversed')")
    op.create_check_constraint(
        "ck_settlements_reversed_at", "settlements", "(status = 'reversed') = (reversed_at IS NOT NULL)"
    )


def downgrade() -> None:
    op.drop_constraint("ck_settlements_reversed_at", "settlements")
    op.drop_constraint("ck_settlements_status", "settlements")
    for column in (
        "reversed_at", "accumulator_delta", "explanation", "insured_region_code", "region_code",
        "institution_type", "institution_level", "policy_version", "year",
    ):  # fmt: skip
        op.drop_column("settlements", column)
    op.drop_table("accumulators")
    op.drop_table("practitioner_status")
    op.drop_table("institution_sanctions")
    op.drop_table("institutions")
    op.drop_table("policies")
    op.drop_table("catalogue_items")
    op.drop_table("eligibility_stops")
    op.drop_column("eligibility_coverages", "retiree")
    op.drop_table("eligibility_deaths")
