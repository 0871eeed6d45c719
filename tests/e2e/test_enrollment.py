"""Enrollment through the gateway on the real stack: one live enrollment per person, the lifecycle, deaths."""

from __future__ import annotations

import asyncio
import random
from datetime import date, timedelta

import asyncpg
import httpx

from devstack.demo import resident_id
from devstack.stack import Stack
from services.enrollment.service import check_character
from shared.auth import Role
from shared.business_time import business_today
from shared.settings import database_url_for
from tests.e2e.conftest import HOSPITAL, OPS, bearer, enrollment_body

BASE = "/api/v1/enrollment"
YEAR = business_today().year


async def new_person(gateway: httpx.AsyncClient, *, born: date | None = None, region: str = "350582") -> str:
    rng = random.Random()
    number = resident_id(rng, region)
    if born is not None:  # same ID shape, chosen birth date, fresh check digit
        first17 = f"{region}{born:%Y%m%d}{rng.randrange(0, 1000):03d}"
        number = first17 + check_character(first17)
    answer = await gateway.post(
        f"{BASE}/persons",
        json={"id_number": number, "name": "参保人", "hukou_region_code": region, "residence_region_code": region},
        headers=OPS,
    )
    assert answer.status_code == 201, answer.text
    person_no: str = answer.json()["person_no"]
    return person_no


async def event_types(stack: Stack, person_no: str) -> list[str]:
    conn = await asyncpg.connect(database_url_for("enrollment", stack.database_url))
    try:
        rows = await conn.fetch("SELECT event_type FROM outbox WHERE subject = $1 ORDER BY id", person_no)
    finally:
        await conn.close()
    return [r["event_type"] for r in rows]


async def test_concurrent_enrollments_for_one_person_exactly_one_wins(gateway: httpx.AsyncClient) -> None:
    for _ in range(5):  # several people, so a lucky serial interleaving cannot hide a race
        person_no = await new_person(gateway)
        bodies = [
            enrollment_body("resident", YEAR, "350582"),
            enrollment_body("employee", YEAR, "350582"),
            {"scheme": "resident", "year": YEAR, "region_code": "350583"},
            enrollment_body("resident", YEAR, "350582"),
        ]
        answers = await asyncio.gather(
            *(gateway.post(f"{BASE}/persons/{person_no}/enrollments", json=b, headers=OPS) for b in bodies)
        )
        codes = sorted(a.status_code for a in answers)
        assert codes == [201, 409, 409, 409], [a.text for a in answers]
        winner = next(a.json() for a in answers if a.status_code == 201)
        for lost in (a for a in answers if a.status_code == 409):
            problem = lost.json()
            assert problem["type"].endswith("/already-enrolled")
            assert problem["enrollment_id"] == winner["id"]
            assert winner["id"] in problem["detail"]
        listed = await gateway.get(f"{BASE}/persons/{person_no}/enrollments", headers=OPS)
        assert [e["id"] for e in listed.json()] == [winner["id"]]


async def test_lifecycle_pending_paid_suspended_resumed_switched(
    gateway: httpx.AsyncClient, running_stack: Stack
) -> None:
    person_no = await new_person(gateway)
    enrollments = f"{BASE}/persons/{person_no}/enrollments"

    pending = await gateway.post(
        enrollments,
        json={"scheme": "resident", "year": YEAR, "region_code": "350582", "assistance_category": "minimum_living"},
        headers=OPS,
    )
    assert pending.status_code == 201, pending.text
    enrollment = pending.json()
    assert enrollment["status"] == "pending"
    assert enrollment["contribution_due"] == {
        "individual": "120.00",
        "employer": "0.00",
        "subsidy": "980.00",
        "assistance": "280.00",
        "personal_account_credit": "0.00",
    }
    eid = enrollment["id"]

    # Suspending what was never active is not a lifecycle step.
    early = await gateway.post(f"{enrollments}/{eid}/suspend", json={"reason": "arrears"}, headers=OPS)
    assert early.status_code == 409
    assert early.json()["type"].endswith("/illegal-transition")

    part = await gateway.post(
        f"{BASE}/persons/{person_no}/contributions", json={"year": YEAR, "individual": "100.00"}, headers=OPS
    )
    assert part.status_code == 201, part.text
    assert part.json()["enrollment"]["status"] == "pending"  # 20.00 still owed
    assert part.json()["contribution"]["subsidy"] == "980.00"  # omitted amounts mean "what is due"

    rest = await gateway.post(f"{BASE}/persons/{person_no}/contributions", json={"year": YEAR}, headers=OPS)
    assert rest.status_code == 201, rest.text
    assert rest.json()["contribution"]["individual"] == "20.00"
    assert rest.json()["contribution"]["subsidy"] == "0.00"
    active = rest.json()["enrollment"]
    assert active["status"] == "active"
    assert active["effective_from"] == f"{YEAR}-01-01"

    suspended = await gateway.post(f"{enrollments}/{eid}/suspend", json={"reason": "arrears"}, headers=OPS)
    assert suspended.status_code == 200
    assert suspended.json()["status"] == "suspended"
    again = await gateway.post(f"{enrollments}/{eid}/suspend", json={"reason": "arrears"}, headers=OPS)
    assert again.status_code == 409

    resumed = await gateway.post(
        f"{BASE}/persons/{person_no}/contributions", json={"year": YEAR, "individual": "0.00"}, headers=OPS
    )
    assert resumed.status_code == 201
    assert resumed.json()["enrollment"]["status"] == "active"

    today = business_today()
    switched = await gateway.post(
        f"{enrollments}/{eid}/terminate",
        json={"reason": "scheme_switch", "terminated_on": today.isoformat()},
        headers=OPS,
    )
    assert switched.status_code == 200
    assert switched.json()["status"] == "terminated"
    assert switched.json()["effective_to"] == today.isoformat()
    final = await gateway.post(f"{enrollments}/{eid}/terminate", json={"reason": "other"}, headers=OPS)
    assert final.status_code == 409

    if today < date(YEAR, 12, 31):  # the employee enrollment starts the day after the resident one ended
        employee = await gateway.post(enrollments, json=enrollment_body("employee", YEAR, "350582"), headers=OPS)
        assert employee.status_code == 201, employee.text
        assert employee.json()["status"] == "active"
        assert employee.json()["effective_from"] == (today + timedelta(days=1)).isoformat()
        assert employee.json()["contribution_due"]["personal_account_credit"] == "1440.00"

    types = await event_types(running_stack, person_no)
    assert types.count("contribution.posted") >= 3
    assert "enrollment.suspended" in types
    assert "enrollment.terminated" in types
    assert types.count("enrollment.activated") >= 2  # activation, then resumption after the arrears


