"""ix_enrollments_covering carries terminated_on.

`covered on a day` now reads terminated_on: an enrollment terminated before its cover began keeps
effective_to = effective_from (a date range cannot be empty) and was counted as covered on that day; the
termination day decides instead. Carried in the covering index so the coverage counts stay index-only scans
(tests/integration/test_enrollment_coverage_plan.py).

Plain CREATE INDEX (no CONCURRENTLY, as every migration here): it blocks writes to enrollments while it builds
(about a minute for 7 million persons' enrollments on a small machine); run it in a quiet hour.

Revision ID: 0011
Revises: 0010
Create Date: 2026-11-24
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0011"
down_revision: str | None = "0010"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.drop_index("ix_enrollments_covering", "enrollments")
    op.execute(
        "CREATE INDEX ix_enrollments_covering ON enrollments (person_no)"
        " INCLUDE (scheme, status, effective_from, effective_to, suspended_from, terminated_on)"
        " WHERE activated_at IS NOT NULL"
    )


def downgrade() -> None:
    op.drop_index("ix_enrollments_covering", "enrollments")
    op.execute(
        "CREATE INDEX ix_enrollments_covering ON enrollments (person_no)"
        " INCLUDE (scheme, status, effective_from, effective_to, suspended_from) WHERE activated_at IS NOT NULL"
    )
