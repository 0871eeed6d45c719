"""Covering indexes for the live coverage count of a node below the city (bench `coverage`, decision 0019).

GET /stats/coverage (source=live) reads a node's persons by hukou prefix and looks up each one's covering
enrollments by person. With the columns the count reads carried in the indexes both are index-only scans, instead
of a heap page read per person and per enrollment (at 7 million persons most of them miss the cache).

- ix_persons_hukou_covering replaces ix_persons_hukou_prefix: the same key (hukou_region_code, LIKE 'prefix%'),
  with person_no and died_on carried, so every prefix look-up the old index served it serves too.
- ix_enrollments_covering: by person, the paid (activated) enrollments only, with what `covered on a day` reads.

Plain CREATE INDEX (no CONCURRENTLY, as every migration here): it blocks writes to the table while it builds (about
a minute for 7 million persons on a small machine); run it in a quiet hour.

Revision ID: 0010
Revises: 0009
Create Date: 2026-11-24
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0010"
down_revision: str | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.execute(
        "CREATE INDEX ix_persons_hukou_covering ON persons (hukou_region_code varchar_pattern_ops)"
        " INCLUDE (person_no, died_on)"
    )
    op.drop_index("ix_persons_hukou_prefix", "persons")
    op.execute(
        "CREATE INDEX ix_enrollments_covering ON enrollments (person_no)"
        " INCLUDE (scheme, status, effective_from, effective_to, suspended_from) WHERE activated_at IS NOT NULL"
    )


def downgrade() -> None:
    op.drop_index("ix_enrollments_covering", "enrollments")
    op.execute("CREATE INDEX ix_persons_hukou_prefix ON persons (hukou_region_code varchar_pattern_ops)")
    op.drop_index("ix_persons_hukou_covering", "persons")
