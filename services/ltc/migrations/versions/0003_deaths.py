"""ltc_deaths: LTC hears person.deceased.

Its own table, not a column of ltc_persons: person.deceased and person.registered travel on different topics,
so a death may arrive before the person it concerns.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-24
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "ltc_deaths",
        sa.Column("person_no", sa.String(12), primary_key=True),
        sa.Column("died_on", sa.Date(), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("ltc_deaths")
