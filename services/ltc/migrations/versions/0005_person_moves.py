"""ltc_person_moves: LTC hears person.updated (变更常住地).

The latest residence a person moved to, by person. Its own table, not an update of ltc_persons:
person.updated and person.registered travel on different topics, so a move may arrive before the
registration it changes (an UPDATE would find no row, and the registration would then put the old
residence back).

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-24
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "ltc_person_moves",
        sa.Column("person_no", sa.String(12), primary_key=True),
        sa.Column("residence_region_code", sa.String(12), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("ltc_person_moves")
