"""Batch import (批量导入) of persons and deaths: reading rows from CSV or JSON lines. Pure, no I/O.

Each row is then applied through the same rules as the single-record routes, in its own savepoint,
so a rejected row leaves nothing behind and a re-run of the same file changes nothing.
"""

from __future__ import annotations

import csv
import io
import json
from dataclasses import dataclass
from enum import StrEnum


class ImportKind(StrEnum):
    PERSONS = "persons"  # births, registrations and employer rosters: a person, optionally enrolled and paid
    DEATHS = "deaths"  # 死亡: terminates the enrollments and publishes person.deceased


REQUIRED: dict[ImportKind, tuple[str, ...]] = {
    ImportKind.PERSONS: ("id_number", "name", "hukou_region_code", "residence_region_code"),
    ImportKind.DEATHS: ("id_number", "died_on"),
}
OPTIONAL: dict[ImportKind, tuple[str, ...]] = {
    ImportKind.PERSONS: ("scheme", "year", "region_code", "employer_code", "contribution_base", "assistance_category"),
    ImportKind.DEATHS: (),
}
MAX_ROWS = 50_000  # one request; larger files go in several


@dataclass(frozen=True)
class Row:
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
    rows: list[Row] = []
    rejected: list[Rejection] = []
    allowed = set(REQUIRED[kind]) | set(OPTIONAL[kind])
    records = _json_lines(text, rejected) if json_lines else _csv_records(text, kind, rejected)
    for line, record in records:
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


def _csv_records(text: str, kind: ImportKind, rejected: list[Rejection]) -> list[tuple[int, dict[str, object]]]:
    reader = csv.DictReader(io.StringIO(text))
    header = reader.fieldnames or []
    absent = [name for name in REQUIRED[kind] if name not in header]
    if absent:
        raise ImportFileError(f"the CSV header lacks: {', '.join(absent)}")
    records: list[tuple[int, dict[str, object]]] = []
    for record in reader:
        if None in record:  # more cells than header columns
            rejected.append(Rejection(reader.line_num, "more cells than the header has columns"))
            continue
        records.append((reader.line_num, dict(record)))
    return records


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
