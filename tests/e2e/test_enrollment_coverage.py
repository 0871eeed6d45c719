"""Coverage roll-up 市 › 县 › 镇 › 村 › 网格 on the real database, and the outreach list of the uninsured."""

from __future__ import annotations

import random
from typing import Any

import httpx

from devstack.demo import resident_id
from shared.auth import Role
from shared.business_time import business_today
from tests.e2e.conftest import HOSPITAL, OPS, bearer, enrollment_body
from tests.e2e.test_enrollment import BASE, YEAR

CITY, COUNTY, TOWN = "350500000000", "350582000000", "350582103000"  # 泉州市 › 晋江市 › 陈埭镇
VILLAGE, OTHER_VILLAGE = "350582103201", "350582103202"  # 岸兜村, 江头村
GRID = "350582103201001"  # 岸兜村第一网格


async def register(gateway: httpx.AsyncClient, hukou: str) -> str:
    answer = await gateway.post(
        f"{BASE}/persons",
        json={"id_number": resident_id(random.Random(), "350582"), "name": "村民",
              "hukou_region_code": hukou, "residence_region_code": hukou},
        headers=OPS,
    )  # fmt: skip
    assert answer.status_code == 201, answer.text
    person_no: str = answer.json()["person_no"]
    return person_no


async def enroll(gateway: httpx.AsyncClient, person_no: str, scheme: str) -> None:
    answer = await gateway.post(
        f"{BASE}/persons/{person_no}/enrollments", json=enrollment_body(scheme, YEAR, "350582"), headers=OPS
    )
    assert answer.status_code == 201, answer.text


async def coverage(gateway: httpx.AsyncClient, region: str) -> dict[str, Any]:
    answer = await gateway.get(f"{BASE}/stats/coverage", params={"region": region}, headers=OPS)
    assert answer.status_code == 200, answer.text
    body: dict[str, Any] = answer.json()
    return body


def insured(report: dict[str, Any], code: str | None = None) -> tuple[int, int]:
    """(employee, resident) insured for the node, or for its child `code`."""
    line = report["region"] if code is None else next(c for c in report["children"] if c["code"] == code)
    return line["insured_by_scheme"]["employee"], line["insured_by_scheme"]["resident"]


async def test_coverage_rolls_up_from_grid_to_city(gateway: httpx.AsyncClient) -> None:
    before = {code: await coverage(gateway, code) for code in (CITY, COUNTY, TOWN, VILLAGE, GRID)}

    in_grid = [await register(gateway, GRID) for _ in range(3)]  # 2 resident, 1 employee
    in_village = await register(gateway, VILLAGE)  # village known, grid not: employee
    other_village = await register(gateway, OTHER_VILLAGE)  # resident
    uninsured = await register(gateway, GRID)  # registered, never enrolled
    lapsed = await register(gateway, VILLAGE)  # enrolled, then terminated: not insured
    await enroll(gateway, in_grid[0], "resident")
    await enroll(gateway, in_grid[1], "resident")
    await enroll(gateway, in_grid[2], "employee")
    await enroll(gateway, in_village, "employee")
    await enroll(gateway, other_village, "resident")
    await enroll(gateway, lapsed, "resident")
    listed = (await gateway.get(f"{BASE}/persons/{lapsed}/enrollments", headers=OPS)).json()
    ended = await gateway.post(
        f"{BASE}/persons/{lapsed}/enrollments/{listed[0]['id']}/terminate", json={"reason": "emigration"}, headers=OPS
    )
    assert ended.status_code == 200
    # Cover runs through the termination day: the lapsed person still counts today, no longer at year end.
    after = {code: await coverage(gateway, code) for code in (CITY, COUNTY, TOWN, VILLAGE, GRID)}

    def delta(code: str, child: str | None = None) -> tuple[int, int]:
        (e0, r0), (e1, r1) = insured(before[code], child), insured(after[code], child)
        return e1 - e0, r1 - r0

    # lapsed is covered through today (terminated_on = today), so it counts as a resident today.
    assert delta(GRID) == (1, 2)
    assert delta(VILLAGE) == (2, 3)
    assert delta(VILLAGE, GRID) == (1, 2)
    assert delta(TOWN) == (2, 4)
    assert delta(TOWN, VILLAGE) == (2, 3)
    assert delta(TOWN, OTHER_VILLAGE) == (0, 1)
    assert delta(COUNTY, TOWN) == (2, 4)
    assert delta(CITY, COUNTY) == (2, 4)
    assert delta(CITY) == (2, 4)

    assert after[TOWN]["region"]["hukou_baseline"] == 97000  # given for the town in regions.csv
    village_line = after[VILLAGE]["region"]
    assert village_line["hukou_baseline"] == sum(c["hukou_baseline"] for c in after[VILLAGE]["children"])
    grid_line = after[GRID]["region"]
    assert grid_line["insured"] == sum(insured(after[GRID]))
    assert grid_line["coverage_rate"] is not None
    assert after[GRID]["children"] == []

    tomorrow = await gateway.get(
        f"{BASE}/stats/coverage",
        params={"region": VILLAGE, "as_of": f"{YEAR}-12-31"},
        headers=OPS,
    )
    assert tomorrow.status_code == 200
    if ended.json()["effective_to"] != f"{YEAR}-12-31":  # the termination took effect before year end
        assert insured(tomorrow.json())[1] == insured(after[VILLAGE])[1] - 1

    outreach = await gateway.get(f"{BASE}/stats/uninsured", params={"region": VILLAGE, "limit": 1000}, headers=OPS)
    assert outreach.status_code == 200
    names = {p["person_no"] for p in outreach.json()}
    assert uninsured in names
    assert not names & {*in_grid, in_village}
    assert all("*" in p["id_number_masked"] for p in outreach.json())


