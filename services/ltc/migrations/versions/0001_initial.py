"""LTC person projection and the platform tables.

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


def upgrade() -> None:
    create_platform_tables_v1()
    op.create_table(
        "ltc_persons",
        sa.Column("person_no", sa.String(12), primary_key=True),
        sa.Column("birth_date", sa.Date(), nullable=False),
        sa.Column("sex", sa.String(1), nullable=False),
        sa.Column("residence_region_code", sa.String(12), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()),
    )
    op.create_table(
        "ltc_coverages",
        sa.Column("enrollment_id", postgresql.UUID(as_uuid=True), primary_key=True),
        sa.Column("person_no", sa.String(12), nullable=False, index=True),
        sa.Column("scheme", sa.String(20), nullable=False),
        sa.Column("covered_from", sa.Date(), nullable=False),
        sa.Column("covered_to", sa.Date(), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("ltc_coverages")
    op.drop_table("ltc_persons")
    drop_platform_tables_v1()
