"""The import's contributions as COPY text lines (decision 0014): every field in its column's
input syntax, strings escaped, NULL as \\N, one line a row."""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime, timedelta, timezone
from decimal import Decimal

from services.enrollment.repository import NewContribution, contribution_copy_lines
from shared.db import copy_text_value

NOW = datetime(2026, 11, 24, 3, 4, 5, 600, tzinfo=UTC)


def _unescape(field: str) -> str | None:
    """PostgreSQL's reading of a COPY text field (the escapes copy_text_value writes)."""
    if field == "\\N":
        return None
    out, chars = [], iter(field)
    for c in chars:
        out.append({"\\": "\\", "t": "\t", "n": "\n", "r": "\r"}[next(chars)] if c == "\\" else c)
    return "".join(out)


def test_strings_with_separators_survive_and_none_is_null() -> None:
    for value in ["plain", "a\tb", "line\nbreak", "cr\r", "back\\slash", "\\N", "混合\t\\n", ""]:
        written = copy_text_value(value)
        assert "\t" not in written
        assert "\n" not in written
        assert _unescape(written) == value
    assert copy_text_value(None) == "\\N"


def test_contribution_lines_write_amounts_as_plain_decimals() -> None:
    east = timezone(timedelta(hours=8))
    row = NewContribution(uuid.uuid4(), uuid.uuid4(), "P00000000001", 2026, Decimal("380.00"), Decimal("0.00"),
                          Decimal("670.5"), Decimal("0"), date(2026, 11, 24), NOW.astimezone(east))  # fmt: skip
    (line,) = contribution_copy_lines([row])
    fields = line[:-1].split("\t")
    assert fields[2:4] == ["P00000000001", "2026"]
    assert [Decimal(f) for f in fields[4:8]] == [Decimal("380.00"), Decimal("0"), Decimal("670.5"), Decimal("0")]
    assert fields[6] == "670.5"  # as the Decimal writes itself; numeric(14,2) stores 670.50
    assert fields[8:] == ["2026-11-24", "2026-11-24T11:04:05.000600+08:00"]
    assert fields[:2] == [str(row.id), str(row.enrollment_id)]
