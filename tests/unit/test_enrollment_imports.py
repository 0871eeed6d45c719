"""Reading batch-import files: every unreadable row is reported with its line, the rest pass on."""

from __future__ import annotations

import csv
import io
from datetime import date
from decimal import Decimal
from pathlib import Path

import pytest

import services.enrollment.imports as imports_module
from devstack.population import IMPORT_KINDS
from services.enrollment.contributions import contribution_due
from services.enrollment.imports import (
    MAX_ROWS,
    OPTIONAL,
    REQUIRED,
    ImportFileError,
    ImportKind,
    PreparedPerson,
    Rejection,
    Row,
    prepare_baselines,
    prepare_persons,
    read_rows,
    roster_as_person_row,
)
from services.enrollment.lifecycle import WaitingPolicy
from services.enrollment.regions import parse_regions
from services.enrollment.service import IdSealer, check_character, decrypt_id_number, id_encryption_key, id_hash

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


# --- preparing person rows for the set-based write ---

TODAY = date(2026, 11, 23)
NO_WAIT = WaitingPolicy(first_or_lapsed_days=0)
SEALER = IdSealer("unit-hash-key", "unit-encryption-secret")
REGIONS_CSV = Path(__file__).resolve().parents[2] / "services" / "enrollment" / "data" / "regions.csv"
TREE = parse_regions(REGIONS_CSV.read_text(encoding="utf-8"))


def _valid(first17: str) -> str:
    return first17 + check_character(first17)


def _row(line: int, **fields: str) -> Row:
    base = {"id_number": "350582199003070024", "name": "甲", "hukou_region_code": "350582103201",
            "residence_region_code": "350582103201"}  # fmt: skip
    return Row(line, {k: v for k, v in (base | fields).items() if v})


def _prepare(*rows: Row, policy: WaitingPolicy = NO_WAIT) -> tuple[list[PreparedPerson], list[Rejection]]:
    return prepare_persons(list(rows), SEALER, TREE, today=TODAY, enrolled_on=TODAY, policy=policy)


def test_the_sealer_hashes_and_encrypts_as_the_single_record_functions_do() -> None:
    number = "350582199003070024"
    assert SEALER.hash(number) == id_hash(number, "unit-hash-key")
    sealed = SEALER.encrypt(number)
    assert sealed != SEALER.encrypt(number)  # a fresh nonce each time
    assert decrypt_id_number(sealed, id_encryption_key("unit-encryption-secret")) == number


def test_a_valid_row_is_derived_whole() -> None:
    (person,), rejected = _prepare(
        _row(2, scheme="employee", year="2026", employer_code="91350582A", contribution_base="6000.00")
    )
    assert rejected == []
    assert (person.line, person.birth_date, person.sex) == (2, date(1990, 3, 7), "F")
    assert person.id_masked == "350582********0024"
    assert person.id_hash == id_hash("350582199003070024", "unit-hash-key")
    assert b"350582199003070024" not in person.id_encrypted
    wanted = person.enrollment
    assert wanted is not None
    assert (wanted.scheme, wanted.year, wanted.region_code, wanted.refusal) == ("employee", 2026, "350582", None)
    assert wanted.due == contribution_due(scheme="employee", contribution_base=Decimal("6000.00"))
    assert wanted.cover is not None
    assert (wanted.cover.effective_from, wanted.cover.effective_to) == (date(2026, 1, 1), date(2026, 12, 31))


def test_bad_rows_are_rejected_with_the_single_routes_reasons() -> None:
    prepared, rejected = _prepare(
        _row(2, id_number="350582199003070025"),  # check digit
        _row(3, hukou_region_code="35x582"),
        _row(4, scheme="resident", year="1999"),
        _row(5, scheme="resident", assistance_category="rich"),
        _row(6, id_number=_valid("35058219900307003"), name="名" * 101),
    )
    assert prepared == []
    reasons = {r.line: r.reason for r in rejected}
    assert reasons[2] == "The resident ID is invalid (check_digit): the check digit does not match (ISO 7064 MOD 11-2)."
    assert reasons[3].startswith("hukou_region_code:")
    assert reasons[4].startswith("year:")
    assert reasons[5].startswith("assistance_category:")
    assert reasons[6].startswith("name:")


