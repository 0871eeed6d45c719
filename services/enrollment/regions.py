"""Region tree 市 › 县 › 镇 › 村 › 网格 and coverage roll-up arithmetic. Pure: the CSV text comes in, no file I/O.

Codes follow 统计用区划代码: 12 digits, the level read from the trailing zeros (city 3505|00000000,
county 350582|000000, town 350582101|000, village 350582101201); a grid cell (网格) appends 3 digits to its
village. A person's hukou code lies under a node when it starts with the node's significant prefix.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from decimal import ROUND_HALF_UP, Decimal
from enum import StrEnum


class Level(StrEnum):
    CITY = "city"  # 市
    COUNTY = "county"  # 县/区/县级市
    TOWN = "town"  # 镇/街道
    VILLAGE = "village"  # 村/社区
    GRID = "grid"  # 网格


PREFIX_LENGTH: dict[Level, int] = {Level.CITY: 4, Level.COUNTY: 6, Level.TOWN: 9, Level.VILLAGE: 12, Level.GRID: 15}
CHILD_LEVEL: dict[Level, Level | None] = {
    Level.CITY: Level.COUNTY,
    Level.COUNTY: Level.TOWN,
    Level.TOWN: Level.VILLAGE,
    Level.VILLAGE: Level.GRID,
    Level.GRID: None,
}


class RegionFileError(ValueError):
    pass


@dataclass
class Region:
    code: str
    name: str
    level: Level
    parent_code: str | None
    own_baseline: int | None  # 户籍人口 given in the file; None: the sum of the children
    children: list[Region] = field(default_factory=list)

    @property
    def prefix(self) -> str:
        return self.code[: PREFIX_LENGTH[self.level]]

    @property
    def hukou_baseline(self) -> int:
        return self.baseline({})

    def baseline(self, imported: Mapping[str, int]) -> int:
        """户籍人口基数: an imported figure (batch import of baselines) first, then the region file's, else the sum
        of the children's (each by the same rule), so a village's new figure also moves its town and county."""
        if self.code in imported:
            return imported[self.code]
        if self.own_baseline is not None:
            return self.own_baseline
        return sum(child.baseline(imported) for child in self.children)


@dataclass(frozen=True)
class RegionTree:
    by_code: Mapping[str, Region]
    person_codes: Mapping[str, Region] = field(init=False, repr=False)  # every way a person's code may name a node

    def __post_init__(self) -> None:
        object.__setattr__(self, "person_codes", person_code_forms(self.by_code.values()))

    def get(self, code: str) -> Region | None:
        return self.by_code.get(code)

    def names(self, code: str) -> bool:
        """Whether a person's region code (hukou, residence) names a node of the tree: one dict look-up."""
        return code in self.person_codes

    def nearest_listed(self, code: str) -> Region | None:
        """The deepest node the code lies under (for a rejection's wording only)."""
        for length in (12, 9, 6):
            node = self.person_codes.get(code[:length]) if len(code) > length else None
            if node is not None:
                return node
        return None


# A person's code is a node's full code (12 digits; 15 for a grid cell) or that code cut to 6 or 9 digits where
# only zeros are cut (GB/T 2260's six-digit county or city code 350582, a town's nine digits 350582103). Any other
# code is refused, and so is a code deeper than the tree: a grid cell the file does not list, or a village of a
# county whose towns it does not list. The tree is the registry of places: coverage drills down it, and a code it
# does not know is a typo or a place to add to data/regions.csv first.
SHORT_FORMS = (6, 9)


def person_code_forms(regions: Iterable[Region]) -> dict[str, Region]:
    forms: dict[str, Region] = {}
    for region in regions:
        forms[region.code] = region
        for length in SHORT_FORMS:
            if region.code[length:] == "0" * (len(region.code) - length):
                forms.setdefault(region.code[:length], region)
    return forms


def unknown_region_reason(tree: RegionTree, field_name: str, code: str) -> str | None:
    """None when the code names a node of the tree; otherwise why not, in the words of both the single-record
    route's 422 and the batch import's rejection."""
    if tree.names(code):
        return None
    nearest = tree.nearest_listed(code)
    hint = "" if nearest is None else f" (the nearest region it lies under is {nearest.code} {nearest.name})"
    return f"{field_name} {code} is not in the region tree{hint}."


def unknown_person_regions(tree: RegionTree, hukou: str | None, residence: str | None) -> list[tuple[str, str]]:
    """(field, reason) for each of a person's region codes the tree does not name; None: not given (a PATCH)."""
    unknown: list[tuple[str, str]] = []
    for field_name, code in (("hukou_region_code", hukou), ("residence_region_code", residence)):
        reason = None if code is None else unknown_region_reason(tree, field_name, code)
        if reason is not None:
            unknown.append((field_name, reason))
    return unknown


def parse_regions(text: str) -> RegionTree:
    """Read `code,name,level,parent_code,hukou_population` rows; every parent must come before its children."""
    by_code: dict[str, Region] = {}
    for line_no, row in enumerate(csv.DictReader(io.StringIO(text)), start=2):
        try:
            level = Level(row["level"])
            code = row["code"].strip()
            parent_code = row["parent_code"].strip() or None
            baseline = int(row["hukou_population"]) if row["hukou_population"].strip() else None
        except (KeyError, ValueError) as exc:
            raise RegionFileError(f"line {line_no}: {exc}") from exc
        if not code.isdigit() or len(code) != (15 if level is Level.GRID else 12):
            raise RegionFileError(f"line {line_no}: {code!r} is not a {level.value} code")
        if code in by_code:
            raise RegionFileError(f"line {line_no}: {code} appears twice")
        region = Region(code, row["name"].strip(), level, parent_code, baseline)
        if parent_code is not None:
            parent = by_code.get(parent_code)
            if parent is None:
                raise RegionFileError(f"line {line_no}: parent {parent_code} is not listed before {code}")
            if CHILD_LEVEL[parent.level] is not level or not code.startswith(parent.prefix):
                raise RegionFileError(f"line {line_no}: {code} ({level.value}) cannot sit under {parent_code}")
            parent.children.append(region)
        elif level is not Level.CITY:
            raise RegionFileError(f"line {line_no}: only a city has no parent")
        by_code[code] = region
    return RegionTree(by_code)


RATE_PLACES = Decimal("0.0001")


def coverage_rate(insured: int, baseline: int) -> Decimal | None:
    """户籍人口参保率 as a fraction to four places (0.9657), None without a baseline."""
    if baseline <= 0:
        return None
    return (Decimal(insured) / Decimal(baseline)).quantize(RATE_PLACES, rounding=ROUND_HALF_UP)


@dataclass(frozen=True)
class CoverageLine:
    region: Region
    insured_by_scheme: dict[str, int]

    @property
    def insured(self) -> int:
        return sum(self.insured_by_scheme.values())


def roll_up(node: Region, counts: Mapping[tuple[str, str], int]) -> tuple[CoverageLine, list[CoverageLine]]:
    """Coverage for the node and each child from insured counts keyed by (child-length hukou prefix, scheme).

    Persons registered only to the node's own level (a prefix matching no child) count for the node alone.
    """
    node_totals: dict[str, int] = {}
    for (_prefix, scheme), n in counts.items():
        node_totals[scheme] = node_totals.get(scheme, 0) + n
    lines = []
    for child in node.children:
        by_scheme = {scheme: n for (prefix, scheme), n in counts.items() if prefix == child.prefix}
        lines.append(CoverageLine(child, by_scheme))
    return CoverageLine(node, node_totals), lines
