"""恢复医保支付资格: a practitioner's latest reinstatement (when, why, by whom) beside the suspension.

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-24
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("practitioners", sa.Column("reinstated_on", sa.Date(), nullable=True))
    op.add_column("practitioners", sa.Column("reinstatement_reason", sa.String(500), nullable=True))
    op.add_column("practitioners", sa.Column("reinstated_by", sa.String(100), nullable=True))


def downgrade() -> None:
    # Loses who reinstated whom and why; the status column keeps whether each is suspended.
    op.drop_column("practitioners", "reinstated_by")
    op.drop_column("practitioners", "reinstatement_reason")
    op.drop_column("practitioners", "reinstated_on")
