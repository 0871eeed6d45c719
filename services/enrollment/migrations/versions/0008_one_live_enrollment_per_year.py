"""One live enrollment per person and year (a unique btree key) in place of the GiST exclusion over coverage dates.

A live (pending, active, suspended) enrollment always covers up to 31 December of its year and never leaves it:
coverage starts within the year (1 January, birth, after a waiting period, a roster's or transfer's start date)
and only a termination, which makes the row not live, moves the end earlier. The two checks make the database
hold that; under them two live enrollments of a person overlap exactly when they share a year, so the unique key
on (person_no, year) among live rows says what ex_enrollments_one_live_per_date said, at a fraction of its
cost per insert (docs/decisions/0010).

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-24
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

LIVE = "status IN ('pending', 'active', 'suspended')"


def upgrade() -> None:
    op.create_check_constraint(
        "ck_enrollments_within_year",
        "enrollments",
        "effective_from >= make_date(year, 1, 1) AND effective_to <= make_date(year, 12, 31)",
    )
    op.create_check_constraint(
        "ck_enrollments_live_to_year_end", "enrollments", f"NOT ({LIVE}) OR effective_to = make_date(year, 12, 31)"
    )
    op.create_index(
        "ux_enrollments_one_live_per_year",
        "enrollments",
        ["person_no", "year"],
        unique=True,
        postgresql_where=sa.text(LIVE),
    )
    op.execute("ALTER TABLE enrollments DROP CONSTRAINT ex_enrollments_one_live_per_date")


def downgrade() -> None:
    op.execute(
        "ALTER TABLE enrollments ADD CONSTRAINT ex_enrollments_one_live_per_date "
        "EXCLUDE USING gist (person_no WITH =, daterange(effective_from, effective_to, '[]') WITH &&) "
        f"WHERE ({LIVE})"
    )
    op.drop_index("ux_enrollments_one_live_per_year", "enrollments")
    op.drop_constraint("ck_enrollments_live_to_year_end", "enrollments", type_="check")
    op.drop_constraint("ck_enrollments_within_year", "enrollments", type_="check")
