"""Catalogue (医保目录) CSV parser: pure, text in, items out; bad rows are refused with row number and reason."""

from __future__ import annotations

import csv
import io
import re
from dataclasses import dataclass
from datetime import date
from decimal import Decimal, InvalidOperation
from pathlib import Path

from services.settlement.service import CatalogueItem, ItemClass

COLUMNS = (
    "code",
    "name",
    "category",
    "class",
    "preselfpay_ratio",
    "limit_price",
    "sex",
    "min_age",
    "max_age",
    "min_institution_level",
    "max_qty_per_day",
    "max_qty_per_stay",
    "valid_from",
    "valid_to",
    "region",
)
CATEGORIES = ("西药", "中成药", "诊疗项目", "医用耗材")
CLASSES: dict[str, ItemClass] = {"A": "A", "甲": "A", "B": "B", "乙": "B", "C": "C", "丙": "C"}
DEMO_CATALOGUE = Path(__file__).parent / "data" / "catalogue.csv"
# What catalogue_items can store and GET /catalogue/items/{code} can read back: a row past these would only
# fail in PostgreSQL (VARCHAR(50) and (200), NUMERIC(14,2), no NUL in text), a 500 instead of the row named.
CODE = re.compile(r"[A-Za-z0-9]{1,50}")
NAME_MAX_LENGTH = 200
LIMIT_PRICE_MAX = Decimal("999999999999.99")


@dataclass(frozen=True)
class RowError:
    row: int  # line number in the file, the header being line 1
    reason: str


class CatalogueError(ValueError):
    """The catalogue file has bad rows; all of them are listed, none is loaded."""

    def __init__(self, errors: list[RowError]) -> None:
        self.errors = errors
        super().__init__("; ".join(f"row {e.row}: {e.reason}" for e in errors))


def _decimal(value: str, field: str) -> Decimal:
    try:
        d = Decimal(value)
    except InvalidOperation:
        raise ValueError(f"{field} {value!r} is not a number") from None
    if not d.is_finite():
        raise ValueError(f"{field} {value!r} is not a number")
    return d


def _opt_int(value: str, field: str, *, low: int, high: int) -> int | None:
    if value == "":
        return None
    try:
        n = int(value)
    except ValueError:
        raise ValueError(f"{field} {value!r} is not a whole number") from None
    if not low <= n <= high:
        raise ValueError(f"{field} {n} is outside {low}..{high}")
    return n


def _opt_date(value: str, field: str) -> date | None:
    if value == "":
        return None
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise ValueError(f"{field} {value!r} is not a date YYYY-MM-DD") from None


