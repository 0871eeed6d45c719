"""Settlement through the gateway, correctness hunt round 3: who may read what (docs/api.md), a claim
for care not yet given, and odd input on the read routes. Each test failed on the code before its fix."""

from __future__ import annotations

import random
import uuid
from datetime import date, timedelta

import httpx

from devstack.demo import resident_id
from devstack.tokens import development_token
from shared.auth import Role
from shared.business_time import business_today
from tests.e2e.conftest import (
    HOSPITAL,
    OPS,
    bearer,
    claim,
    enrollment_body,
    insured_person,
    problem,
    settle_when_eligible,
)

API = "/api/v1/settlement"


async def test_a_claim_for_care_not_yet_given_is_refused_naming_the_date(gateway: httpx.AsyncClient) -> None:
    """A hospital settles at or after discharge: a discharge (or, for a visit, an admission) after today's
    business date is care not yet given. It was priced, checked and stored like any other claim."""
    person_no = await insured_person(gateway)
    settled = await settle_when_eligible(gateway, claim(person_no), str(uuid.uuid4()))
    assert settled.status_code == 201, settled.text  # discharged today: fine
    year = business_today().year
    accumulators = f"{API}/persons/{person_no}/accumulators/{year}"
    before = (await gateway.get(accumulators, headers=OPS)).json()
    tomorrow = (business_today() + timedelta(days=1)).isoformat()
    visit = {k: v for k, v in claim(person_no).items() if k != "discharged_on"} | {"visit_type": "outpatient"}
    cases = [
        (claim(person_no) | {"discharged_on": tomorrow}, ["discharged_on"]),
        # discharged_on defaults to admitted_on, so it is named too
        (visit | {"admitted_on": tomorrow}, ["admitted_on", "discharged_on"]),
        (claim(person_no) | {"admitted_on": tomorrow, "discharged_on": tomorrow}, ["admitted_on", "discharged_on"]),
    ]
    for body, fields in cases:
        pre = problem(await gateway.post(f"{API}/settlements/pre", json=body, headers=HOSPITAL), 422, "date-in-future")
        stored = problem(await settle_when_eligible(gateway, body, str(uuid.uuid4())), 422, "date-in-future")
        for refusal in (pre, stored):
            assert [e["field"] for e in refusal["errors"]] == fields, refusal  # type: ignore[attr-defined]
    assert (await gateway.get(accumulators, headers=OPS)).json() == before


async def test_only_the_roles_docs_api_names_read_a_settlement(gateway: httpx.AsyncClient) -> None:
    """GET /settlements/{id}: the hospital, staff, the insured person (docs/api.md). The check refused only
    another hospital and another insured person, so a `service` token (Yibao's own calls, never a client's)
    read any settlement."""
    person_no = await insured_person(gateway)
    settled = await settle_when_eligible(gateway, claim(person_no), str(uuid.uuid4()))
    assert settled.status_code == 201, settled.text
    path = f"{API}/settlements/{settled.json()['settlement_id']}"
    for allowed in (HOSPITAL, OPS, bearer(Role.AUDITOR), bearer(Role.ADMIN), bearer(Role.INSURED, person_no)):
        assert (await gateway.get(path, headers=allowed)).status_code == 200
    service = {"Authorization": f"Bearer {development_token(Role.SERVICE, 'settlement')}"}
    other_hospital = bearer(Role.HOSPITAL, "his-other", "H35058200999")
    for refused in (service, other_hospital, bearer(Role.INSURED, "P00000000001")):
        problem(await gateway.get(path, headers=refused), 403, "forbidden")


async def test_a_clearing_month_that_is_not_a_month_is_a_problem_not_a_500(gateway: httpx.AsyncClient) -> None:
    """GET /clearing/runs/{month} took any text to the database: a NUL character failed there (500)."""
    for month in ("2026-13", "%00", "2026-1%00", "x" * 300):
        problem(await gateway.get(f"{API}/clearing/runs/{month}", headers=OPS), 422, "validation")
    # A month not over yet was never cleared (the API fuzzer may clear any month that is over).
    next_year = f"{business_today().year + 1}-01"
    problem(await gateway.get(f"{API}/clearing/runs/{next_year}", headers=OPS), 404, "clearing-run-not-found")


async def test_care_before_the_persons_birth_is_refused(gateway: httpx.AsyncClient) -> None:
    """A stay admitted the day before the patient was born was priced and settled like any other."""
    rng = random.Random()
    id_number = resident_id(rng, "350582")
    while id_number[6:14] < "19600101":  # born after 1950 by a margin: the day before birth is a valid claim date
        id_number = resident_id(rng, "350582")
    born = date.fromisoformat(f"{id_number[6:10]}-{id_number[10:12]}-{id_number[12:14]}")
    person = {
        "id_number": id_number,
        "name": "测试人",
        "hukou_region_code": "350582",
        "residence_region_code": "350582",
    }
    registered = await gateway.post("/api/v1/enrollment/persons", json=person, headers=OPS)
    assert registered.status_code == 201, registered.text
    person_no = registered.json()["person_no"]
    year = business_today().year
    enrolled = await gateway.post(
        f"/api/v1/enrollment/persons/{person_no}/enrollments",
        json=enrollment_body("resident", year, "350582"),
        headers=OPS,
    )
    assert enrolled.status_code == 201, enrolled.text
    assert (await settle_when_eligible(gateway, claim(person_no), str(uuid.uuid4()))).status_code == 201
    before_birth = claim(person_no) | {"admitted_on": (born - timedelta(days=1)).isoformat()}
    problem(await gateway.post(f"{API}/settlements/pre", json=before_birth, headers=HOSPITAL), 422, "date-before-birth")
    stored = await gateway.post(
        f"{API}/settlements", json=before_birth, headers={**HOSPITAL, "Idempotency-Key": str(uuid.uuid4())}
    )
    problem(stored, 422, "date-before-birth")
