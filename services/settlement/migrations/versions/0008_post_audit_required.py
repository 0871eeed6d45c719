"""事中审核: a settlement stored while supervision's in-stage check did not answer in time
(fail-open) is marked for post audit.

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-23
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # A constant default: PostgreSQL adds the column without rewriting the table.
    op.add_column(
        "settlements", sa.Column("post_audit_required", sa.Boolean(), nullable=False, server_default=sa.false())
    )
    # Post audit reads the marked ones first; they are few, so a partial index keeps it small.
    op.create_index(
        "ix_settlements_post_audit_required",
        "settlements",
        ["settled_at"],
        postgresql_where=sa.text("post_audit_required"),
    )


def downgrade() -> None:
    op.drop_index("ix_settlements_post_audit_required", table_name="settlements")
    op.drop_column("settlements", "post_audit_required")
