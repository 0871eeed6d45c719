"""异地就医备案 filings and 家庭共济 family bindings.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-23
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "filings",
        sa.Column("id", postgresql.UUID(as_uuid=True), primary_key=True),
        sa.Column("person_no", sa.String(12), sa.ForeignKey("persons.person_no"), nullable=False),
        sa.Column("filing_type", sa.String(32), nullable=False),
        sa.Column("home_region_code", sa.String(12), nullable=False),
        sa.Column("destination_region_code", sa.String(12), nullable=False),
        sa.Column("valid_from", sa.Date(), nullable=False),
        sa.Column("valid_to", sa.Date(), nullable=False),
        sa.Column("status", sa.String(20), nullable=False),
        sa.Column("decision_reason", sa.String(200), nullable=False),
        sa.Column("filed_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()),
        sa.Column("approved_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("revoked_on", sa.Date(), nullable=True),
        sa.Column("revoke_reason", sa.String(200), nullable=True),
        sa.CheckConstraint("status IN ('pending_review', 'approved', 'revoked')", name="ck_filings_status"),
        sa.CheckConstraint("valid_from <= valid_to", name="ck_filings_validity"),
    )
    op.create_index("ix_filings_person", "filings", ["person_no", "valid_from"])
    op.create_table(
        "family_bindings",
        sa.Column("id", postgresql.UUID(as_uuid=True), primary_key=True),
        sa.Column("person_no", sa.String(12), sa.ForeignKey("persons.person_no"), nullable=False),
        sa.Column("relative_person_no", sa.String(12), sa.ForeignKey("persons.person_no"), nullable=False),
        sa.Column("relation", sa.String(10), nullable=False),
        sa.Column("bound_on", sa.Date(), nullable=False),
        sa.Column("unbound_on", sa.Date(), nullable=True),
        sa.CheckConstraint("relation IN ('spouse', 'parent', 'child')", name="ck_family_relation"),
        sa.CheckConstraint("person_no <> relative_person_no", name="ck_family_not_self"),
    )
    # One current binding per pair; the route's person lock keeps the count under the maximum.
    op.create_index(
        "uq_family_current_pair",
        "family_bindings",
        ["person_no", "relative_person_no"],
        unique=True,
        postgresql_where=sa.text("unbound_on IS NULL"),
    )
    op.create_index("ix_family_relative", "family_bindings", ["relative_person_no"])


def downgrade() -> None:
    op.drop_table("family_bindings")
    op.drop_table("filings")
