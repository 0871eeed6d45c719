"""The region tree file and the coverage roll-up arithmetic."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import pytest

from services.enrollment.regions import (
    Level,
    RegionFileError,
    coverage_rate,
    parse_regions,
    roll_up,
    unknown_person_regions,
    unknown_region_reason,
)

REGIONS_CSV = Path(__file__).resolve().parents[2] / "services" / "enrollment" / "data" / "regions.csv"
TREE = parse_regions(REGIONS_CSV.read_text(encoding="utf-8"))


def test_the_file_holds_quanzhou_and_jinjiangs_nineteen_towns() -> None:
    city = TREE.get("350500000000")
    assert city is not None
    assert city.level is Level.CITY
    assert {c.name for c in city.children} >= {"晋江市", "石狮市", "南安市", "鲤城区", "安溪县"}
    jinjiang = TREE.get("350582000000")
    assert jinjiang is not None
    assert len(jinjiang.children) == 19
    assert all(town.level is Level.TOWN and len(town.children) >= 2 for town in jinjiang.children)
    grids = [r for r in TREE.by_code.values() if r.level is Level.GRID]
    assert grids
    assert all(g.code.startswith(TREE.by_code[g.parent_code or ""].code) for g in grids)


def test_baselines_roll_up_where_a_node_gives_none() -> None:
    jinjiang = TREE.get("350582000000")
    assert jinjiang is not None
    assert jinjiang.own_baseline is None
    assert jinjiang.hukou_baseline == sum(t.hukou_baseline for t in jinjiang.children) > 1_000_000
    village = TREE.get("350582103201")  # 陈埭镇 岸兜村
    assert village is not None
    assert village.hukou_baseline == sum(g.hukou_baseline for g in village.children)


def test_prefixes_by_level() -> None:
    assert [TREE.by_code[c].prefix for c in ("350500000000", "350582000000", "350582103000", "350582103201")] == [
        "3505", "350582", "350582103", "350582103201",
    ]  # fmt: skip
    assert TREE.by_code["350582103201001"].prefix == "350582103201001"


def test_roll_up_counts_the_node_and_each_child() -> None:
    town = TREE.get("350582103000")
    assert town is not None
    counts = {
        ("350582103201", "resident"): 5,
        ("350582103201", "employee"): 2,
        ("350582103202", "resident"): 1,
        ("350582103", "employee"): 4,  # registered to the town only: counts for the town, no child
    }
    node, children = roll_up(town, counts)
    assert node.insured == 12
    assert node.insured_by_scheme == {"resident": 6, "employee": 6}
    by_code = {c.region.code: c for c in children}
    assert by_code["350582103201"].insured == 7
    assert by_code["350582103202"].insured_by_scheme == {"resident": 1}
    assert by_code["350582103203"].insured == 0


def test_rate_is_four_places_half_up_and_none_without_baseline() -> None:
    assert coverage_rate(96565, 100000) == Decimal("0.9657")
    assert coverage_rate(1, 3) == Decimal("0.3333")
    assert coverage_rate(5, 0) is None


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("code,name,level,parent_code,hukou_population\n350582000000,晋江,county,350500000000,1\n", "not listed before"),
        ("code,name,level,parent_code,hukou_population\n3505,泉州,city,,\n", "not a city code"),
        ("code,name,level,parent_code,hukou_population\n350500000000,泉州,town,,\n", "only a city"),
        ("code,name,level,parent_code,hukou_population\n350500000000,泉州,city,,\n350600000000,漳州,county,350500000000,1\n",
         "cannot sit under"),
        ("code,name,level,parent_code,hukou_population\n350500000000,泉州,city,,x\n", "line 2"),
    ],
)  # fmt: skip
def test_a_bad_region_file_is_refused_with_its_line(text: str, message: str) -> None:
    with pytest.raises(RegionFileError, match=message):
        parse_regions(text)


def test_an_imported_baseline_replaces_the_files_figure_and_moves_the_sums_above_it() -> None:
    tree = parse_regions(
        "code,name,level,parent_code,hukou_population\n"
        "350500000000,泉州市,city,,\n"
        "350582000000,晋江市,county,350500000000,\n"
        "350582103000,陈埭镇,town,350582000000,\n"
        "350582103201,岸兜村,village,350582103000,100\n"
        "350582103202,江头村,village,350582103000,200\n"
    )
    city, town = tree.by_code["350500000000"], tree.by_code["350582103000"]
    assert (city.baseline({}), city.hukou_baseline) == (300, 300)
    assert town.baseline({"350582103201": 150}) == 350
    assert city.baseline({"350582103201": 150, "350582000000": 1000}) == 1000  # the county's own figure wins


@pytest.mark.parametrize(
    ("code", "named"),
    [
        ("350500000000", "350500000000"),  # 泉州市, full code
        ("350500", "350500000000"),  # its GB/T 2260 six digits
        ("350582000000", "350582000000"),  # 晋江市
        ("350582", "350582000000"),
        ("350582103000", "350582103000"),  # 陈埭镇
        ("350582103", "350582103000"),  # a town's nine digits
        ("350582103201", "350582103201"),  # 岸兜村
        ("350582103201001", "350582103201001"),  # its first grid cell
        ("350582103201009", None),  # a grid cell the file does not list
        ("350582105201", None),  # a village 深沪镇 does not list
        ("350503001001", None),  # deeper than the tree: 丰泽区 lists no towns
        ("350503001", None),
        ("3505821", None),  # no level has 7, 8, 10, 11, 13 or 14 digits
        ("35058210", None),
        ("3505821030", None),
        ("35058210320", None),
        ("3505821032010", None),
        ("35058210320100", None),
        ("440305", None),  # outside the city
        ("350582103201000", None),  # a village code padded to 15 is no grid cell
    ],
)
def test_which_person_region_codes_name_a_node(code: str, named: str | None) -> None:
    assert TREE.names(code) is (named is not None)
    node = TREE.person_codes.get(code)
    assert (node.code if node else None) == named


def test_an_unknown_code_is_explained_by_the_nearest_node_it_lies_under() -> None:
    assert unknown_region_reason(TREE, "hukou_region_code", "350582103") is None
    assert unknown_region_reason(TREE, "hukou_region_code", "350582103201009") == (
        "hukou_region_code 350582103201009 is not in the region tree (the nearest region it lies under is "
        "350582103201 岸兜村)."
    )
    assert unknown_region_reason(TREE, "residence_region_code", "110105") == (
        "residence_region_code 110105 is not in the region tree."
    )
    assert unknown_person_regions(TREE, "350582", None) == []
    assert [field for field, _ in unknown_person_regions(TREE, "110105", "110105")] == [
        "hukou_region_code",
        "residence_region_code",
    ]
