"""Edges of enrollment a bureau's engineer trips over, through the gateway: each test fails on the
code before its fix (defect hunt, 2026-11-24)."""

from __future__ import annotations

from datetime import timedelta

import httpx

from shared.business_time import business_today
from tests.e2e.conftest import HOSPITAL, OPS, claim, eventually, insured_person

API = "/api/v1/enrollment"


async def test_a_death_ends_the_family_bindings_so_the_deceaseds_account_pays_no_more(
    gateway: httpx.AsyncClient,
) -> None:
    """家庭共济 binds two living persons (a binding of a deceased person is refused): when the employee
    dies, the binding ends, and settlement stops letting the deceased's personal account pay."""
    employee = await insured_person(gateway, scheme="employee")
    relative = await insured_person(gateway)
    bound = await gateway.post(
        f"{API}/persons/{employee}/family", json={"relative_person_no": relative, "relation": "spouse"}, headers=OPS
    )
    assert bound.status_code == 201, bound.text
    paid_by_employee = claim(relative) | {"family_account_payer_person_no": employee}

    async def pre_settlement_kind() -> str:
        answer = await gateway.post("/api/v1/settlement/settlements/pre", json=paid_by_employee, headers=HOSPITAL)
        return "settles" if answer.status_code == 200 else answer.json().get("type", "").rsplit("/", 1)[-1]

    async def employee_pays() -> bool:
        return await pre_settlement_kind() == "settles"

    await eventually(employee_pays, what="settlement to see the binding")
    today = business_today()
    died = await gateway.post(f"{API}/persons/{employee}/death", json={"died_on": today.isoformat()}, headers=OPS)
    assert died.status_code == 200, died.text
    (binding,) = (await gateway.get(f"{API}/persons/{relative}/family", headers=OPS)).json()
    assert binding["unbound_on"] == today.isoformat()

    async def refused() -> bool:
        return await pre_settlement_kind() == "family-account-not-bound"

    await eventually(refused, what="settlement to stop the deceased's account paying")


async def test_a_scheme_switch_after_a_termination_on_the_last_day_does_not_cover_the_year_twice(
    gateway: httpx.AsyncClient,
) -> None:
    """Terminated on 31 December, the year is covered to its end: a new enrollment of that year
    without starts_on used to start on 1 January, covering the whole year a second time (重复参保)."""
    person_no = await insured_person(gateway)
    year = business_today().year
    enrollments = f"{API}/persons/{person_no}/enrollments"
    (enrollment,) = (await gateway.get(enrollments, headers=OPS)).json()
    ended = await gateway.post(
        f"{enrollments}/{enrollment['id']}/terminate",
        json={"terminated_on": f"{year}-12-31", "reason": "scheme_switch"},
        headers=OPS,
    )
    assert ended.status_code == 200, ended.text
    again = await gateway.post(
        enrollments,
        json={
            "scheme": "employee",
            "year": year,
            "region_code": "350582",
            "employer_code": "91350582E2E000001",
            "contribution_base": "6000.00",
        },
        headers=OPS,
    )
    assert again.status_code == 422, again.text
    assert again.json()["type"] == "https://yibao.dev/problems/no-cover-left"
    (only,) = (await gateway.get(enrollments, headers=OPS)).json()
    assert only["id"] == enrollment["id"]
    next_year = await gateway.post(
        enrollments,
        json={
            "scheme": "employee",
            "year": year + 1,
            "region_code": "350582",
            "employer_code": "91350582E2E000001",
            "contribution_base": "6000.00",
        },
        headers=OPS,
    )
    assert next_year.status_code == 201, next_year.text


async def test_a_suspension_outside_the_cover_or_a_payment_in_the_future_is_refused(gateway: httpx.AsyncClient) -> None:
    """A suspension dated after the cover ends left the enrollment `suspended` while settlement kept
    paying; a contribution dated in the future was stored as paid (and would move the waiting period)."""
    person_no = await insured_person(gateway)
    year = business_today().year
    enrollments = f"{API}/persons/{person_no}/enrollments"
    (enrollment,) = (await gateway.get(enrollments, headers=OPS)).json()
    suspend = f"{enrollments}/{enrollment['id']}/suspend"
    for day in (f"{year + 1}-01-01", f"{year - 1}-12-31"):
        refused = await gateway.post(suspend, json={"suspended_from": day}, headers=OPS)
        assert refused.status_code == 422, refused.text
        assert refused.json()["type"] == "https://yibao.dev/problems/suspension-date"
    (unchanged,) = (await gateway.get(enrollments, headers=OPS)).json()
    assert unchanged["status"] == "active"
    contributions = f"{API}/persons/{person_no}/contributions"
    paid = (await gateway.get(contributions, headers=OPS)).json()
    tomorrow = (business_today() + timedelta(days=1)).isoformat()
    future = await gateway.post(
        contributions, json={"year": year, "individual": "10.00", "paid_on": tomorrow}, headers=OPS
    )
    assert future.status_code == 422, future.text
    assert future.json()["type"] == "https://yibao.dev/problems/payment-date"
    assert (await gateway.get(contributions, headers=OPS)).json() == paid
    suspended = await gateway.post(suspend, json={"suspended_from": business_today().isoformat()}, headers=OPS)
    assert suspended.status_code == 200, suspended.text


async def test_the_latest_coverage_snapshot_is_of_a_day_up_to_today_not_a_planned_one(
    gateway: httpx.AsyncClient,
) -> None:
    """`source=snapshot` without `as_of` read the snapshot with the greatest day, so one taken of a day
    years ahead (nobody covered yet: 0 insured) stood in for today's nightly count."""
    today = business_today()
    planned = await gateway.post(
        f"{API}/stats/coverage/snapshots", json={"as_of": f"{today.year + 7}-12-31"}, headers=OPS
    )
    assert planned.status_code == 201, planned.text
    nightly = await gateway.post(f"{API}/stats/coverage/snapshots", json={}, headers=OPS)
    assert nightly.status_code == 201, nightly.text
    assert nightly.json()["as_of"] == today.isoformat()
    latest = await gateway.get(
        f"{API}/stats/coverage", params={"region": "350582000000", "source": "snapshot"}, headers=OPS
    )
    assert latest.status_code == 200, latest.text
    assert latest.json()["as_of"] == today.isoformat()
    assert latest.json()["snapshot_taken_at"] == nightly.json()["taken_at"]
