"""Resident ID numbers (GB 11643-1999): format, region, birth date, check digit, masking, hashing."""

from __future__ import annotations

from datetime import date

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from services.enrollment.service import (
    InvalidIdNumber,
    ResidentId,
    check_character,
    coverage_year_bounds,
    format_person_no,
    id_hash,
    mask_id_number,
    parse_id_number,
)

TODAY = date(2025, 6, 15)
PROVINCES = ["11", "12", "13", "31", "32", "33", "35", "44", "50", "65", "71", "81", "82"]
CHECK_ALPHABET = "0123456789X"


def reference_check(first17: str) -> str:
    """ISO 7064 MOD 11-2 written out independently: weight 2^(17-i) mod 11, check = (12 - sum mod 11) mod 11."""
    total = sum(int(digit) * pow(2, 17 - i, 11) for i, digit in enumerate(first17))
    value = (12 - total % 11) % 11
    return "X" if value == 10 else str(value)


def make_id(region: str, birth: date, sequence: int) -> str:
    first17 = f"{region}{birth:%Y%m%d}{sequence:03d}"
    return first17 + reference_check(first17)


def id_with_check_x(region: str = "350582", birth: date = date(1990, 1, 1)) -> str:
    for sequence in range(1000):
        number = make_id(region, birth, sequence)
        if number.endswith("X"):
            return number
    raise AssertionError("no sequence gives check character X")  # pragma: no cover


regions = st.builds(
    lambda province, rest: province + rest,
    st.sampled_from(PROVINCES),
    st.integers(min_value=1, max_value=9999).map(lambda n: f"{n:04d}"),
)
births = st.dates(min_value=date(1900, 1, 1), max_value=TODAY)
sequences = st.integers(min_value=0, max_value=999)
valid_ids = st.builds(make_id, regions, births, sequences)


def test_check_character_of_the_standards_published_example() -> None:
    # The example printed in GB 11643-1999 and countless references.
    assert check_character("11010519491231002") == "X"
    parsed = parse_id_number("11010519491231002X", today=TODAY)
    assert parsed == ResidentId(
        number="11010519491231002X", region_code="110105", birth_date=date(1949, 12, 31), sex="F"
    )


@settings(max_examples=200, deadline=None)
@given(st.text(alphabet="0123456789", min_size=17, max_size=17))
def test_check_character_matches_the_standard(first17: str) -> None:
    assert check_character(first17) == reference_check(first17)


@pytest.mark.parametrize(
    ("first17", "check"),
    [
        ("11010519491231002", "X"),  # the examples printed in GB 11643-1999
        ("44052418800101001", "4"),
    ],
)
def test_known_check_characters(first17: str, check: str) -> None:
    assert check_character(first17) == check


def test_every_check_character_is_reachable() -> None:
    seen = {check_character(f"35058219900101{n:03d}") for n in range(1000)}
    assert seen == set(CHECK_ALPHABET)


@settings(max_examples=150, deadline=None)
@given(regions, births, sequences)
def test_valid_ids_are_accepted_with_birth_date_and_sex(region: str, birth: date, sequence: int) -> None:
    number = make_id(region, birth, sequence)
    parsed = parse_id_number(number, today=TODAY)
    assert parsed.number == number
    assert parsed.region_code == region
    assert parsed.birth_date == birth
    assert parsed.sex == ("M" if sequence % 2 == 1 else "F")
    assert parsed.masked == mask_id_number(number)


@settings(max_examples=150, deadline=None)
@given(valid_ids, st.integers(min_value=0, max_value=17), st.sampled_from(CHECK_ALPHABET))
def test_any_single_character_change_is_rejected(number: str, position: int, replacement: str) -> None:
    if number[position] == replacement:
        replacement = CHECK_ALPHABET[(CHECK_ALPHABET.index(replacement) + 1) % len(CHECK_ALPHABET)]
    changed = number[:position] + replacement + number[position + 1 :]
    assert changed != number
    # Depending on the position the region, the date, the format or the check digit fails.
    with pytest.raises(InvalidIdNumber):
        parse_id_number(changed, today=TODAY)


@settings(max_examples=100, deadline=None)
@given(valid_ids)
def test_check_digit_alone_detects_a_changed_digit(number: str) -> None:
    # Change the sequence code (positions 14-16): region and date stay valid, so only the check digit can catch it.
    for position in (14, 15, 16):
        for digit in "0123456789":
            if digit == number[position]:
                continue
            changed = number[:position] + digit + number[position + 1 :]
            with pytest.raises(InvalidIdNumber) as info:
                parse_id_number(changed, today=TODAY)
            assert info.value.part == "check_digit"


