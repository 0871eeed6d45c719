"""医疗救助 per 救助对象 group: each stored policy version's one `assistance_share` and `assistance_cap`
become `assistance_by_group`, that share and cap for every group with no 救助起付线, so every version
pays what it paid before. Policies live as their CSV row (`source_row`, JSONB): only that changes.

Revision ID: 0012
Revises: 0011
Create Date: 2026-11-24
"""

import json
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0012"
down_revision: str | None = "0011"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# The groups as of this migration (frozen here: a later group added to the code is not in old rows).
GROUPS = ("extreme_poverty", "orphan", "minimum_living", "poverty_risk", "severe_disability")


def upgrade() -> None:
    # group || ':' || share || ':' || cap || ':0', joined by ';': the texts as they were loaded.
    by_group = " || ';' || ".join(
        f"'{group}' || ':' || (source_row->>'assistance_share') || ':' || (source_row->>'assistance_cap')"
        " || :no_deductible"
        for group in GROUPS
    )
    op.get_bind().execute(
        sa.text(
            "UPDATE policies SET source_row = (source_row - 'assistance_share' - 'assistance_cap')"  # noqa: S608
            f" || jsonb_build_object('assistance_by_group', {by_group})"
            " WHERE source_row ? 'assistance_share'"
        ),
        {"no_deductible": ":0"},
    )


def downgrade() -> None:
    # Lossy: the older shape has one share and cap for all. It keeps 低保's (the group the old single
    # value was set for), else the first group listed, else nothing paid; 救助起付线 are dropped.
    connection = op.get_bind()
    rows = connection.execute(
        sa.text(
            "SELECT region, scheme, year, visit_type, institution_level, retiree, version, source_row"
            " FROM policies WHERE source_row ? 'assistance_by_group'"
        )
    ).mappings()
    for row in list(rows):
        terms: dict[str, tuple[str, str]] = {}
        for item in (row["source_row"]["assistance_by_group"] or "").split(";"):
            cells = item.split(":")
            if len(cells) >= 3:
                terms[cells[0]] = (cells[1], cells[2])
        share, cap = terms.get("minimum_living") or next(iter(terms.values()), ("0", "0"))
        source = {k: v for k, v in row["source_row"].items() if k != "assistance_by_group"}
        source |= {"assistance_share": share, "assistance_cap": cap}
        connection.execute(
            sa.text(
                "UPDATE policies SET source_row = CAST(:source AS jsonb) WHERE region = :region AND scheme = :scheme"
                " AND year = :year AND visit_type = :visit_type AND institution_level = :institution_level"
                " AND retiree = :retiree AND version = :version"
            ),
            {**{k: v for k, v in row.items() if k != "source_row"}, "source": json.dumps(source, ensure_ascii=False)},
        )