async def test_coverage_is_for_staff_and_known_regions(gateway: httpx.AsyncClient) -> None:
    assert (await gateway.get(f"{BASE}/stats/coverage", params={"region": COUNTY}, headers=HOSPITAL)).status_code == 403
    insured_token = bearer(Role.INSURED, "P00000000001")
    assert (
        await gateway.get(f"{BASE}/stats/coverage", params={"region": COUNTY}, headers=insured_token)
    ).status_code == 403
    unknown = await gateway.get(f"{BASE}/stats/coverage", params={"region": "350582999000"}, headers=OPS)
    assert unknown.status_code == 404
    assert unknown.json()["type"].endswith("/region-not-found")
    malformed = await gateway.get(f"{BASE}/stats/coverage", params={"region": "35'"}, headers=OPS)
    assert malformed.status_code == 422
    auditor = await gateway.get(
        f"{BASE}/stats/uninsured", params={"region": VILLAGE}, headers=bearer(Role.AUDITOR, "aud")
    )
    assert auditor.status_code == 403


def figures(report: dict[str, Any]) -> list[tuple[str, int, int, dict[str, int]]]:
    """What a coverage report says of each line, without how it was counted."""
    lines = [report["region"], *report["children"]]
    return [(line["code"], line["hukou_baseline"], line["insured"], line["insured_by_scheme"]) for line in lines]


async def test_a_snapshot_counts_what_the_live_query_counts_and_keeps_it(gateway: httpx.AsyncClient) -> None:
    year_end = f"{YEAR}-12-31"
    # A later day's snapshot (nobody covered yet) must not stand in for the day asked about.
    later = await gateway.post(f"{BASE}/stats/coverage/snapshots", json={"as_of": f"{YEAR + 5}-12-31"}, headers=OPS)
    assert later.status_code == 201, later.text
    taken = await gateway.post(f"{BASE}/stats/coverage/snapshots", json={"as_of": year_end}, headers=OPS)
    assert taken.status_code == 201, taken.text
    assert taken.json()["as_of"] == year_end
    assert taken.json()["insured"] > later.json()["insured"]

    async def report(source: str, region: str) -> dict[str, Any]:
        answer = await gateway.get(
            f"{BASE}/stats/coverage", params={"region": region, "as_of": year_end, "source": source}, headers=OPS
        )
        assert answer.status_code == 200, answer.text
        body: dict[str, Any] = answer.json()
        return body

    for region in (CITY, COUNTY, TOWN, VILLAGE, GRID):
        live, snapshot = await report("live", region), await report("snapshot", region)
        assert (live["source"], snapshot["source"]) == ("live", "snapshot")
        assert snapshot["snapshot_taken_at"] is not None
        assert figures(snapshot) == figures(live)

    # A person enrolled after the snapshot: the live count moves, the snapshot does not until taken again.
    newcomer = await register(gateway, GRID)
    await enroll(gateway, newcomer, "resident")
    before = insured(await report("snapshot", GRID))
    assert insured(await report("live", GRID)) == (before[0], before[1] + 1)
    assert insured(await report("snapshot", GRID)) == before
    again = await gateway.post(f"{BASE}/stats/coverage/snapshots", json={"as_of": year_end}, headers=OPS)
    assert again.status_code == 201
    assert again.json()["insured"] == taken.json()["insured"] + 1
    assert insured(await report("snapshot", GRID)) == (before[0], before[1] + 1)

    listed = await gateway.get(f"{BASE}/stats/coverage/snapshots", headers=OPS)
    assert listed.status_code == 200
    assert [s["insured"] for s in listed.json() if s["as_of"] == year_end] == [again.json()["insured"]]


