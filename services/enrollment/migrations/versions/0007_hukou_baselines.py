"""户籍人口基数 hukou population baselines imported per region: the coverage rate's denominator.

An imported figure overrides the region file's for that region (and so moves every ancestor summed from it).

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-23
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "hukou_baselines",
        sa.Column("region_code", sa.String(15), primary_key=True),
        sa.Column("hukou_population", sa.Integer(), nullable=False),
        sa.Column("imported_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False),
        sa.CheckConstraint("hukou_population >= 0", name="ck_hukou_baselines_population"),
    )
    # region_code LIKE 'prefix%': coverage reads the baselines under one node.
    op.execute("CREATE INDEX ix_hukou_baselines_prefix ON hukou_baselines (region_code varchar_pattern_ops)")


def downgrade() -> None:
    op.drop_index("ix_hukou_baselines_prefix", "hukou_baselines")
    op.drop_table("hukou_baselines")
