"""Catalogue rows that could only fail in the database are refused by the parser, naming the row: the
whole file is refused (422 catalogue-invalid) instead of a 500 from PostgreSQL."""

from __future__ import annotations

from pathlib import Path

import pytest

from services.settlement.catalogue import CatalogueError, load_catalogue

DEMO = (Path(__file__).parents[2] / "services/settlement/data/catalogue.csv").read_text(encoding="utf-8").splitlines()
HEADER, GOOD = DEMO[0], DEMO[1]  # XJ01CA0010201,阿莫西林胶囊 0.25g,西药,A,,68.00,...


def _row(**cells: str) -> str:
    values = dict(zip(HEADER.split(","), GOOD.split(","), strict=True)) | cells
    return ",".join(values.values())


def test_the_demo_row_loads() -> None:
    assert [item.code for item in load_catalogue(f"{HEADER}\n{GOOD}\n")] == ["XJ01CA0010201"]


@pytest.mark.parametrize(
    ("cells", "reason"),
    [
        ({"name": "阿莫\x00西林"}, "NUL"),  # PostgreSQL text cannot hold it
        ({"code": "XJ01\x00CA"}, "code"),
        ({"code": "X" * 51}, "code"),  # catalogue_items.code is VARCHAR(50)
        ({"code": "阿莫西林"}, "code"),  # GET /catalogue/items/{code} could never read it back
        ({"code": "XJ01 CA"}, "code"),
        ({"name": "药" * 201}, "name"),  # VARCHAR(200)
        ({"limit_price": "1000000000000.00"}, "limit_price"),  # NUMERIC(14,2) holds less than 10^12
    ],
)
def test_a_row_the_database_cannot_store_is_refused(cells: dict[str, str], reason: str) -> None:
    with pytest.raises(CatalogueError) as refused:
        load_catalogue(f"{HEADER}\n{_row(**cells)}\n")
    [error] = refused.value.errors
    assert error.row == 2
    assert reason in error.reason
