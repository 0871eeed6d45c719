"""Batch import (批量导入) of persons and deaths: reading rows from CSV or JSON lines, and preparing a chunk of
person rows for the set-based write. Pure, no I/O.

Person rows are validated and derived here (ID check, birth date, sex, keyed hash, encrypted copy, the year's
contribution and cover), then written a chunk at a time with a handful of set statements (api._import_persons).
Rows whose person is already registered and that would change something go through the single-record rules
one by one, each in its own savepoint; a rejected row leaves nothing behind and a re-run changes nothing.
"""

from __future__ import annotations

import csv
import functools
import io
import json
import re
from collections.abc import Collection
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from enum import StrEnum
from typing import Literal, NamedTuple

from pydantic import ValidationError

from services.enrollment.contributions import (
    AssistanceCategory,
    ContributionSplit,
    EnrollmentTermsRefused,
    check_enrollment_terms,
)
from services.enrollment.lifecycle import Coverage, NoCoverLeft, WaitingPolicy, coverage_on_payment
from services.enrollment.regions import RegionTree, unknown_person_regions, unknown_region_reason
from services.enrollment.schemas import EnrollmentCreate, PersonCreate
from services.enrollment.service import IdSealer, InvalidIdNumber, ResidentId, parse_id_number
from shared.events.contracts import Scheme


class ImportKind(StrEnum):
    PERSONS = "persons"  # births, registrations and employer rosters: a person, optionally enrolled and paid
    DEATHS = "deaths"  # 死亡: terminates the enrollments and publishes person.deceased
    ROSTERS = "rosters"  # 单位参保花名册: an employer's employees, each registered if new and enrolled as an employee
    BASELINES = "baselines"  # 户籍人口基数: the hukou population of a region, the coverage rate's denominator


REQUIRED: dict[ImportKind, tuple[str, ...]] = {
    ImportKind.PERSONS: ("id_number", "name", "hukou_region_code", "residence_region_code"),
    ImportKind.DEATHS: ("id_number", "died_on"),
    ImportKind.ROSTERS: (
        "employer_code",
        "id_number",
        "name",
        "hukou_region_code",
        "residence_region_code",
        "contribution_base",
        "starts_on",
    ),
    ImportKind.BASELINES: ("region_code", "hukou_population"),
}
OPTIONAL: dict[ImportKind, tuple[str, ...]] = {
    ImportKind.PERSONS: ("scheme", "year", "region_code", "employer_code", "contribution_base", "assistance_category"),
    ImportKind.DEATHS: (),
    ImportKind.ROSTERS: ("region_code",),
    ImportKind.BASELINES: (),
}
MAX_ROWS = 50_000  # one request; larger files go in several


class Row(NamedTuple):  # a tuple: a file's tens of thousands are made faster than a frozen dataclass's
    line: int  # 1-based line in the file (CSV: the header is line 1)
    fields: dict[str, str]


@dataclass(frozen=True)
class Rejection:
    line: int
    reason: str


class ImportFileError(ValueError):
    """The file as a whole cannot be read (format, header, size)."""


def read_rows(kind: ImportKind, text: str, *, json_lines: bool) -> tuple[list[Row], list[Rejection]]:
    """Rows with their line numbers, and the lines that cannot even be read as a row of this kind."""
    if not json_lines:
        return _csv_rows(kind, text)
    rows: list[Row] = []
    rejected: list[Rejection] = []
    allowed = set(REQUIRED[kind]) | set(OPTIONAL[kind])
    for line, record in _json_lines(text, rejected):
        unknown = sorted(set(record) - allowed)
        missing = [name for name in REQUIRED[kind] if not str(record.get(name) or "").strip()]
        if unknown:
            rejected.append(Rejection(line, f"unknown field(s): {', '.join(unknown)}"))
        elif missing:
            rejected.append(Rejection(line, f"missing: {', '.join(missing)}"))
        else:
            rows.append(Row(line, {k: str(v).strip() for k, v in record.items() if v is not None and str(v).strip()}))
        if len(rows) + len(rejected) > MAX_ROWS:
            raise ImportFileError(f"at most {MAX_ROWS} rows per request")
    rejected.sort(key=lambda r: r.line)
    return rows, rejected