async def test_death_terminates_and_blocks_enrollment(gateway: httpx.AsyncClient, running_stack: Stack) -> None:
    person_no = await new_person(gateway)
    enrolled = await gateway.post(
        f"{BASE}/persons/{person_no}/enrollments", json=enrollment_body("resident", YEAR, "350582"), headers=OPS
    )
    assert enrolled.status_code == 201
    died = await gateway.post(
        f"{BASE}/persons/{person_no}/death", json={"died_on": business_today().isoformat()}, headers=OPS
    )
    assert died.status_code == 200, died.text
    listed = (await gateway.get(f"{BASE}/persons/{person_no}/enrollments", headers=OPS)).json()
    assert [(e["status"], e["status_reason"]) for e in listed] == [("terminated", "death")]
    refused = await gateway.post(
        f"{BASE}/persons/{person_no}/enrollments", json=enrollment_body("resident", YEAR, "350582"), headers=OPS
    )
    assert refused.status_code == 409
    assert refused.json()["type"].endswith("/person-deceased")
    types = await event_types(running_stack, person_no)
    assert types[-2:] == ["enrollment.terminated", "person.deceased"]


async def test_newborn_is_covered_from_birth(gateway: httpx.AsyncClient) -> None:
    born = business_today() - timedelta(days=10)
    if born.year != YEAR:
        born = date(YEAR, 1, 1)
    person_no = await new_person(gateway, born=born)
    enrolled = await gateway.post(
        f"{BASE}/persons/{person_no}/enrollments", json=enrollment_body("resident", YEAR, "350582"), headers=OPS
    )
    assert enrolled.status_code == 201, enrolled.text
    assert enrolled.json()["effective_from"] == born.isoformat()
    assert "newborn" in enrolled.json()["coverage_reason"]


async def test_bad_enrollments_are_problems_not_rows(gateway: httpx.AsyncClient) -> None:
    person_no = await new_person(gateway)
    url = f"{BASE}/persons/{person_no}/enrollments"
    no_employer = await gateway.post(
        url, json={"scheme": "employee", "year": YEAR, "region_code": "350582"}, headers=OPS
    )
    assert no_employer.status_code == 422
    assert no_employer.json()["type"].endswith("/employer-required")
    low_base = await gateway.post(
        url, json=enrollment_body("employee", YEAR, "350582", contribution_base="100.00"), headers=OPS
    )
    assert low_base.status_code == 422
    assert low_base.json()["type"].endswith("/contribution-rule")
    float_money = await gateway.post(
        f"{BASE}/persons/{person_no}/contributions", json={"year": YEAR, "individual": 1.5}, headers=OPS
    )
    assert float_money.status_code == 422
    nothing = await gateway.post(f"{BASE}/persons/{person_no}/contributions", json={"year": YEAR}, headers=OPS)
    assert nothing.status_code == 404
    assert (await gateway.get(url, headers=OPS)).json() == []


async def test_who_may_read_enrollments(gateway: httpx.AsyncClient) -> None:
    person_no = await new_person(gateway)
    other = await new_person(gateway)
    url = f"{BASE}/persons/{person_no}/enrollments"
    assert (await gateway.get(url, headers=bearer(Role.INSURED, person_no))).status_code == 200
    assert (await gateway.get(url, headers=bearer(Role.INSURED, other))).status_code == 403
    assert (await gateway.get(url, headers=HOSPITAL)).status_code == 403
    insured_writes = await gateway.post(
        url, json=enrollment_body("resident", YEAR, "350582"), headers=bearer(Role.INSURED, person_no)
    )
    assert insured_writes.status_code == 403