@pytest.mark.parametrize("raw", ["", "35058219900101123", "3505821990010112345", "35058219900101123X0"])
def test_wrong_length(raw: str) -> None:
    with pytest.raises(InvalidIdNumber) as info:
        parse_id_number(raw, today=TODAY)
    assert info.value.part == "length"


@pytest.mark.parametrize(
    "raw", ["35058219900101A234", "3505821990010112-4", "35058219900101123Y", "X50582199001011234"]
)
def test_wrong_format(raw: str) -> None:
    with pytest.raises(InvalidIdNumber) as info:
        parse_id_number(raw, today=TODAY)
    assert info.value.part == "format"


@pytest.mark.parametrize("region", ["990000", "991234", "000101", "350000", "110000"])
def test_bad_region(region: str) -> None:
    first17 = f"{region}19900101123"
    with pytest.raises(InvalidIdNumber) as info:
        parse_id_number(first17 + check_character(first17), today=TODAY)
    assert info.value.part == "region"


@pytest.mark.parametrize("birth", ["19900230", "19900001", "19901301", "19900100", "19000229", "20230229"])
def test_impossible_birth_date(birth: str) -> None:
    first17 = f"350582{birth}123"
    with pytest.raises(InvalidIdNumber) as info:
        parse_id_number(first17 + check_character(first17), today=TODAY)
    assert info.value.part == "birth_date"


def test_leap_day_birth_is_accepted() -> None:
    assert parse_id_number(make_id("350582", date(2000, 2, 29), 123), today=TODAY).birth_date == date(2000, 2, 29)


@pytest.mark.parametrize("birth", [date(2025, 6, 16), date(2030, 1, 1), date(1899, 12, 31)])
def test_birth_date_out_of_range(birth: date) -> None:
    with pytest.raises(InvalidIdNumber) as info:
        parse_id_number(make_id("350582", birth, 123), today=TODAY)
    assert info.value.part == "birth_date"


def test_born_today_is_accepted() -> None:
    assert parse_id_number(make_id("350582", TODAY, 1), today=TODAY).birth_date == TODAY


def test_birth_date_is_checked_against_the_real_today_by_default() -> None:
    with pytest.raises(InvalidIdNumber) as info:
        parse_id_number(make_id("350582", date(date.today().year + 1, 1, 1), 1))
    assert info.value.part == "birth_date"


def test_wrong_check_digit() -> None:
    number = make_id("350582", date(1990, 1, 1), 123)
    wrong = "0" if number[-1] != "0" else "1"
    with pytest.raises(InvalidIdNumber) as info:
        parse_id_number(number[:17] + wrong, today=TODAY)
    assert info.value.part == "check_digit"


def test_lowercase_x_and_surrounding_spaces_are_accepted() -> None:
    number = id_with_check_x()
    parsed = parse_id_number(f"  {number[:17]}x ", today=TODAY)
    assert parsed.number == number


def test_sex_from_the_seventeenth_digit() -> None:
    assert parse_id_number(make_id("350582", date(1990, 1, 1), 121), today=TODAY).sex == "M"
    assert parse_id_number(make_id("350582", date(1990, 1, 1), 120), today=TODAY).sex == "F"


def test_mask_keeps_the_region_and_the_last_four() -> None:
    assert mask_id_number("35058219900101123X") == "350582********123X"
    masked = mask_id_number("11010519491231002X")
    assert len(masked) == 18
    assert "19491231" not in masked


def test_id_hash_depends_on_the_key_and_the_number() -> None:
    number = "11010519491231002X"
    assert id_hash(number, "key-a") == id_hash(number, "key-a")
    assert id_hash(number, "key-a") != id_hash(number, "key-b")
    assert id_hash(number, "key-a") != id_hash(make_id("350582", date(1990, 1, 1), 1), "key-a")
    digest = id_hash(number, "key-a")
    assert len(digest) == 64
    assert number not in digest


def test_person_number_format() -> None:
    assert format_person_no(42) == "P00000000042"
    assert len(format_person_no(1)) == 12


def test_coverage_year_is_the_calendar_year() -> None:
    assert coverage_year_bounds(2024) == (date(2024, 1, 1), date(2024, 12, 31))
