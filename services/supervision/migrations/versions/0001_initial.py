"""Audit results, flags, and the platform tables.

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
        "audit_results",
        sa.Column("settlement_id", postgresql.UUID(as_uuid=True), primary_key=True),
        sa.Column("person_no", sa.String(12), nullable=False, index=True),
        sa.Column("institution_code", sa.String(20), nullable=False, index=True),
        sa.Column("practitioner_code", sa.String(30), nullable=False),
        sa.Column("outcome", sa.String(20), nullable=False),
        sa.Column("rules_run", sa.Integer(), nullable=False),
        sa.Column("audited_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()),
    )
    op.create_table(
        "flags",
        sa.Column("id", postgresql.UUID(as_uuid=True), primary_key=True),
        sa.Column(
            "settlement_id",
            postgresql.UUID(as_uuid=True),
            sa.ForeignKey("audit_results.settlement_id"),
            nullable=False,
            index=True,
        ),
        sa.Column("rule_id", sa.String(50), nullable=False),
        sa.Column("rule_version", sa.Integer(), nullable=False),
        sa.Column("severity", sa.String(10), nullable=False),
        sa.Column("line_no", sa.Integer(), nullable=True),
        sa.Column("amount_at_stake", sa.Numeric(14, 2), nullable=False),
        sa.Column("message", sa.String(500), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()),
    )


def downgrade() -> None:
    op.drop_table("flags")
    op.drop_table("audit_results")
    drop_platform_tables_v1()
