"""A suspended enrollment that is active again (arrears paid) covers again: when each event was
published, so a suspension is lifted by a later enrollment.activated whichever topic arrives first.

`eligibility_stops.suspended_at`: the enrollment.suspended event's time; `eligibility_coverages.
activated_at`: the latest enrollment.activated event's time. Both null on rows projected before
this migration, which keep today's reading (a recorded suspension stops cover).

Revision ID: 0013
Revises: 0012
Create Date: 2026-11-24
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0013"
down_revision: str | None = "0012"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("eligibility_stops", sa.Column("suspended_at", sa.DateTime(timezone=True), nullable=True))
    op.add_column("eligibility_coverages", sa.Column("activated_at", sa.DateTime(timezone=True), nullable=True))


def downgrade() -> None:
    op.drop_column("eligibility_coverages", "activated_at")
    op.drop_column("eligibility_stops", "suspended_at")
