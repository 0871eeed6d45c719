"""The coverage bench's pure parts: where its persons live, which nodes it times, how it compares the schema."""

from bench.coverage import ENROLLMENT, _comparable, drill_path, own_shares
from services.enrollment.regions import Level, parse_regions

TREE = parse_regions((ENROLLMENT / "data" / "regions.csv").read_text(encoding="utf-8"))


def test_own_shares_spread_the_city_baseline_over_the_codes_that_hold_persons() -> None:
    shares = dict(own_shares(TREE))
    city = TREE.by_code["350500000000"]
    assert sum(shares.values()) == city.hukou_baseline
    assert city.code not in shares  # the city's baseline is its counties' sum: nobody registered to it alone
    town = TREE.by_code["350582001000"]  # 青阳街道 95,000, of whom its two listed villages hold 5,487
    assert shares[town.code] == town.hukou_baseline - sum(v.hukou_baseline for v in town.children)
    grid = TREE.by_code["350582001001001"]
    assert shares[grid.code] == grid.hukou_baseline
    assert "350582001001" not in shares  # a village is the sum of its grid cells
    assert all(n > 0 for n in shares.values())


def test_the_drill_path_runs_from_the_city_down_a_branch_to_a_village() -> None:
    path = drill_path(TREE)
    assert [r.level for r in path.values()] == [Level.CITY, Level.COUNTY, Level.TOWN, Level.VILLAGE]
    _city, county, town, village = path.values()
    assert county.code == "350582000000"
    assert town.parent_code == county.code
    assert village.parent_code == town.code
    assert town.hukou_baseline == max(t.hukou_baseline for t in county.children)


def test_a_partial_index_reads_the_same_however_postgresql_placed_its_casts() -> None:
    created = (
        "index", "ux", "enrollments",
        "CREATE UNIQUE INDEX ux ON public.enrollments USING btree (person_no, year) WHERE ((status)::text = ANY "
        "((ARRAY['pending'::character varying, 'active'::character varying])::text[]))", "",
    )  # fmt: skip
    rebuilt = (
        "index", "ux", "enrollments",
        "CREATE UNIQUE INDEX ux ON public.enrollments USING btree (person_no, year) WHERE ((status)::text = ANY "
        "(ARRAY[('pending'::character varying)::text, ('active'::character varying)::text]))", "",
    )  # fmt: skip
    assert _comparable(created) == _comparable(rebuilt)
    other = (*rebuilt[:3], rebuilt[3].replace("year", "scheme"), "")
    assert _comparable(created) != _comparable(other)
