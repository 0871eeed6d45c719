"""The outbox's pending index ordered by id alone, so a relay claim reads only the rows it takes.

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-23
"""

from collections.abc import Sequence

from shared.migrations import outbox_pending_index_by_id_v2, revert_outbox_pending_index_by_id_v2

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    outbox_pending_index_by_id_v2()


def downgrade() -> None:
    revert_outbox_pending_index_by_id_v2()
