"""The 资助参保 assistance category on the eligibility projection: those groups get 医疗救助 (maf_pay).

Revision ID: 0009
Revises: 0008
Create Date: 2026-11-23
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0009"
down_revision: str | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("eligibility_coverages", sa.Column("assistance_category", sa.String(32), nullable=True))


def downgrade() -> None:
    op.drop_column("eligibility_coverages", "assistance_category")
