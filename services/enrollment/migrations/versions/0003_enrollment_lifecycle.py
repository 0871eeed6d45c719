"""Enrollment lifecycle: one live enrollment per person at any date, contributions, deaths.

The unique (person_no, year) key gives way to an exclusion constraint over the coverage dates
of pending, active and suspended enrollments (btree_gist, shipped with PostgreSQL): a person
can then switch scheme within a year, and two concurrent enrollments cannot both win.

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
    op.execute("CREATE EXTENSION IF NOT EXISTS btree_gist")
    op.add_column("persons", sa.Column("died_on", sa.Date(), nullable=True))
    op.add_column("enrollments", sa.Column("employer_code", sa.String(32), nullable=True))
    op.add_column("enrollments", sa.Column("contribution_base", sa.Numeric(14, 2), nullable=True))
    op.add_column("enrollments", sa.Column("assistance_category", sa.String(32), nullable=True))
    op.add_column("enrollments", sa.Column("retiree", sa.Boolean(), nullable=False, server_default=sa.false()))
    op.add_column("enrollments", sa.Column("coverage_reason", sa.String(200), nullable=True))
    op.add_column("enrollments", sa.Column("activated_at", sa.DateTime(timezone=True), nullable=True))
    op.add_column("enrollments", sa.Column("suspended_from", sa.Date(), nullable=True))
    op.add_column("enrollments", sa.Column("terminated_on", sa.Date(), nullable=True))
    op.add_column("enrollments", sa.Column("status_reason", sa.String(200), nullable=True))
    # Enrollments made before this revision were activated at once.
    op.execute("UPDATE enrollments SET activated_at = created_at WHERE status = 'active'")
    op.drop_constraint("uq_enrollments_person_year", "enrollments", type_="unique")
    op.create_check_constraint(
        "ck_enrollments_status", "enrollments", "status IN ('pending', 'active', 'suspended', 'terminated')"
    )
    op.create_check_constraint("ck_enrollments_dates", "enrollments", "effective_from <= effective_to")
    op.execute(
        "ALTER TABLE enrollments ADD CONSTRAINT ex_enrollments_one_live_per_date "
        "EXCLUDE USING gist (person_no WITH =, daterange(effective_from, effective_to, '[]') WITH &&) "
        "WHERE (status IN ('pending', 'active', 'suspended'))"
    )
    op.create_index("ix_enrollments_person_year", "enrollments", ["person_no", "year"])
    op.create_table(
        "contributions",
        sa.Column("id", postgresql.UUID(as_uuid=True), primary_key=True),
        sa.Column("enrollment_id", postgresql.UUID(as_uuid=True), sa.ForeignKey("enrollments.id"), nullable=False),
        sa.Column("person_no", sa.String(12), sa.ForeignKey("persons.person_no"), nullable=False),
        sa.Column("year", sa.Integer(), nullable=False),
        sa.Column("individual", sa.Numeric(14, 2), nullable=False),
        sa.Column("employer", sa.Numeric(14, 2), nullable=False),
        sa.Column("subsidy", sa.Numeric(14, 2), nullable=False),
        sa.Column("personal_account_credit", sa.Numeric(14, 2), nullable=False),
        sa.Column("paid_on", sa.Date(), nullable=False),
        sa.Column("posted_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()),
        sa.CheckConstraint("individual >= 0 AND employer >= 0 AND subsidy >= 0", name="ck_contributions_positive"),
    )
    op.create_index("ix_contributions_enrollment", "contributions", ["enrollment_id"])


def downgrade() -> None:
    op.drop_table("contributions")
    op.drop_index("ix_enrollments_person_year", "enrollments")
    op.execute("ALTER TABLE enrollments DROP CONSTRAINT ex_enrollments_one_live_per_date")
    op.drop_constraint("ck_enrollments_dates", "enrollments", type_="check")
    op.drop_constraint("ck_enrollments_status", "enrollments", type_="check")
    op.create_unique_constraint("uq_enrollments_person_year", "enrollments", ["person_no", "year"])
    for column in (
        "status_reason", "terminated_on", "suspended_from", "activated_at", "coverage_reason",
        "retiree", "assistance_category", "contribution_base", "employer_code",
    ):  # fmt: skip
        op.drop_column("enrollments", column)
    op.drop_column("persons", "died_on")