def test_rows_naming_a_region_the_tree_does_not_hold_are_rejected_with_field_and_code() -> None:
    grid, village, town, county = "350582103201001", "350582103201", "350582103", "350582"
    prepared, rejected = _prepare(
        _row(2, hukou_region_code=grid, residence_region_code=county),  # a listed grid cell; a county's 6 digits
        _row(3, id_number=_valid("35058219900307003"), hukou_region_code=town, residence_region_code="350500"),
        _row(4, id_number=_valid("35058219900307004"), hukou_region_code="350582105201"),  # 深沪镇 lists no 201
        _row(5, id_number=_valid("35058219900307005"), residence_region_code="350582103201009"),  # unlisted grid
        _row(6, id_number=_valid("35058219900307006"), hukou_region_code="350503001001"),  # deeper than the tree
        _row(7, id_number=_valid("35058219900307007"), hukou_region_code="440305", residence_region_code="440305001"),
        _row(
            8, id_number="350582199003070025", hukou_region_code="350582105201"
        ),  # both bad: the ID first, as POST /persons
        _row(9, id_number=_valid("35058219900307009"), scheme="resident", residence_region_code=village),
    )
    assert [p.line for p in prepared] == [2, 3, 9]
    assert [(p.hukou_region_code, p.residence_region_code) for p in prepared] == [
        (grid, county), (town, "350500"), (village, village),
    ]  # fmt: skip
    assert {r.line: r.reason for r in rejected} == {
        4: "hukou_region_code 350582105201 is not in the region tree (the nearest region it lies under is "
        "350582105000 深沪镇).",
        5: "residence_region_code 350582103201009 is not in the region tree (the nearest region it lies under is "
        "350582103201 岸兜村).",
        6: "hukou_region_code 350503001001 is not in the region tree (the nearest region it lies under is "
        "350503000000 丰泽区).",
        7: "hukou_region_code 440305 is not in the region tree. residence_region_code 440305001 is not in the "
        "region tree.",
        8: "The resident ID is invalid (check_digit): the check digit does not match (ISO 7064 MOD 11-2).",
    }


def test_an_enrollment_region_code_outside_the_tree_rejects_the_row_as_post_enrollments_does() -> None:
    prepared, rejected = _prepare(
        _row(2, scheme="resident", region_code="350583"),  # 南安市, listed
        _row(3, id_number=_valid("35058219900307003"), scheme="resident", region_code="350582999999"),
        _row(4, id_number=_valid("35058219900307004"), scheme="resident"),  # no region_code: the hukou's county
    )
    assert [(p.line, p.enrollment and p.enrollment.region_code) for p in prepared] == [(2, "350583"), (4, "350582")]
    assert rejected == [
        Rejection(
            3,
            "region_code 350582999999 is not in the region tree (the nearest region it lies under is "
            "350582000000 晋江市).",
        )
    ]


def test_the_second_row_of_one_id_is_a_duplicate_whatever_the_case_of_x() -> None:
    number = "11010519491231002X"
    prepared, rejected = _prepare(_row(2, id_number=number), _row(3, id_number=number.lower()), _row(4))
    assert [p.line for p in prepared] == [2, 4]
    assert rejected == [Rejection(3, "the same resident ID as line 2: one row per person a file")]


def test_terms_a_new_person_cannot_meet_are_kept_as_the_rows_refusal() -> None:
    """Refusals wait for the database look-up: a row whose person is already enrolled so is unchanged instead."""
    prepared, rejected = _prepare(
        _row(2, scheme="employee", year="2026"),
        _row(3, id_number=_valid("35058219900307003"), scheme="resident", employer_code="E1"),
        _row(4, id_number=_valid("35058219900307004"), scheme="employee", employer_code="E1", contribution_base="100"),
    )
    assert rejected == []
    refusals = [p.enrollment.refusal if p.enrollment else None for p in prepared]
    assert refusals[0] == "An employee enrollment names its employer."
    assert refusals[1] == "A resident enrollment has no employer, contribution base or retiree status."
    assert refusals[2] is not None
    assert "between" in refusals[2]


def test_waiting_period_and_newborn_cover() -> None:
    newborn = _valid("35058220261001001")
    late_payer = _valid("35058219900307003")
    prepared, _ = _prepare(
        _row(2, id_number=newborn, scheme="resident", year="2026"),
        _row(3, id_number=late_payer, scheme="resident", year="2026"),
        policy=WaitingPolicy(first_or_lapsed_days=90),
    )
    born, late = (p.enrollment for p in prepared)
    assert born is not None
    assert born.cover is not None
    assert born.cover.effective_from == date(2026, 10, 1)
    assert late is not None
    assert late.cover is None
    assert late.refusal == (
        "No cover is left in 2026: the waiting period ends on 2027-02-21, after the 2026 coverage year. Enroll for 2027."
    )


@pytest.mark.parametrize(
    "fields",
    [
        {},
        {"scheme": "resident"},
        {"scheme": "resident", "year": "2025", "region_code": "350582103201"},
        {"scheme": "employee", "employer_code": "91350582MA0001", "contribution_base": "6000"},
        {"scheme": "resident", "assistance_category": "minimum_living"},
        {"name": "名 字"},
    ],
)
def test_the_fast_check_reads_valid_rows_as_the_request_models_do(fields: dict[str, str]) -> None:
    row = _row(2, **fields)
    fast = imports_module._plainly_valid(row.fields, TODAY)
    assert fast is not None
    assert fast == imports_module._modelled(row.fields, TODAY)


