"""The monthly clearing run is journalled: a third journal kind, and a journal line is unique per
account within a region's books and counterparty (one clearing journal spans every pair of regions).

Revision ID: 0011
Revises: 0010
Create Date: 2026-11-23
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0011"
down_revision: str | None = "0010"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.drop_constraint("ck_ledger_entries_kind", "ledger_entries", type_="check")
    op.create_check_constraint(
        "ck_ledger_entries_kind", "ledger_entries", "kind IN ('settlement', 'reversal', 'clearing')"
    )
    op.drop_constraint("uq_ledger_entries_line", "ledger_entries", type_="unique")
    op.create_unique_constraint(
        "uq_ledger_entries_line",
        "ledger_entries",
        ["settlement_id", "kind", "account", "region_code", "counterparty_region"],
    )


def downgrade() -> None:
    op.drop_constraint("uq_ledger_entries_line", "ledger_entries", type_="unique")
    op.create_unique_constraint("uq_ledger_entries_line", "ledger_entries", ["settlement_id", "kind", "account"])
    op.drop_constraint("ck_ledger_entries_kind", "ledger_entries", type_="check")
    op.create_check_constraint("ck_ledger_entries_kind", "ledger_entries", "kind IN ('settlement', 'reversal')")
