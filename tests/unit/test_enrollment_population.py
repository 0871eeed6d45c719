"""The synthetic population: valid unique IDs, known regions, coverage near the seeds' 96%."""

from __future__ import annotations

import io
from collections import Counter
from datetime import date
from decimal import Decimal

from devstack.population import COLUMNS, REGIONS_CSV, generate, leaf_regions, write_csv
from services.enrollment.contributions import AssistanceCategory
from services.enrollment.imports import ImportKind, read_rows
from services.enrollment.service import parse_id_number

TODAY = date(2026, 11, 23)
ROWS = list(generate(5000, seed=7, today=TODAY))


def test_reproducible_for_a_seed() -> None:
    assert list(generate(50, seed=7, today=TODAY)) == ROWS[:50]
    assert list(generate(50, seed=8, today=TODAY)) != ROWS[:50]


def test_every_id_is_valid_and_unique() -> None:
    numbers = [r["id_number"] for r in ROWS]
    assert len(set(numbers)) == len(numbers)
    for number in numbers:
        parse_id_number(number, today=TODAY)


def test_hukou_codes_are_leaves_of_the_region_tree() -> None:
    leaves = {code for code, _ in leaf_regions(REGIONS_CSV.read_text(encoding="utf-8"))}
    assert {r["hukou_region_code"] for r in ROWS} <= leaves
    assert len({r["hukou_region_code"] for r in ROWS}) > 50  # spread over the county, not one village


def test_coverage_schemes_and_assistance_are_realistic() -> None:
    schemes = Counter(r["scheme"] or "none" for r in ROWS)
    coverage = 1 - schemes["none"] / len(ROWS)
    assert 0.95 <= coverage <= 0.97
    assert 0.15 < schemes["employee"] / len(ROWS) < 0.40
    for row in ROWS:
        if row["scheme"] == "employee":
            assert row["employer_code"]
            assert Decimal(4000) <= Decimal(row["contribution_base"]) <= Decimal(20000)
            assert TODAY.year - int(row["id_number"][6:10]) >= 17
    categories = Counter(r["assistance_category"] for r in ROWS if r["assistance_category"])
    assert set(categories) <= {c.value for c in AssistanceCategory}
    assert 0.02 < sum(categories.values()) / len(ROWS) < 0.07


def test_the_csv_is_what_the_import_reads() -> None:
    out = io.StringIO()
    write_csv(iter(ROWS[:200]), out)
    assert out.getvalue().splitlines()[0] == ",".join(COLUMNS)
    rows, rejected = read_rows(ImportKind.PERSONS, out.getvalue(), json_lines=False)
    assert rejected == []
    assert len(rows) == 200
