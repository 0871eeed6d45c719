"""Enrollment business rules: pure functions, no I/O."""

from __future__ import annotations

import hashlib
import hmac
from dataclasses import dataclass
from datetime import date

# GB 11643-1999: weights and check characters of the ISO 7064 MOD 11-2 check digit.
_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
_CHECK_CHARS = "10X98765432"
# 省级行政区划代码: the first two digits of every valid region code.
_PROVINCE_CODES = frozenset(
    {
        "11", "12", "13", "14", "15", "21", "22", "23", "31", "32", "33", "34", "35", "36", "37",
        "41", "42", "43", "44", "45", "46", "50", "51", "52", "53", "54", "61", "62", "63", "64",
        "65", "71", "81", "82",
    }
)  # fmt: skip


class InvalidIdNumber(ValueError):
    def __init__(self, part: str, message: str) -> None:
        super().__init__(message)
        self.part = part


@dataclass(frozen=True)
class ResidentId:
    """A validated 18-character 公民身份号码."""

    number: str
    region_code: str
    birth_date: date
    sex: str  # "M" | "F", from the parity of the sequence code

    @property
    def masked(self) -> str:
        return mask_id_number(self.number)


def check_character(first17: str) -> str:
    total = sum(int(d) * w for d, w in zip(first17, _WEIGHTS, strict=True))
    return _CHECK_CHARS[total % 11]


def parse_id_number(raw: str, *, today: date | None = None) -> ResidentId:
    """Validate format, region, birth date and check digit; say which part is wrong."""
    number = raw.strip().upper()
    if len(number) != 18:
        raise InvalidIdNumber("length", f"a resident ID has 18 characters, this one has {len(number)}")
    if not number[:17].isdigit() or not (number[17].isdigit() or number[17] == "X"):
        raise InvalidIdNumber("format", "the first 17 characters must be digits and the last a digit or X")
    region = number[:6]
    if region[:2] not in _PROVINCE_CODES or region[2:] == "0000":
        raise InvalidIdNumber("region", f"{region} is not a county-level region code")
    try:
        birth = date(int(number[6:10]), int(number[10:12]), int(number[12:14]))
    except ValueError as exc:
        raise InvalidIdNumber("birth_date", f"{number[6:14]} is not a real date") from exc
    if birth.year < 1900 or birth > (today or date.today()):
        raise InvalidIdNumber("birth_date", f"birth date {birth.isoformat()} is out of range")
    expected = check_character(number[:17])
    if number[17] != expected:
        raise InvalidIdNumber("check_digit", "the check digit does not match (ISO 7064 MOD 11-2)")
    sex = "M" if int(number[16]) % 2 == 1 else "F"
    return ResidentId(number=number, region_code=region, birth_date=birth, sex=sex)


def mask_id_number(number: str) -> str:
    """350582********123X: region code and last four only."""
    return number[:6] + "*" * 8 + number[-4:]


def id_hash(number: str, key: str) -> str:
    """Keyed hash for look-up; without the key the ID cannot be recovered or confirmed."""
    return hmac.new(key.encode(), number.encode(), hashlib.sha256).hexdigest()


def format_person_no(sequence: int) -> str:
    return f"P{sequence:011d}"


def coverage_year_bounds(year: int) -> tuple[date, date]:
    """A basic-insurance enrollment year covers 1 January to 31 December."""
    return date(year, 1, 1), date(year, 12, 31)