async def test_a_snapshot_that_was_never_taken_is_a_404_and_taking_one_is_for_ops(gateway: httpx.AsyncClient) -> None:
    missing = await gateway.get(
        f"{BASE}/stats/coverage", params={"region": COUNTY, "as_of": "2001-01-01", "source": "snapshot"}, headers=OPS
    )
    assert missing.status_code == 404
    assert missing.json()["type"].endswith("/coverage-snapshot-not-found")
    refused = await gateway.post(f"{BASE}/stats/coverage/snapshots", json={}, headers=HOSPITAL)
    assert refused.status_code == 403
    auditor = await gateway.post(f"{BASE}/stats/coverage/snapshots", json={}, headers=bearer(Role.AUDITOR, "aud"))
    assert auditor.status_code == 403
    unknown_field = await gateway.post(f"{BASE}/stats/coverage/snapshots", json={"day": "2026-01-01"}, headers=OPS)
    assert unknown_field.status_code == 422
    wrong_source = await gateway.get(
        f"{BASE}/stats/coverage", params={"region": COUNTY, "source": "cache"}, headers=OPS
    )
    assert wrong_source.status_code == 422


async def test_an_enrollment_terminated_before_its_cover_began_never_counts(gateway: httpx.AsyncClient) -> None:
    """Termination sets the cover's end to max(start, termination day): an enrollment for next year ended
    today kept its first day, and the counts (which took any terminated enrollment as covered to its end)
    counted the person as insured on 1 January."""
    new_year = f"{YEAR + 1}-01-01"

    async def insured_on(region: str) -> tuple[int, int]:
        answer = await gateway.get(f"{BASE}/stats/coverage", params={"region": region, "as_of": new_year}, headers=OPS)
        assert answer.status_code == 200, answer.text
        return insured(answer.json())

    nodes = (OTHER_VILLAGE, TOWN, CITY)  # a narrow node and the whole city are counted by different statements
    before = {node: await insured_on(node) for node in nodes}
    person_no = await register(gateway, OTHER_VILLAGE)
    enrolled = await gateway.post(
        f"{BASE}/persons/{person_no}/enrollments", json=enrollment_body("resident", YEAR + 1, "350582"), headers=OPS
    )
    assert enrolled.status_code == 201, enrolled.text
    assert enrolled.json()["effective_from"] == new_year, enrolled.text
    assert await insured_on(OTHER_VILLAGE) == (before[OTHER_VILLAGE][0], before[OTHER_VILLAGE][1] + 1)
    ended = await gateway.post(
        f"{BASE}/persons/{person_no}/enrollments/{enrolled.json()['id']}/terminate",
        json={"reason": "emigration"},  # today: before next year's cover began
        headers=OPS,
    )
    assert ended.status_code == 200, ended.text
    assert {node: await insured_on(node) for node in nodes} == before


async def test_an_enrollment_suspended_then_terminated_counts_only_until_its_suspension(
    gateway: httpx.AsyncClient,
) -> None:
    """Suspended (欠费) from today, then terminated today: not covered today, as settlement refuses the
    person today; the counts took the terminated enrollment as covered through its termination day."""
    today = business_today().isoformat()

    async def insured_today(region: str) -> tuple[int, int]:
        answer = await gateway.get(f"{BASE}/stats/coverage", params={"region": region, "as_of": today}, headers=OPS)
        assert answer.status_code == 200, answer.text
        return insured(answer.json())

    nodes = (OTHER_VILLAGE, CITY)
    before = {node: await insured_today(node) for node in nodes}
    person_no = await register(gateway, OTHER_VILLAGE)
    await enroll(gateway, person_no, "resident")
    (enrollment,) = (await gateway.get(f"{BASE}/persons/{person_no}/enrollments", headers=OPS)).json()
    path = f"{BASE}/persons/{person_no}/enrollments/{enrollment['id']}"
    suspended = await gateway.post(f"{path}/suspend", json={"suspended_from": today}, headers=OPS)
    assert suspended.status_code == 200, suspended.text
    assert {node: await insured_today(node) for node in nodes} == before
    ended = await gateway.post(f"{path}/terminate", json={"reason": "other", "terminated_on": today}, headers=OPS)
    assert ended.status_code == 200, ended.text
    assert {node: await insured_today(node) for node in nodes} == before
