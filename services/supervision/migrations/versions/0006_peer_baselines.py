"""Frozen peer baselines (同级同病种基线) replace the running institution costs (decision 0017).

PEER-OUTLIER judged each claim against all-time totals as they stood when the claim was consumed,
so its flags depended on the order claims from different partitions arrived in. It now reads a
baseline of a closed month, taken by ops (`POST /peer-baselines`), which no claim changes.

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-24
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "peer_baselines",
        sa.Column("period", sa.Date(), primary_key=True),
        sa.Column("taken_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()),
        sa.Column("taken_by", sa.String(100), nullable=False),
        sa.Column("institutions", sa.Integer(), nullable=False),
        sa.Column("diagnosis_groups", sa.Integer(), nullable=False),
        sa.Column("cases", sa.Integer(), nullable=False),
        sa.CheckConstraint("extract(day FROM period) = 1", name="ck_peer_baselines_period_is_a_month"),
    )
    op.create_table(
        "peer_baseline_costs",
        sa.Column("period", sa.Date(), sa.ForeignKey("peer_baselines.period", ondelete="CASCADE"), primary_key=True),
        sa.Column("institution_level", sa.Integer(), primary_key=True),
        sa.Column("diagnosis_group", sa.String(3), primary_key=True),
        sa.Column("institution_code", sa.String(20), primary_key=True),
        sa.Column("cases", sa.Integer(), nullable=False),
        sa.Column("total_cost", sa.Numeric(16, 2), nullable=False),
        sa.CheckConstraint("cases > 0", name="ck_peer_baseline_costs_cases"),
    )
    # The running totals are no longer read or written: a baseline is counted from claim_history.
    op.drop_table("institution_costs")


def downgrade() -> None:
    op.create_table(
        "institution_costs",
        sa.Column("institution_code", sa.String(20), primary_key=True),
        sa.Column("institution_level", sa.Integer(), primary_key=True),
        sa.Column("diagnosis_group", sa.String(3), primary_key=True),
        sa.Column("cases", sa.Integer(), nullable=False),
        sa.Column("total_cost", sa.Numeric(16, 2), nullable=False),
    )
    op.create_index("ix_institution_costs_peers", "institution_costs", ["institution_level", "diagnosis_group"])
    # The running totals as the old audit would have kept them: every claim still in the history.
    op.execute(
        "INSERT INTO institution_costs (institution_code, institution_level, diagnosis_group, cases, total_cost) "
        "SELECT institution_code, institution_level, diagnosis_group, count(*), sum(total) FROM claim_history "
        "WHERE institution_level IS NOT NULL AND diagnosis_group IS NOT NULL "
        "GROUP BY institution_code, institution_level, diagnosis_group"
    )
    op.drop_table("peer_baseline_costs")
    op.drop_table("peer_baselines")