async def test_transfer_keeps_cover_continuous_in_the_new_region(
    gateway: httpx.AsyncClient, running_stack: Stack
) -> None:
    person_no = await new_person(gateway)
    enrollments = f"{BASE}/persons/{person_no}/enrollments"
    first = await gateway.post(enrollments, json=enrollment_body("resident", YEAR, "350582"), headers=OPS)
    assert first.status_code == 201
    pending = await gateway.post(
        f"{BASE}/persons/{await new_person(gateway)}/enrollments",
        json={"scheme": "resident", "year": YEAR, "region_code": "350582"},
        headers=OPS,
    )
    move_on = business_today() + timedelta(days=1)
    if move_on.year != YEAR:
        return  # on 31 December there is no day left in the year to move to
    moved = await gateway.post(
        f"{enrollments}/{first.json()['id']}/transfer",
        json={"to_region_code": "350583", "transfer_on": move_on.isoformat()},
        headers=OPS,
    )
    assert moved.status_code == 201, moved.text
    assert moved.json()["status"] == "active"
    assert moved.json()["region_code"] == "350583"
    assert moved.json()["effective_from"] == move_on.isoformat()
    listed = {e["id"]: e for e in (await gateway.get(enrollments, headers=OPS)).json()}
    old = listed[first.json()["id"]]
    assert (old["status"], old["status_reason"], old["effective_to"]) == (
        "terminated",
        "transfer",
        business_today().isoformat(),
    )
    again = await gateway.post(
        f"{enrollments}/{first.json()['id']}/transfer", json={"to_region_code": "350505"}, headers=OPS
    )
    assert again.status_code == 409
    not_active = await gateway.post(
        f"{BASE}/persons/{pending.json()['person_no']}/enrollments/{pending.json()['id']}/transfer",
        json={"to_region_code": "350583"},
        headers=OPS,
    )
    assert not_active.status_code == 409
    types = await event_types(running_stack, person_no)
    assert types[-2:] == ["enrollment.terminated", "enrollment.activated"]


async def test_update_person_regions_publishes_person_updated(gateway: httpx.AsyncClient, running_stack: Stack) -> None:
    person_no = await new_person(gateway)
    renamed = await gateway.patch(f"{BASE}/persons/{person_no}", json={"name": "改名"}, headers=OPS)
    assert renamed.status_code == 200
    assert renamed.json()["name"] == "改名"
    assert "person.updated" not in await event_types(running_stack, person_no)
    moved = await gateway.patch(
        f"{BASE}/persons/{person_no}", json={"residence_region_code": "350582103201001"}, headers=OPS
    )
    assert moved.status_code == 200
    assert moved.json()["residence_region_code"] == "350582103201001"
    assert (await event_types(running_stack, person_no))[-1] == "person.updated"
    fixed = await gateway.patch(f"{BASE}/persons/{person_no}", json={"birth_date": "2000-01-01"}, headers=OPS)
    assert fixed.status_code == 422
    insured = await gateway.patch(
        f"{BASE}/persons/{person_no}", json={"name": "x"}, headers=bearer(Role.INSURED, person_no)
    )
    assert insured.status_code == 403


async def test_an_enrollment_or_transfer_region_outside_the_region_tree_is_refused(
    gateway: httpx.AsyncClient, running_stack: Stack
) -> None:
    person_no = await new_person(gateway)
    enrollments = f"{BASE}/persons/{person_no}/enrollments"
    unknown = await gateway.post(enrollments, json=enrollment_body("resident", YEAR, "350582999999"), headers=OPS)
    assert unknown.status_code == 422, unknown.text
    assert unknown.headers["content-type"] == "application/problem+json"
    assert unknown.json()["type"].endswith("/region-not-in-tree")
    assert [e["field"] for e in unknown.json()["errors"]] == ["region_code"]
    assert "350582" in unknown.json()["detail"]  # the nearest region it lies under, as for persons
    assert (await gateway.get(enrollments, headers=OPS)).json() == []  # nothing stored

    enrolled = await gateway.post(enrollments, json=enrollment_body("resident", YEAR, "350582"), headers=OPS)
    assert enrolled.status_code == 201, enrolled.text
    moved = await gateway.post(
        f"{enrollments}/{enrolled.json()['id']}/transfer", json={"to_region_code": "350599"}, headers=OPS
    )
    assert moved.status_code == 422, moved.text
    assert moved.json()["type"].endswith("/region-not-in-tree")
    assert [e["field"] for e in moved.json()["errors"]] == ["to_region_code"]
    (still,) = (await gateway.get(enrollments, headers=OPS)).json()
    assert (still["id"], still["status"], still["region_code"]) == (enrolled.json()["id"], "active", "350582")