def _csv_rows(kind: ImportKind, text: str) -> tuple[list[Row], list[Rejection]]:
    """CSV as csv.DictReader reads it (blank lines skipped, a short row's missing cells absent), but with the
    header's checks made once for the file instead of once a row."""
    reader = csv.reader(io.StringIO(text))
    header = next(reader, [])
    absent = [name for name in REQUIRED[kind] if name not in header]
    if absent:
        raise ImportFileError(f"the CSV header lacks: {', '.join(absent)}")
    twice = sorted({name for name in header if header.count(name) > 1})
    if twice:
        raise ImportFileError(f"the CSV header names {', '.join(twice)} more than once")
    unknown = sorted(set(header) - set(REQUIRED[kind]) - set(OPTIONAL[kind]))
    every_row_refused = f"unknown field(s): {', '.join(unknown)}" if unknown else None
    required, columns = REQUIRED[kind], len(header)
    rows: list[Row] = []
    rejected: list[Rejection] = []
    for cells in reader:
        if not cells:
            continue  # a blank line
        line = reader.line_num
        if len(cells) > columns:
            rejected.append(Rejection(line, "more cells than the header has columns"))
        elif every_row_refused is not None:
            rejected.append(Rejection(line, every_row_refused))
        else:
            fields = {name: value for name, cell in zip(header, cells, strict=False) if (value := cell.strip())}
            missing = [name for name in required if name not in fields]
            if missing:
                rejected.append(Rejection(line, f"missing: {', '.join(missing)}"))
            else:
                rows.append(Row(line, fields))
        if len(rows) + len(rejected) > MAX_ROWS:
            raise ImportFileError(f"at most {MAX_ROWS} rows per request")
    return rows, rejected


def _json_lines(text: str, rejected: list[Rejection]) -> list[tuple[int, dict[str, object]]]:
    records: list[tuple[int, dict[str, object]]] = []
    for line, raw in enumerate(text.splitlines(), start=1):
        if not raw.strip():
            continue
        try:
            value = json.loads(raw)
        except json.JSONDecodeError as exc:
            rejected.append(Rejection(line, f"not JSON: {exc.msg}"))
            continue
        if not isinstance(value, dict) or any(isinstance(v, (dict, list, float)) for v in value.values()):
            rejected.append(Rejection(line, "each line is one flat JSON object (strings, integers, booleans)"))
            continue
        records.append((line, value))
    return records


# --- preparing person rows (births, registrations) for the set-based write ---

Sex = Literal["M", "F"]
PERSON_FIELDS = ("id_number", "name", "hukou_region_code", "residence_region_code")


class PreparedEnrollment(NamedTuple):  # tuples: made once a row, faster than frozen dataclasses
    """The row's enrollment as it would be for a newly registered person: paid in full at once, so active."""

    scheme: Scheme
    year: int
    region_code: str
    employer_code: str | None
    contribution_base: Decimal | None
    assistance_category: str | None
    due: ContributionSplit | None  # None when refused
    cover: Coverage | None  # None when refused
    refusal: str | None  # why a new person could not be enrolled so (the row is then rejected whole)


class PreparedPerson(NamedTuple):
    line: int
    fields: dict[str, str]  # the raw row, for the one-by-one path
    id_hash: str
    id_masked: str
    id_encrypted: bytes
    name: str
    birth_date: date
    sex: Sex
    hukou_region_code: str
    residence_region_code: str
    enrollment: PreparedEnrollment | None


def validation_reason(bad: Exception) -> str:
    if isinstance(bad, ValidationError):
        return "; ".join(f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in bad.errors())
    return str(bad)


def invalid_id_reason(bad: InvalidIdNumber) -> str:
    """The same words as the single-record route's 422 detail."""
    return f"The resident ID is invalid ({bad.part}): {bad}."


def parse_person_row(fields: dict[str, str], *, today: date) -> tuple[PersonCreate, EnrollmentCreate | None]:
    """The row as the single-record routes' request bodies; ValidationError or ValueError when it is not one."""
    body = PersonCreate.model_validate({k: fields[k] for k in PERSON_FIELDS if k in fields})
    if "scheme" not in fields:
        return body, None
    enrollment = EnrollmentCreate.model_validate(
        {
            "scheme": fields["scheme"],
            "year": int(fields.get("year") or today.year),
            "region_code": fields.get("region_code") or body.hukou_region_code[:6],
            "employer_code": fields.get("employer_code"),
            "contribution_base": fields.get("contribution_base"),
            "assistance_category": fields.get("assistance_category"),
            "starts_on": fields.get("starts_on"),
            "contribution": {},
        }
    )
    return body, enrollment


class _Wanted(NamedTuple):
    """A row's enrollment fields once valid (what EnrollmentCreate would hold)."""

    scheme: Scheme
    year: int
    region_code: str
    employer_code: str | None
    contribution_base: Decimal | None
    assistance_category: str | None
    starts_on: date | None = None  # a roster's start date; 1 January otherwise


_PERSON_REGION = re.compile(r"[0-9]{6,15}")
_ENROLLMENT_REGION = re.compile(r"[0-9]{6,12}")
_EMPLOYER = re.compile(r"[A-Za-z0-9]{1,32}")
_MONEY = re.compile(r"[0-9]{1,12}(\.[0-9]{1,2})?")
_CATEGORIES = frozenset(c.value for c in AssistanceCategory)
_SCHEMES = frozenset({"employee", "resident"})


