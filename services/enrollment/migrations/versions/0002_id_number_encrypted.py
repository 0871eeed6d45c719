"""Encrypted copy of the resident ID (身份证号密文).

Nullable: persons registered before this revision have only the hash and the mask, and the
clear ID was never stored, so they cannot be backfilled; they get a copy when re-verified.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-23
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("persons", sa.Column("id_number_encrypted", sa.LargeBinary(), nullable=True))


def downgrade() -> None:
    op.drop_column("persons", "id_number_encrypted")
