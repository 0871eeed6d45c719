"""Resident ID numbers (GB 11643-1999): format, region, birth date, check digit, masking, hashing."""

from __future__ import annotations

from datetime import date

import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from services.enrollment.service import (
    PROVINCE_CODES,
    IdBirthDateError,
    IdCheckDigitError,
    IdDecryptionError,
    IdFormatError,
    IdLengthError,
    IdRegionError,
    InvalidIdNumber,
    ResidentId,
    check_character,
    coverage_year_bounds,
    decrypt_id_number,
    encrypt_id_number,
    format_person_no,
    id_encryption_key,
    id_hash,
    mask_id_number,
    parse_id_number,
)
from shared.business_time import business_today

TODAY = date(2025, 6, 15)
# 省级行政区划代码, written out independently of the service's table.
PROVINCES = [
    *map(str, range(11, 16)), *map(str, range(21, 24)), *map(str, range(31, 38)),
    *map(str, range(41, 47)), *map(str, range(50, 55)), *map(str, range(61, 66)),
]  # fmt: skip
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
    lambda province, city, county: province + city + county,
    st.sampled_from(PROVINCES),
    # City part 00-99, county part 01-99: a county-level code (县级) never ends in 00.
    st.integers(min_value=0, max_value=99).map(lambda n: f"{n:02d}"),
    st.integers(min_value=1, max_value=99).map(lambda n: f"{n:02d}"),
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


# Replacement characters: mostly the ID alphabet, sometimes anything (other scripts' digits, "²", spaces, "x").
replacements = st.one_of(st.sampled_from(CHECK_ALPHABET), st.characters(codec="utf-8"))


@settings(max_examples=500, deadline=None)
@given(valid_ids, st.integers(min_value=0, max_value=17), replacements)
def test_any_single_character_change_is_rejected(number: str, position: int, replacement: str) -> None:
    # MOD 11-2 detects every single substitution (11 is prime and no weight is 0 mod 11), so there is no
    # exception to allow for. The only "change" that is accepted is X written as lowercase x, by design.
    assume(replacement != number[position])
    assume(not (position == 17 and number[17] == "X" and replacement == "x"))
    changed = number[:position] + replacement + number[position + 1 :]
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
        parse_id_number(make_id("350582", date(business_today().year + 1, 1, 1), 1))
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


# --- each error names the part that is wrong ------------------------------------------------------------------

NON_PROVINCES = sorted({f"{n:02d}" for n in range(100)} - set(PROVINCES))


def yyyymmdd(day: date) -> str:
    return f"{day.year:04d}{day.month:02d}{day.day:02d}"  # strftime's %Y does not pad years before 1000


def with_check(first17: str) -> str:
    return first17 + reference_check(first17)


def test_province_table_is_exactly_the_mainland_provinces() -> None:
    assert set(PROVINCES) == PROVINCE_CODES
    assert len(PROVINCE_CODES) == 34 - 3  # 34 provincial divisions minus 台湾 71, 香港 81, 澳门 82


@settings(max_examples=200, deadline=None)
@given(valid_ids, st.sampled_from(NON_PROVINCES))
def test_unknown_province_is_a_region_error(number: str, province: str) -> None:
    with pytest.raises(IdRegionError) as info:
        parse_id_number(with_check(province + number[2:17]), today=TODAY)
    assert info.value.part == "region"


@settings(max_examples=100, deadline=None)
@given(valid_ids)
def test_city_level_code_is_a_region_error(number: str) -> None:
    with pytest.raises(IdRegionError):
        parse_id_number(with_check(number[:4] + "00" + number[6:17]), today=TODAY)


@pytest.mark.parametrize("region", ["710101", "810101", "820101", "160101", "350500", "350000"])
def test_region_examples(region: str) -> None:
    with pytest.raises(IdRegionError):
        parse_id_number(with_check(f"{region}19900101123"), today=TODAY)


