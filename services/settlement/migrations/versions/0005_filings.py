"""Projection of cross-region filings (异地就医备案): filed care gets the filed ratio.

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-23
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "eligibility_filings",
        sa.Column("filing_id", postgresql.UUID(as_uuid=True), primary_key=True),
        sa.Column("person_no", sa.String(12), nullable=False, index=True),
        sa.Column("filing_type", sa.String(30), nullable=False),
        sa.Column("destination_region_code", sa.String(12), nullable=False),
        sa.Column("valid_from", sa.Date(), nullable=False),
        sa.Column("valid_to", sa.Date(), nullable=False),
    )
    # Its own table: a revocation may arrive before the approval (another topic).
    op.create_table(
        "eligibility_filing_revocations",
        sa.Column("filing_id", postgresql.UUID(as_uuid=True), primary_key=True),
        sa.Column("revoked_on", sa.Date(), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("eligibility_filing_revocations")
    op.drop_table("eligibility_filings")
