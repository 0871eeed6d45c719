"""Reading batch-import files: every unreadable row is reported with its line, the rest pass on."""

from __future__ import annotations

import pytest

from services.enrollment.imports import MAX_ROWS, ImportFileError, ImportKind, read_rows

HEADER = "id_number,name,hukou_region_code,residence_region_code,scheme\n"


def test_csv_rows_carry_their_line_numbers() -> None:
    text = HEADER + "350582199003070024,甲,350582,350582,resident\n350582199003070032,乙,350582,350582,\n"
    rows, rejected = read_rows(ImportKind.PERSONS, text, json_lines=False)
    assert rejected == []
    assert [r.line for r in rows] == [2, 3]
    assert rows[0].fields["scheme"] == "resident"
    assert "scheme" not in rows[1].fields  # an empty cell is an absent field


def test_csv_rows_missing_a_value_or_with_extra_cells_are_rejected() -> None:
    text = HEADER + ",甲,350582,350582,\n350582199003070024,乙,350582,350582,resident,extra\n"
    rows, rejected = read_rows(ImportKind.PERSONS, text, json_lines=False)
    assert rows == []
    assert [(r.line, r.reason.split(":")[0]) for r in rejected] == [
        (2, "missing"),
        (3, "more cells than the header has columns"),
    ]


def test_a_csv_header_without_required_columns_refuses_the_file() -> None:
    with pytest.raises(ImportFileError, match="died_on"):
        read_rows(ImportKind.DEATHS, "id_number\n350582199003070024\n", json_lines=False)


def test_json_lines() -> None:
    text = (
        '{"id_number": "350582199003070024", "died_on": "2026-01-02"}\n'
        "\n"
        "not json\n"
        '{"id_number": "350582199003070024"}\n'
        '{"id_number": "350582199003070024", "died_on": "2026-01-02", "cause": "x"}\n'
        '["a list"]\n'
        '{"id_number": "350582199003070024", "died_on": 1.5}\n'
    )
    rows, rejected = read_rows(ImportKind.DEATHS, text, json_lines=True)
    assert [r.line for r in rows] == [1]
    assert [r.line for r in rejected] == [3, 4, 5, 6, 7]
    assert rejected[1].reason == "missing: died_on"
    assert "unknown field(s): cause" in rejected[2].reason


def test_too_many_rows_refuses_the_file() -> None:
    text = HEADER + "350582199003070024,甲,350582,350582,\n" * (MAX_ROWS + 1)
    with pytest.raises(ImportFileError, match="at most"):
        read_rows(ImportKind.PERSONS, text, json_lines=False)
