"""家庭共济: the projection of family bindings, and whose personal account paid a settlement.

Revision ID: 0010
Revises: 0009
Create Date: 2026-11-23
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0010"
down_revision: str | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "eligibility_family_bindings",
        sa.Column("binding_id", postgresql.UUID(as_uuid=True), primary_key=True),
        sa.Column("person_no", sa.String(12), nullable=False),  # the employee whose account pays
        sa.Column("relative_person_no", sa.String(12), nullable=False, index=True),
        sa.Column("relation", sa.String(10), nullable=False),
        sa.Column("bound_on", sa.Date(), nullable=False),
    )
    # Its own table: an unbinding may arrive before the binding (another topic).
    op.create_table(
        "eligibility_family_unbindings",
        sa.Column("binding_id", postgresql.UUID(as_uuid=True), primary_key=True),
        sa.Column("unbound_on", sa.Date(), nullable=False),
    )
    op.add_column("settlements", sa.Column("account_payer_person_no", sa.String(12), nullable=True))


def downgrade() -> None:
    op.drop_column("settlements", "account_payer_person_no")
    op.drop_table("eligibility_family_unbindings")
    op.drop_table("eligibility_family_bindings")
