"""Edges of settlement a hospital's or bureau's engineer trips over, through the gateway: each
test fails on the code before its fix (defect hunt, 2026-11-24)."""

from __future__ import annotations

import secrets
import uuid

import httpx

from shared.business_time import business_today
from tests.e2e.conftest import (
    AUDITOR,
    HOSPITAL,
    INSTITUTION,
    OPS,
    claim,
    eventually,
    insured_person,
    problem,
    settle_when_eligible,
)

API = "/api/v1/settlement"


async def test_reconciliation_of_a_day_at_the_calendars_ends_is_a_problem_not_a_500(gateway: httpx.AsyncClient) -> None:
    # 9999-12-31's next day and 0001-01-01 in UTC are outside Python's and asyncpg's calendars.
    for day in ("9999-12-31", "0001-01-01", "1949-12-31"):
        answer = await gateway.get(f"{API}/institutions/{INSTITUTION}/reconciliation/{day}", headers=OPS)
        problem(answer, 422, "invalid-dates")
    today = await gateway.get(f"{API}/institutions/{INSTITUTION}/reconciliation/{business_today()}", headers=OPS)
    assert today.status_code == 200, today.text


async def test_a_stay_admitted_before_1950_is_refused_and_nothing_is_stored(gateway: httpx.AsyncClient) -> None:
    """Supervision's in-stage check refuses such dates with a 422, which settlement took for "no answer"
    and settled the claim unchecked (fail-open): a hospital could skip 事中审核 by backdating admitted_on."""
    person_no = await insured_person(gateway)
    assert (await settle_when_eligible(gateway, claim(person_no), str(uuid.uuid4()))).status_code == 201
    before = (await gateway.get(f"{API}/persons/{person_no}/accumulators/{business_today().year}", headers=OPS)).json()
    backdated = claim(person_no) | {"admitted_on": "1900-01-01"}
    problem(await gateway.post(f"{API}/settlements/pre", json=backdated, headers=HOSPITAL), 422, "validation")
    stored = await gateway.post(
        f"{API}/settlements", json=backdated, headers={**HOSPITAL, "Idempotency-Key": str(uuid.uuid4())}
    )
    problem(stored, 422, "validation")
    after = (await gateway.get(f"{API}/persons/{person_no}/accumulators/{business_today().year}", headers=OPS)).json()
    assert after == before


async def test_a_suspended_enrollment_paid_up_again_settles_again(gateway: httpx.AsyncClient) -> None:
    """active → suspended (欠费) → active (arrears paid): enrollment clears the suspension, and so must
    settlement's eligibility projection, whichever of the two topics arrives first. While suspended,
    the refusal says so (`enrollment-suspended`, issue 5: "a 422 problem saying which"), not
    `not-insured` as for a person never enrolled."""
    person_no = await insured_person(gateway)
    year = business_today().year
    assert (await settle_when_eligible(gateway, claim(person_no), str(uuid.uuid4()))).status_code == 201
    enrollments = f"/api/v1/enrollment/persons/{person_no}/enrollments"
    (enrollment,) = (await gateway.get(enrollments, headers=OPS)).json()
    suspended = await gateway.post(f"{enrollments}/{enrollment['id']}/suspend", json={"reason": "arrears"}, headers=OPS)
    assert suspended.status_code == 200, suspended.text

    async def pre_settlement_kind() -> str:
        answer = await gateway.post(f"{API}/settlements/pre", json=claim(person_no), headers=HOSPITAL)
        return "settles" if answer.status_code == 200 else answer.json().get("type", "").rsplit("/", 1)[-1]

    async def refused() -> bool:
        return await pre_settlement_kind() == "enrollment-suspended"

    await eventually(refused, what="settlement to see the suspension")
    resumed = await gateway.post(
        f"/api/v1/enrollment/persons/{person_no}/contributions", json={"year": year, "individual": "0.00"}, headers=OPS
    )
    assert resumed.status_code == 201, resumed.text
    assert resumed.json()["enrollment"]["status"] == "active"

    async def settles() -> bool:
        return await pre_settlement_kind() == "settles"

    await eventually(settles, what="settlement to see the enrollment active again")
    again = await settle_when_eligible(gateway, claim(person_no), str(uuid.uuid4()))
    assert again.status_code == 201, again.text


async def test_a_claim_whose_traceability_code_supervision_cannot_index_is_refused(gateway: httpx.AsyncClient) -> None:
    """A 3 kB random 药品追溯码 settled (201), then broke supervision's insert into its traceability
    index: the claim was dead-lettered and never audited. Now such a code is refused at the door, and
    the longest one accepted is audited."""
    person_no = await insured_person(gateway)

    def with_code(code: str) -> dict[str, object]:
        line = {"item_code": "XJ01CA0010201", "quantity": 1, "unit_price": "12.50", "traceability_codes": [code]}
        return claim(person_no, lines=[line])

    too_long = await gateway.post(
        f"{API}/settlements",
        json=with_code(secrets.token_hex(1500)),
        headers={**HOSPITAL, "Idempotency-Key": str(uuid.uuid4())},
    )
    problem(too_long, 422, "validation")
    assert too_long.json()["errors"][0]["field"] == "lines.0.traceability_codes.0", too_long.text
    longest = await settle_when_eligible(gateway, with_code(secrets.token_hex(32)), str(uuid.uuid4()))
    assert longest.status_code == 201, longest.text
    settlement_id = longest.json()["settlement_id"]

    async def audited() -> bool:
        answer = await gateway.get(f"/api/v1/supervision/audits/{settlement_id}", headers=AUDITOR)
        return answer.status_code == 200

    await eventually(audited, what="the claim audited")
