"""LTC hears suspensions and terminations: ltc_coverage_stops, and when each activation was published.

An enrollment's suspension (欠费) or termination ends its LTC cover as it ends basic cover. The stops are a
table of their own (enrollment.suspended and .terminated travel on other topics than enrollment.activated,
so a stop may arrive before the cover it stops), and an activation published after a suspension (arrears
paid) lifts it: `ltc_coverages.activated_at` against `ltc_coverage_stops.suspended_at`, as settlement's
eligibility projection does.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-24
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("ltc_coverages", sa.Column("activated_at", sa.DateTime(timezone=True), nullable=True))
    op.create_table(
        "ltc_coverage_stops",
        sa.Column("enrollment_id", postgresql.UUID(as_uuid=True), primary_key=True),
        sa.Column("person_no", sa.String(12), nullable=False, index=True),
        sa.Column("suspended_from", sa.Date(), nullable=True),
        sa.Column("suspended_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("terminated_on", sa.Date(), nullable=True),
    )


def downgrade() -> None:
    op.drop_table("ltc_coverage_stops")
    op.drop_column("ltc_coverages", "activated_at")