def _plainly_valid(fields: dict[str, str], today: date) -> tuple[str, str, str, str, _Wanted | None] | None:
    """The row's values when they are valid beyond doubt under the request models' rules, else None (the row then
    goes through the models themselves, which also word the reason). About ten times cheaper than the models."""
    id_number, name = fields["id_number"], fields["name"]
    hukou, residence = fields["hukou_region_code"], fields["residence_region_code"]
    if (
        len(id_number) > 32
        or len(name) > 100
        or "\x00" in id_number
        or "\x00" in name
        or name != name.strip()  # the models strip; leave such rows to them
        or id_number != id_number.strip()
        or not _PERSON_REGION.fullmatch(hukou)
        or not _PERSON_REGION.fullmatch(residence)
    ):
        return None
    scheme = fields.get("scheme")
    if scheme is None:
        return id_number, name, hukou, residence, None
    if "starts_on" in fields:
        return None  # rosters: the models read the date
    year_text, region = fields.get("year"), fields.get("region_code") or hukou[:6]
    employer, base, category = (
        fields.get("employer_code"),
        fields.get("contribution_base"),
        fields.get("assistance_category"),
    )
    if (
        scheme not in _SCHEMES
        or (
            year_text is not None
            and not (year_text.isascii() and year_text.isdigit() and 2000 <= int(year_text) <= 2100)
        )
        or not _ENROLLMENT_REGION.fullmatch(region)
        or (employer is not None and not _EMPLOYER.fullmatch(employer))
        or (base is not None and not (_MONEY.fullmatch(base) and Decimal(base) > 0))
        or (category is not None and category not in _CATEGORIES)
    ):
        return None
    wanted = _Wanted(
        scheme="employee" if scheme == "employee" else "resident",  # one of the two (checked above)
        year=int(year_text) if year_text is not None else today.year,
        region_code=region,
        employer_code=employer,
        contribution_base=Decimal(base) if base is not None else None,
        assistance_category=category,
    )
    return id_number, name, hukou, residence, wanted


def _modelled(fields: dict[str, str], today: date) -> tuple[str, str, str, str, _Wanted | None]:
    """Through the request models: ValidationError or ValueError with the reason when the row is not valid."""
    body, enrollment = parse_person_row(fields, today=today)
    wanted = (
        None
        if enrollment is None
        else _Wanted(
            scheme=enrollment.scheme,
            year=enrollment.year,
            region_code=enrollment.region_code,
            employer_code=enrollment.employer_code,
            contribution_base=enrollment.contribution_base,
            assistance_category=enrollment.assistance_category.value if enrollment.assistance_category else None,
            starts_on=enrollment.starts_on,
        )
    )
    return body.id_number, body.name, body.hukou_region_code, body.residence_region_code, wanted


@functools.lru_cache(maxsize=4096)
def _terms(
    scheme: str, employer_code: str | None, contribution_base: Decimal | None, assistance_category: str | None
) -> ContributionSplit:
    """check_enrollment_terms, memoised: a roster repeats a few hundred (scheme, base, category) combinations."""
    return check_enrollment_terms(
        scheme=scheme,
        employer_code=employer_code,
        contribution_base=contribution_base,
        retiree=False,
        assistance_category=assistance_category,
    )


def _new_person_enrollment(
    wanted: _Wanted, birth_date: date, *, today: date, enrolled_on: date, policy: WaitingPolicy
) -> PreparedEnrollment:
    """A new person has no earlier enrollment: not continuous, cover from 1 January (or birth, or after waiting)."""
    due: ContributionSplit | None = None
    cover: Coverage | None = None
    refusal: str | None = None
    try:
        due = _terms(wanted.scheme, wanted.employer_code, wanted.contribution_base, wanted.assistance_category)
        cover = coverage_on_payment(
            year=wanted.year,
            paid_on=today,
            birth_date=birth_date,
            enrolled_on=enrolled_on,
            continuous=False,
            policy=policy,
            starts_on=wanted.starts_on,
        )
        if wanted.starts_on is not None and wanted.starts_on.year != wanted.year:
            refusal = f"starts_on must lie within {wanted.year}."
    except EnrollmentTermsRefused as bad:
        refusal = str(bad)
    except NoCoverLeft as late:
        refusal = f"No cover is left in {wanted.year}: {late}. Enroll for {wanted.year + 1}."
    if refusal is not None:
        due = cover = None
    return PreparedEnrollment(
        scheme=wanted.scheme,
        year=wanted.year,
        region_code=wanted.region_code,
        employer_code=wanted.employer_code,
        contribution_base=wanted.contribution_base,
        assistance_category=wanted.assistance_category,
        due=due,
        cover=cover,
        refusal=refusal,
    )


