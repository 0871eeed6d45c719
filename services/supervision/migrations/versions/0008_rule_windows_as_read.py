"""Rule windows as wide as the rules read: PHANTOM-BED version 2 looks back one day, LTC-DURING-STAY
version 2 none.

Version 1 of both looked back 366 days, and a claim's history window is the widest window of the
active rules (`service.lookback_days`), so every post audit and in-stage check read a year of the
person's claims although neither rule reads that far:

- PHANTOM-BED (挂床住院) needs the stays still open on the claim's first night; the history is
  filtered on the day of discharge, so a stay that began long ago but ends inside this one is
  found with a window of one day;
- LTC-DURING-STAY reads the long-term-care visits within the stay, which are loaded by the stay's
  own dates, not through the claims window.

With version 2 active, the window is DOCTOR-SHOPPING's 90 days. The findings do not change; only
what is read for them does. A rule that an auditor has versioned since the seed (any version
above 1, or an active version other than the seeded one) is left as it is.

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-24
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# rule_id -> (the seeded window, version 2's window)
NARROWED: dict[str, tuple[int, int | None]] = {"PHANTOM-BED": (366, 1), "LTC-DURING-STAY": (366, None)}

_COLUMNS = "rule_id, family, stages, severity, parameters, scope, effective_from, effective_to"


def upgrade() -> None:
    bind = op.get_bind()
    for rule_id, (seeded, narrowed) in NARROWED.items():
        # Deactivate first: the partial unique index allows one active version per rule.
        still_seeded = bind.execute(
            sa.text(
                "UPDATE rule_versions SET active = false"
                " WHERE rule_id = :rule_id AND version = 1 AND active AND window_days = :seeded"
                " AND NOT EXISTS (SELECT FROM rule_versions later WHERE later.rule_id = :rule_id AND later.version > 1)"
                " RETURNING rule_id"
            ),
            {"rule_id": rule_id, "seeded": seeded},
        ).first()
        if still_seeded is None:
            continue
        bind.execute(
            sa.text(
                f"INSERT INTO rule_versions (version, window_days, active, {_COLUMNS})"  # noqa: S608 - constants
                f" SELECT 2, :narrowed, true, {_COLUMNS} FROM rule_versions WHERE rule_id = :rule_id AND version = 1"
            ),
            {"rule_id": rule_id, "narrowed": narrowed},
        )


def downgrade() -> None:
    bind = op.get_bind()
    for rule_id, (_, narrowed) in NARROWED.items():
        removed = bind.execute(
            sa.text(
                "DELETE FROM rule_versions WHERE rule_id = :rule_id AND version = 2 AND window_days IS NOT DISTINCT FROM"
                " :narrowed AND NOT EXISTS (SELECT FROM rule_versions later WHERE later.rule_id = :rule_id"
                " AND later.version > 2) RETURNING active"
            ),
            {"rule_id": rule_id, "narrowed": narrowed},
        ).first()
        if removed is not None and removed.active:
            bind.execute(
                sa.text("UPDATE rule_versions SET active = true WHERE rule_id = :rule_id AND version = 1"),
                {"rule_id": rule_id},
            )
