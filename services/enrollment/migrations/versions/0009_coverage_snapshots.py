"""Coverage snapshots: insured hukou residents counted once per day and grid cell, so the coverage
statistics of a city of millions read a few thousand rows instead of every person.

Revision ID: 0009
Revises: 0008
Create Date: 2026-11-24
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0009"
down_revision: str | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "coverage_snapshots",
        sa.Column("as_of", sa.Date(), primary_key=True),
        sa.Column("taken_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False),
    )
    op.create_table(
        "coverage_counts",
        sa.Column("as_of", sa.Date(), sa.ForeignKey("coverage_snapshots.as_of", ondelete="CASCADE"), primary_key=True),
        # The person's whole hukou code (a village's 12 digits or a grid cell's 15): any node sums it by prefix.
        sa.Column("hukou_region_code", sa.String(15), primary_key=True),
        sa.Column("scheme", sa.String(16), primary_key=True),
        sa.Column("insured", sa.Integer(), nullable=False),
        sa.CheckConstraint("insured > 0", name="ck_coverage_counts_insured"),
    )
    # as_of = :day AND hukou_region_code LIKE 'prefix%': one node's counts on one day.
    op.execute(
        "CREATE INDEX ix_coverage_counts_prefix ON coverage_counts (as_of, hukou_region_code varchar_pattern_ops)"
    )


def downgrade() -> None:
    op.drop_index("ix_coverage_counts_prefix", "coverage_counts")
    op.drop_table("coverage_counts")
    op.drop_table("coverage_snapshots")