def prepare_persons(
    rows: list[Row], sealer: IdSealer, regions: RegionTree, *, today: date, enrolled_on: date, policy: WaitingPolicy
) -> tuple[list[PreparedPerson], list[Rejection]]:
    """Validate and derive every row; the second and later rows of one resident ID are rejected as duplicates.

    The hukou and residence codes must name nodes of the region tree (a dict look-up each), as the single-record
    route requires, checked after the ID, as there.

    `today` is the business date (payment day, ID birth-date check), `enrolled_on` the UTC date of the write.
    """
    accepted: list[tuple[Row, ResidentId, str, str, str, str, _Wanted | None]] = []
    rejected: list[Rejection] = []
    first_line: dict[str, int] = {}
    for row in rows:
        values = _plainly_valid(row.fields, today)
        if values is None:
            try:
                values = _modelled(row.fields, today)
            except (ValidationError, ValueError) as bad:
                rejected.append(Rejection(row.line, validation_reason(bad)))
                continue
        id_number, name, hukou, residence, wanted = values
        try:
            resident = parse_id_number(id_number, today=today)
        except InvalidIdNumber as bad:
            rejected.append(Rejection(row.line, invalid_id_reason(bad)))
            continue
        if not (regions.names(hukou) and regions.names(residence)):
            unknown = unknown_person_regions(regions, hukou, residence)
            rejected.append(Rejection(row.line, " ".join(reason for _, reason in unknown)))
            continue
        if wanted is not None and not regions.names(wanted.region_code):
            # the enrollment's own region_code, when the row gives one, by the single-record route's rule
            rejected.append(
                Rejection(row.line, unknown_region_reason(regions, "region_code", wanted.region_code) or "")
            )
            continue
        hashed = sealer.hash(resident.number)
        earlier = first_line.setdefault(hashed, row.line)
        if earlier != row.line:
            rejected.append(Rejection(row.line, f"the same resident ID as line {earlier}: one row per person a file"))
            continue
        accepted.append((row, resident, hashed, name, hukou, residence, wanted))
    sealed = sealer.encrypt_many([resident.number for _, resident, *_ in accepted])  # one OS call for the nonces
    prepared = [
        PreparedPerson(
            line=row.line,
            fields=row.fields,
            id_hash=hashed,
            id_masked=resident.masked,
            id_encrypted=encrypted,
            name=name,
            birth_date=resident.birth_date,
            sex="M" if resident.sex == "M" else "F",
            hukou_region_code=hukou,
            residence_region_code=residence,
            enrollment=None
            if wanted is None
            else _new_person_enrollment(
                wanted, resident.birth_date, today=today, enrolled_on=enrolled_on, policy=policy
            ),
        )
        for (row, resident, hashed, name, hukou, residence, wanted), encrypted in zip(accepted, sealed, strict=True)
    ]
    return prepared, rejected


def roster_as_person_row(row: Row) -> Row | Rejection:
    """A roster row (单位参保花名册) as a person row: registered if new, enrolled as the employer's employee for the
    year of its start date, from that date, on its monthly contribution base, and paid."""
    fields = row.fields
    try:
        starts_on = date.fromisoformat(fields["starts_on"])
    except ValueError:
        return Rejection(row.line, f"starts_on {fields['starts_on']!r} is not a date (YYYY-MM-DD)")
    person = {k: fields[k] for k in PERSON_FIELDS}
    enrollment = {
        "scheme": "employee",
        "year": str(starts_on.year),
        "employer_code": fields["employer_code"],
        "contribution_base": fields["contribution_base"],
        "starts_on": starts_on.isoformat(),
    }
    if "region_code" in fields:
        enrollment["region_code"] = fields["region_code"]
    return Row(row.line, person | enrollment)


# --- hukou population baselines (户籍人口基数) ---

MAX_POPULATION = 2_000_000_000  # the column is an integer; no region comes near


def prepare_baselines(rows: list[Row], known_regions: Collection[str]) -> tuple[dict[str, int], list[Rejection]]:
    """region code → hukou population, for the regions of the tree; one row per region a file."""
    baselines: dict[str, int] = {}
    first_line: dict[str, int] = {}
    rejected: list[Rejection] = []
    for row in rows:
        code, figure = row.fields["region_code"], row.fields["hukou_population"]
        if code not in known_regions:
            rejected.append(Rejection(row.line, f"region_code {code} is not in the region tree"))
        elif not (figure.isascii() and figure.isdigit() and int(figure) <= MAX_POPULATION):
            rejected.append(Rejection(row.line, f"hukou_population {figure!r} is not a whole number of persons"))
        elif code in first_line:
            rejected.append(Rejection(row.line, f"region {code} is already on line {first_line[code]}"))
        else:
            first_line[code] = row.line
            baselines[code] = int(figure)
    return baselines, rejected