@settings(max_examples=200, deadline=None)
@given(
    valid_ids,
    st.one_of(
        # Not a calendar date: month 00 or 13-99, day 00 or 32-99, or 30 February.
        st.builds(lambda y, m: f"{y:04d}{m:02d}01", st.integers(1900, 2024), st.sampled_from([0, *range(13, 100)])),
        st.builds(lambda y, d: f"{y:04d}01{d:02d}", st.integers(1900, 2024), st.sampled_from([0, *range(32, 100)])),
        st.integers(1900, 2024).map(lambda y: f"{y:04d}0230"),
        # Real dates out of range: before 1900 or after today.
        st.dates(max_value=date(1899, 12, 31)).map(yyyymmdd),
        st.dates(min_value=date(2025, 6, 16), max_value=date(9999, 12, 31)).map(yyyymmdd),
    ),
)
def test_bad_birth_date_is_a_birth_date_error(number: str, birth: str) -> None:
    with pytest.raises(IdBirthDateError) as info:
        parse_id_number(with_check(number[:6] + birth + number[14:17]), today=TODAY)
    assert info.value.part == "birth_date"


@settings(max_examples=200, deadline=None)
@given(valid_ids, st.sampled_from(CHECK_ALPHABET))
def test_wrong_check_character_is_a_check_digit_error(number: str, check: str) -> None:
    assume(check != number[17])
    with pytest.raises(IdCheckDigitError) as info:
        parse_id_number(number[:17] + check, today=TODAY)
    assert info.value.part == "check_digit"


@settings(max_examples=200, deadline=None)
@given(valid_ids, st.integers(0, 16), st.characters(codec="utf-8").filter(lambda c: c not in "0123456789"))
def test_non_digit_is_a_format_error(number: str, position: int, char: str) -> None:
    assume(not char.isspace() or position > 0)  # a leading space is stripped: that is a length error
    with pytest.raises(IdFormatError) as info:
        parse_id_number(number[:position] + char + number[position + 1 :], today=TODAY)
    assert info.value.part == "format"


@pytest.mark.parametrize("digit", ["١", "²", "０", "৩"])  # Arabic-Indic, superscript, fullwidth, Bengali
def test_non_ascii_digits_are_a_format_error(digit: str) -> None:
    number = make_id("350582", date(1990, 1, 1), 123)
    with pytest.raises(IdFormatError):
        parse_id_number(digit + number[1:], today=TODAY)


@settings(max_examples=200, deadline=None)
@given(valid_ids, st.integers(0, 40).filter(lambda n: n != 18))
def test_other_lengths_are_a_length_error(number: str, length: int) -> None:
    raw = (number * 3)[:length]
    with pytest.raises(IdLengthError) as info:
        parse_id_number(raw, today=TODAY)
    assert info.value.part == "length"


@settings(max_examples=100, deadline=None)
@given(valid_ids)
def test_lowercase_x_is_normalised(number: str) -> None:
    lower = number[:17] + number[17].lower()
    assert parse_id_number(lower, today=TODAY).number == number


def test_every_error_is_an_invalid_id_number_and_a_value_error() -> None:
    for error in (IdLengthError, IdFormatError, IdRegionError, IdBirthDateError, IdCheckDigitError):
        assert issubclass(error, InvalidIdNumber)
        assert issubclass(error, ValueError)
    parts = {e.part for e in (IdLengthError, IdFormatError, IdRegionError, IdBirthDateError, IdCheckDigitError)}
    assert parts == {"length", "format", "region", "birth_date", "check_digit"}


async def test_the_422_problem_names_the_wrong_part() -> None:
    from services.enrollment.api import register_person
    from services.enrollment.schemas import PersonCreate
    from shared.auth import Principal, Role
    from shared.errors import Unprocessable

    number = make_id("350582", date(1990, 3, 7), 2)
    wrong = number[:17] + ("0" if number[17] != "0" else "1")
    body = PersonCreate(id_number=wrong, name="错号", hukou_region_code="350582", residence_region_code="350582")
    with pytest.raises(Unprocessable) as info:
        # Validation fails before the request, response or session are touched.
        await register_person(body, None, None, None, Principal(subject="ops", role=Role.OPS))  # type: ignore[arg-type]
    problem = info.value
    assert problem.status == 422
    assert problem.kind == "invalid-id-number"
    assert problem.extra == {"part": "check_digit"}
    assert problem.errors is not None
    assert problem.errors[0].field == "id_number"
    assert problem.errors[0].message.startswith("check_digit:")
    assert number not in problem.detail


# --- encrypted copy (身份证号密文) -----------------------------------------------------------------------------

KEY = id_encryption_key("unit-test-id-encryption-key")


@settings(max_examples=100, deadline=None)
@given(valid_ids)
def test_encryption_round_trips(number: str) -> None:
    assert decrypt_id_number(encrypt_id_number(number, KEY), KEY) == number