def _item(row: dict[str, str]) -> CatalogueItem:
    code = row["code"]
    if not code:
        raise ValueError("code is empty")
    if not CODE.fullmatch(code):
        raise ValueError(f"code {code!r} is not 1-50 letters and digits")
    if not row["name"]:
        raise ValueError("name is empty")
    if "\x00" in row["name"]:
        raise ValueError("name contains the NUL character")
    if len(row["name"]) > NAME_MAX_LENGTH:
        raise ValueError(f"name is longer than {NAME_MAX_LENGTH} characters")
    if row["category"] not in CATEGORIES:
        raise ValueError(f"category {row['category']!r} is not one of {', '.join(CATEGORIES)}")
    if row["class"] not in CLASSES:
        raise ValueError(f"class {row['class']!r} is not A/B/C (甲/乙/丙)")
    item_class = CLASSES[row["class"]]
    ratio = _decimal(row["preselfpay_ratio"] or "0", "preselfpay_ratio")
    if not Decimal("0") <= ratio < Decimal("1"):
        raise ValueError(f"preselfpay_ratio {ratio} is outside [0, 1)")
    if ratio and item_class != "B":
        raise ValueError(f"preselfpay_ratio {ratio} on a class {item_class} item (先行自付 is for 乙类 only)")
    limit = _decimal(row["limit_price"], "limit_price") if row["limit_price"] else None
    if limit is not None and (limit <= 0 or limit.as_tuple().exponent < -2):  # type: ignore[operator]
        raise ValueError(f"limit_price {limit} must be positive with at most two decimals")
    if limit is not None and limit > LIMIT_PRICE_MAX:
        raise ValueError(f"limit_price {limit} is above {LIMIT_PRICE_MAX}")
    sex = row["sex"] or None
    if sex not in (None, "M", "F"):
        raise ValueError(f"sex {sex!r} is not M, F or empty")
    min_age = _opt_int(row["min_age"], "min_age", low=0, high=150)
    max_age = _opt_int(row["max_age"], "max_age", low=0, high=150)
    if min_age is not None and max_age is not None and min_age > max_age:
        raise ValueError(f"min_age {min_age} > max_age {max_age}")
    level = _opt_int(row["min_institution_level"], "min_institution_level", low=1, high=3)
    per_day = _opt_int(row["max_qty_per_day"], "max_qty_per_day", low=1, high=100_000)
    per_stay = _opt_int(row["max_qty_per_stay"], "max_qty_per_stay", low=1, high=1_000_000)
    valid_from = _opt_date(row["valid_from"], "valid_from")
    valid_to = _opt_date(row["valid_to"], "valid_to")
    if valid_from is not None and valid_to is not None and valid_from > valid_to:
        raise ValueError(f"valid_from {valid_from} is after valid_to {valid_to}")
    region = row["region"]
    if region and not (len(region) == 6 and region.isdigit()):
        raise ValueError(f"region {region!r} is not a 6-digit 区划代码")
    return CatalogueItem(
        code=code,
        name=row["name"],
        item_class=item_class,
        preselfpay_ratio=ratio,
        limit_price=limit,
        category=row["category"],
        sex=sex,  # type: ignore[arg-type]
        min_age=min_age,
        max_age=max_age,
        min_institution_level=level,
        max_qty_per_day=per_day,
        max_qty_per_stay=per_stay,
        valid_from=valid_from,
        valid_to=valid_to,
        region=region,
    )


def load_catalogue(text: str) -> list[CatalogueItem]:
    """Parse a catalogue CSV (header = COLUMNS). Raises CatalogueError listing every bad row."""
    reader = csv.reader(io.StringIO(text))
    header = next(reader, None)
    if header is None:
        raise CatalogueError([RowError(1, "empty file, expected a header")])
    header = [h.strip() for h in header]
    if tuple(header) != COLUMNS:
        raise CatalogueError([RowError(1, f"header must be {','.join(COLUMNS)}")])
    items: list[CatalogueItem] = []
    errors: list[RowError] = []
    # One version per region, code and day it starts (the table's unique key): the same code may
    # start the same day in two regions' catalogues (就医地目录, each with its own 限价) and nationally.
    seen: dict[tuple[str, str, date | None], int] = {}
    for row_no, cells in enumerate(reader, start=2):
        if not cells or all(not c.strip() for c in cells):
            continue
        if len(cells) != len(COLUMNS):
            errors.append(RowError(row_no, f"{len(cells)} fields, expected {len(COLUMNS)}"))
            continue
        try:
            item = _item(dict(zip(COLUMNS, (c.strip() for c in cells), strict=True)))
        except ValueError as exc:
            errors.append(RowError(row_no, str(exc)))
            continue
        key = (item.region, item.code, item.valid_from)
        if key in seen:
            where = f" in region {item.region}" if item.region else ""
            errors.append(
                RowError(row_no, f"code {item.code}{where} valid from {item.valid_from} repeats row {seen[key]}")
            )
            continue
        seen[key] = row_no
        items.append(item)
    if errors:
        raise CatalogueError(errors)
    return items


def catalogue_on(items: list[CatalogueItem], on: date, region: str) -> dict[str, CatalogueItem]:
    """The items valid on a date in a region (national items and the region's own), by code.

    Where a code has several versions valid on the date, the one valid from the latest date wins, and
    of two from the same date the region's own (就医地目录) wins over the national one.
    """
    chosen: dict[str, CatalogueItem] = {}

    def rank(item: CatalogueItem) -> tuple[date, bool]:
        return item.valid_from or date.min, bool(item.region)

    for item in items:
        if item.region and item.region != region:
            continue
        if (item.valid_from is not None and on < item.valid_from) or (item.valid_to is not None and on > item.valid_to):
            continue
        current = chosen.get(item.code)
        if current is None or rank(item) > rank(current):
            chosen[item.code] = item
    return chosen