@pytest.mark.parametrize(
    "fields",
    [
        {"hukou_region_code": "３５０５８２"},  # full-width digits: the models decide
        {"scheme": "other"},
        {"scheme": "resident", "year": "20x6"},
        {"scheme": "employee", "employer_code": "91-3505"},
        {"scheme": "employee", "employer_code": "E", "contribution_base": "6000.001"},
        {"scheme": "employee", "employer_code": "E", "contribution_base": "0"},
        {"name": "a\x00b"},
        {"name": "  spaced  "},  # the models strip it
    ],
)
def test_the_fast_check_leaves_every_doubtful_row_to_the_request_models(fields: dict[str, str]) -> None:
    assert imports_module._plainly_valid(_row(2, **fields).fields, TODAY) is None


def test_a_roster_row_is_an_employee_enrollment_from_its_start_date() -> None:
    row = Row(3, {"employer_code": "91350582A", "id_number": "350582199003070024", "name": "甲",
                  "hukou_region_code": "350582", "residence_region_code": "350582", "contribution_base": "6000.00",
                  "starts_on": "2026-03-01"})  # fmt: skip
    converted = roster_as_person_row(row)
    assert isinstance(converted, Row)
    (person,), rejected = _prepare(converted)
    assert rejected == []
    wanted = person.enrollment
    assert wanted is not None
    assert (wanted.scheme, wanted.year, wanted.employer_code, wanted.contribution_base) == (
        "employee", 2026, "91350582A", Decimal("6000.00"),
    )  # fmt: skip
    assert wanted.cover is not None
    assert wanted.cover.effective_from == date(2026, 3, 1)
    bad = roster_as_person_row(Row(4, row.fields | {"starts_on": "2026-02-30"}))
    assert bad == Rejection(4, "starts_on '2026-02-30' is not a date (YYYY-MM-DD)")


def test_baselines_need_a_known_region_a_whole_number_and_one_row_per_region() -> None:
    rows = [
        Row(2, {"region_code": "350582103201", "hukou_population": "3000"}),
        Row(3, {"region_code": "350582999999", "hukou_population": "10"}),
        Row(4, {"region_code": "350582103202", "hukou_population": "-1"}),
        Row(5, {"region_code": "350582103202", "hukou_population": "1.5"}),
        Row(6, {"region_code": "350582103201", "hukou_population": "3100"}),
        Row(7, {"region_code": "350582103202", "hukou_population": "0"}),
    ]
    baselines, rejected = prepare_baselines(rows, {"350582103201", "350582103202"})
    assert baselines == {"350582103201": 3000, "350582103202": 0}
    assert [(r.line, r.reason) for r in rejected] == [
        (3, "region_code 350582999999 is not in the region tree"),
        (4, "hukou_population '-1' is not a whole number of persons"),
        (5, "hukou_population '1.5' is not a whole number of persons"),
        (6, "region 350582103201 is already on line 2"),
    ]


def test_the_cli_offers_every_import_kind() -> None:
    assert set(IMPORT_KINDS) == {kind.value for kind in ImportKind}


def _dict_reader_rows(kind: ImportKind, text: str) -> tuple[list[Row], list[Rejection]]:
    """The reading before decision 0014 (csv.DictReader, every check per row): the reference for the fast path."""
    allowed = set(REQUIRED[kind]) | set(OPTIONAL[kind])
    reader = csv.DictReader(io.StringIO(text))
    rows, rejected = [], []
    for record in reader:
        line = reader.line_num
        if None in record:
            rejected.append(Rejection(line, "more cells than the header has columns"))
            continue
        unknown = sorted(set(record) - allowed)
        missing = [name for name in REQUIRED[kind] if not str(record.get(name) or "").strip()]
        if unknown:
            rejected.append(Rejection(line, f"unknown field(s): {', '.join(unknown)}"))
        elif missing:
            rejected.append(Rejection(line, f"missing: {', '.join(missing)}"))
        else:
            rows.append(Row(line, {k: v.strip() for k, v in record.items() if v is not None and v.strip()}))
    return rows, rejected


@pytest.mark.parametrize(
    "text",
    [
        HEADER + "350582199003070024,甲,350582,350582,resident\n\n350582199003070032, 乙 ,350582,350582\n",
        HEADER + '350582199003070024,"甲\n乙",350582,350582,\n,,,,\n350582199003070032,丙,350582\n',
        HEADER + "350582199003070024,甲,350582,350582,resident,extra\r\n350582199003070032,乙,350582,350582,\r\n",
        HEADER.replace("scheme", "colour") + "350582199003070024,甲,350582,350582,red\n",
        "id_number,name,hukou_region_code,residence_region_code\n" + "  ,甲,350582,350582\n" * 3,
    ],
)
def test_the_csv_fast_path_reads_as_the_dict_reader_did(text: str) -> None:
    assert read_rows(ImportKind.PERSONS, text, json_lines=False) == _dict_reader_rows(ImportKind.PERSONS, text)


def test_a_csv_header_naming_a_column_twice_refuses_the_file() -> None:
    with pytest.raises(ImportFileError, match="name more than once"):
        read_rows(ImportKind.PERSONS, "id_number,name,hukou_region_code,residence_region_code,name\n", json_lines=False)
