"""Cases (案件) grouping flags against an institution or practitioner, and the sanctions
(三函两牌) institutions received.

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


def upgrade() -> None:
    op.create_table(
        "cases",
        sa.Column("id", postgresql.UUID(as_uuid=True), primary_key=True),
        sa.Column("subject_kind", sa.String(12), nullable=False),
        sa.Column("subject_code", sa.String(30), nullable=False),
        sa.Column("status", sa.String(14), nullable=False),
        sa.Column("amount_at_stake", sa.Numeric(14, 2), nullable=False),
        sa.Column("opened_by", sa.String(100), nullable=False),
        sa.Column("opened_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()),
        sa.Column("investigating_since", sa.DateTime(timezone=True), nullable=True),
        sa.Column("finding", sa.String(2000), nullable=True),
        sa.Column("amount_to_recover", sa.Numeric(14, 2), nullable=True),
        sa.Column("sanction", sa.String(10), nullable=True),
        sa.Column("concluded_on", sa.Date(), nullable=True),
        sa.CheckConstraint("subject_kind IN ('institution', 'practitioner')", name="ck_cases_subject_kind"),
        sa.CheckConstraint("status IN ('open', 'investigating', 'concluded')", name="ck_cases_status"),
        sa.CheckConstraint(
            "amount_to_recover IS NULL OR (amount_to_recover >= 0 AND amount_to_recover <= amount_at_stake)",
            name="ck_cases_recover_within_stake",
        ),
    )
    op.create_index("ix_cases_subject", "cases", ["subject_kind", "subject_code"])
    op.create_table(
        "case_flags",
        # A flag belongs to at most one case.
        sa.Column("flag_id", postgresql.UUID(as_uuid=True), sa.ForeignKey("flags.id"), primary_key=True),
        sa.Column("case_id", postgresql.UUID(as_uuid=True), sa.ForeignKey("cases.id"), nullable=False, index=True),
    )
    op.create_table(
        "sanctions",
        sa.Column("id", postgresql.UUID(as_uuid=True), primary_key=True),
        sa.Column("institution_code", sa.String(20), nullable=False),
        sa.Column("kind", sa.String(10), nullable=False),
        sa.Column("issued_on", sa.Date(), nullable=False),
        sa.Column("case_id", postgresql.UUID(as_uuid=True), sa.ForeignKey("cases.id"), nullable=False, unique=True),
        sa.Column("refuses_settlement", sa.Boolean(), nullable=False),
        sa.CheckConstraint("kind IN ('reminder', 'interview', 'warning', 'yellow', 'red')", name="ck_sanctions_kind"),
    )
    op.create_index("ix_sanctions_institution_issued", "sanctions", ["institution_code", "issued_on"])


def downgrade() -> None:
    op.drop_table("sanctions")
    op.drop_table("case_flags")
    op.drop_table("cases")
