"""就医地目录: one code may start the same day in several regions' catalogues (each with its own 限价)
and in the national one; the table's unique key is (code, region, valid_from), and the loader used
to refuse such a file as "repeats row"."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest

from services.settlement.catalogue import COLUMNS, CatalogueError, catalogue_on, load_catalogue

FZ, QZ, XM = "350100", "350500", "350200"


def csv_text(*rows: str) -> str:
    return "\n".join((",".join(COLUMNS), *rows)) + "\n"


def test_a_code_may_start_the_same_day_in_two_regions_and_nationally() -> None:
    items = load_catalogue(
        csv_text(
            "X1,全国,西药,A,,10.00,,,,,,,2026-01-01,,",
            "X1,泉州限价,西药,A,,9.00,,,,,,,2026-01-01,,350500",
            "X1,福州限价,西药,A,,8.00,,,,,,,2026-01-01,,350100",
        )
    )
    assert len(items) == 3
    day = date(2026, 3, 1)
    assert catalogue_on(items, day, QZ)["X1"].limit_price == Decimal("9.00")
    assert catalogue_on(items, day, FZ)["X1"].limit_price == Decimal("8.00")
    assert catalogue_on(items, day, XM)["X1"].limit_price == Decimal("10.00")
    # Whatever the order of the rows, the region's own version wins over the national one.
    assert catalogue_on(list(reversed(items)), day, QZ)["X1"].limit_price == Decimal("9.00")


def test_the_same_code_region_and_day_twice_is_still_refused() -> None:
    with pytest.raises(CatalogueError) as err:
        load_catalogue(
            csv_text("X1,泉州,西药,A,,9.00,,,,,,,2026-01-01,,350500", "X1,泉州,西药,A,,7.00,,,,,,,2026-01-01,,350500")
        )
    assert [e.row for e in err.value.errors] == [3]
    assert "repeats row 2" in err.value.errors[0].reason