@settings(max_examples=100, deadline=None)
@given(valid_ids)
def test_ciphertext_never_contains_the_id(number: str) -> None:
    blob = encrypt_id_number(number, KEY)
    for encoded in (number.encode(), number.encode("utf-16-le"), number[6:14].encode()):
        assert encoded not in blob
    assert number not in blob.hex()
    assert number not in blob.decode("latin-1")


@settings(max_examples=50, deadline=None)
@given(valid_ids)
def test_two_encryptions_differ(number: str) -> None:
    first, second = encrypt_id_number(number, KEY), encrypt_id_number(number, KEY)
    assert first != second
    assert first[1:13] != second[1:13]  # fresh random nonce


@settings(max_examples=200, deadline=None)
@given(valid_ids, st.data())
def test_tampering_fails(number: str, data: st.DataObject) -> None:
    blob = bytearray(encrypt_id_number(number, KEY))
    position = data.draw(st.integers(0, len(blob) - 1))
    flip = data.draw(st.integers(1, 255))
    blob[position] ^= flip
    with pytest.raises(IdDecryptionError):
        decrypt_id_number(bytes(blob), KEY)


@settings(max_examples=50, deadline=None)
@given(valid_ids, st.integers(0, 40))
def test_truncation_fails(number: str, cut: int) -> None:
    blob = encrypt_id_number(number, KEY)
    with pytest.raises(IdDecryptionError):
        decrypt_id_number(blob[: max(0, len(blob) - 1 - cut)], KEY)


def test_wrong_key_fails() -> None:
    blob = encrypt_id_number("11010519491231002X", KEY)
    with pytest.raises(IdDecryptionError):
        decrypt_id_number(blob, id_encryption_key("another-key"))


def test_key_derivation() -> None:
    assert len(KEY) == 32
    assert id_encryption_key("a") == id_encryption_key("a") != id_encryption_key("b")
    with pytest.raises(ValueError, match="empty"):
        id_encryption_key("")


# --- settings ---------------------------------------------------------------------------------------------------


def test_production_refuses_the_development_encryption_key(monkeypatch: pytest.MonkeyPatch) -> None:
    from services.enrollment.settings import DEVELOPMENT_ID_ENCRYPTION_KEY, Settings
    from shared.settings import InsecureSettingsError

    assert Settings().id_encryption_key == DEVELOPMENT_ID_ENCRYPTION_KEY
    monkeypatch.setenv("YIBAO_ENV", "production")
    monkeypatch.setenv("YIBAO_JWT_SECRET", "p" * 40)
    with pytest.raises(InsecureSettingsError, match="ENROLLMENT_ID_HASH_KEY"):
        Settings()
    monkeypatch.setenv("ENROLLMENT_ID_HASH_KEY", "development-id-hash-key")
    with pytest.raises(InsecureSettingsError, match="ENROLLMENT_ID_HASH_KEY"):
        Settings()
    monkeypatch.setenv("ENROLLMENT_ID_HASH_KEY", "h" * 32)
    with pytest.raises(InsecureSettingsError, match="ENROLLMENT_ID_ENCRYPTION_KEY"):
        Settings()
    monkeypatch.setenv("ENROLLMENT_ID_ENCRYPTION_KEY", DEVELOPMENT_ID_ENCRYPTION_KEY)
    with pytest.raises(InsecureSettingsError):
        Settings()
    monkeypatch.setenv("ENROLLMENT_ID_ENCRYPTION_KEY", "short")
    with pytest.raises(InsecureSettingsError, match="at least 32"):
        Settings()
    monkeypatch.setenv("ENROLLMENT_ID_ENCRYPTION_KEY", "k" * 32)
    assert Settings().id_encryption_key == "k" * 32


# --- storage ----------------------------------------------------------------------------------------------------


def test_the_encrypted_copy_has_a_column_and_a_migration() -> None:
    from pathlib import Path

    from alembic.config import Config
    from alembic.script import ScriptDirectory

    from services.enrollment.models import Person

    column = Person.__table__.c.id_number_encrypted
    assert column.nullable  # persons registered before 0002 have no copy
    ini = Path(__file__).resolve().parents[2] / "services" / "enrollment" / "alembic.ini"
    scripts = ScriptDirectory.from_config(Config(str(ini)))
    assert len(scripts.get_heads()) == 1  # one linear history, 0002 on it
    chain = [rev.revision for rev in scripts.walk_revisions()]
    assert "0002" in chain
    assert scripts.get_revision("0002").down_revision == "0001"
