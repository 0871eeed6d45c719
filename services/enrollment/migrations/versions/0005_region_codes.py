"""Persons' region codes reach down to the grid cell (网格, 15 digits), with a prefix index for coverage roll-ups.

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-23
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.alter_column("persons", "hukou_region_code", type_=sa.String(15), existing_nullable=False)
    op.alter_column("persons", "residence_region_code", type_=sa.String(15), existing_nullable=False)
    # LIKE 'prefix%' on the hukou code: coverage counts a region's persons by their code's prefix.
    op.execute("CREATE INDEX ix_persons_hukou_prefix ON persons (hukou_region_code varchar_pattern_ops)")
    op.create_index(
        "ix_enrollments_active_dates",
        "enrollments",
        ["person_no", "effective_from", "effective_to"],
        postgresql_where=sa.text("status = 'active'"),
    )


def downgrade() -> None:
    op.drop_index("ix_enrollments_active_dates", "enrollments")
    op.drop_index("ix_persons_hukou_prefix", "persons")
    op.alter_column("persons", "residence_region_code", type_=sa.String(12), existing_nullable=False)
    op.alter_column("persons", "hukou_region_code", type_=sa.String(12), existing_nullable=False)
