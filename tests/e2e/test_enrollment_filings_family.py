"""Cross-region filings (异地就医备案) and family binding (家庭共济) through the gateway, on the real stack."""

from __future__ import annotations

from datetime import date, timedelta

import httpx

from devstack.stack import Stack
from shared.auth import Role
from shared.business_time import business_today
from tests.e2e.conftest import HOSPITAL, OPS, bearer, enrollment_body
from tests.e2e.test_enrollment import BASE, YEAR, event_types, new_person


async def enrolled_person(gateway: httpx.AsyncClient, scheme: str = "resident", *, born: date | None = None) -> str:
    person_no = await new_person(gateway, born=born)
    answer = await gateway.post(
        f"{BASE}/persons/{person_no}/enrollments", json=enrollment_body(scheme, YEAR, "350582"), headers=OPS
    )
    assert answer.status_code == 201, answer.text
    assert answer.json()["status"] == "active"
    return person_no


async def test_filing_approved_review_and_revoke(gateway: httpx.AsyncClient, running_stack: Stack) -> None:
    person_no = await enrolled_person(gateway)
    filings = f"{BASE}/persons/{person_no}/filings"
    today = business_today()
    own = bearer(Role.INSURED, person_no)

    temporary = await gateway.post(
        filings,
        json={"filing_type": "temporary", "destination_region_code": "310101",
              "valid_from": today.isoformat(), "valid_to": (today + timedelta(days=29)).isoformat()},
        headers=own,  # the insured may file for themselves
    )  # fmt: skip
    assert temporary.status_code == 201, temporary.text
    assert temporary.json()["status"] == "approved"

    long_term = await gateway.post(
        filings,
        json={"filing_type": "long_term_resident", "destination_region_code": "440305",
              "valid_from": today.isoformat(), "valid_to": (today + timedelta(days=364)).isoformat()},
        headers=OPS,
    )  # fmt: skip
    assert long_term.status_code == 201
    assert long_term.json()["status"] == "pending_review"
    approved = await gateway.post(f"{filings}/{long_term.json()['id']}/approve", headers=OPS)
    assert approved.status_code == 200
    assert approved.json()["status"] == "approved"
    twice = await gateway.post(f"{filings}/{long_term.json()['id']}/approve", headers=OPS)
    assert twice.status_code == 409

    revoked = await gateway.post(
        f"{filings}/{temporary.json()['id']}/revoke", json={"reason": "trip cancelled"}, headers=own
    )
    assert revoked.status_code == 200
    assert revoked.json()["status"] == "revoked"
    again = await gateway.post(f"{filings}/{temporary.json()['id']}/revoke", json={}, headers=OPS)
    assert again.status_code == 409

    same_county = await gateway.post(
        filings,
        json={"filing_type": "temporary", "destination_region_code": "350582101000",
              "valid_from": today.isoformat(), "valid_to": today.isoformat()},
        headers=OPS,
    )  # fmt: skip
    assert same_county.status_code == 422
    assert same_county.json()["errors"][0]["field"] == "destination_region_code"

    listed = await gateway.get(filings, headers=own)
    assert sorted(f["status"] for f in listed.json()) == ["approved", "revoked"]
    assert (await gateway.get(filings, headers=HOSPITAL)).status_code == 403

    types = await event_types(running_stack, person_no)
    assert types.count("filing.approved") == 2
    assert types.count("filing.revoked") == 1


async def test_uninsured_person_cannot_file(gateway: httpx.AsyncClient) -> None:
    person_no = await new_person(gateway)
    today = business_today()
    answer = await gateway.post(
        f"{BASE}/persons/{person_no}/filings",
        json={"filing_type": "emergency", "destination_region_code": "310101",
              "valid_from": today.isoformat(), "valid_to": today.isoformat()},
        headers=OPS,
    )  # fmt: skip
    assert answer.status_code == 422
    assert answer.json()["type"].endswith("/filing-rejected")


async def test_family_binding_and_what_the_employee_may_read(gateway: httpx.AsyncClient, running_stack: Stack) -> None:
    employee = await enrolled_person(gateway, "employee", born=date(1980, 3, 4))
    child = await enrolled_person(gateway, born=date(2012, 5, 6))
    stranger = await enrolled_person(gateway)
    uninsured = await new_person(gateway, born=date(1955, 1, 1))
    family = f"{BASE}/persons/{employee}/family"
    own = bearer(Role.INSURED, employee)

    # Before binding the employee may not read the child's record.
    assert (await gateway.get(f"{BASE}/persons/{child}", headers=own)).status_code == 403

    bound = await gateway.post(family, json={"relative_person_no": child, "relation": "child"}, headers=own)
    assert bound.status_code == 201, bound.text
    assert (await gateway.get(f"{BASE}/persons/{child}", headers=own)).status_code == 200
    assert (await gateway.get(f"{BASE}/persons/{child}/enrollments", headers=own)).status_code == 200
    # ... but not what the child paid, filed or is bound to: those are staff's and the child's own.
    for private in ("contributions", "filings", "family"):
        assert (await gateway.get(f"{BASE}/persons/{child}/{private}", headers=own)).status_code == 403, private
        as_child = await gateway.get(f"{BASE}/persons/{child}/{private}", headers=bearer(Role.INSURED, child))
        assert as_child.status_code == 200, (private, as_child.text)
    assert (await gateway.get(f"{BASE}/persons/{stranger}", headers=own)).status_code == 403
    # Binding is one way: the child does not see the employee.
    assert (await gateway.get(f"{BASE}/persons/{employee}", headers=bearer(Role.INSURED, child))).status_code == 403

    duplicate = await gateway.post(family, json={"relative_person_no": child, "relation": "child"}, headers=OPS)
    assert duplicate.status_code == 409
    assert duplicate.json()["type"].endswith("/already-bound")
    not_insured = await gateway.post(family, json={"relative_person_no": uninsured, "relation": "parent"}, headers=OPS)
    assert not_insured.status_code == 409
    assert not_insured.json()["type"].endswith("/relative-not-insured")
    resident_holder = await gateway.post(
        f"{BASE}/persons/{stranger}/family", json={"relative_person_no": child, "relation": "parent"}, headers=OPS
    )
    assert resident_holder.status_code == 409
    assert resident_holder.json()["type"].endswith("/holder-not-employee")
    implausible = await gateway.post(family, json={"relative_person_no": stranger, "relation": "child"}, headers=OPS)
    assert implausible.status_code in (201, 422)  # the stranger's random birth date decides plausibility
    someone_else = await gateway.post(
        family, json={"relative_person_no": stranger, "relation": "spouse"}, headers=bearer(Role.INSURED, child)
    )
    assert someone_else.status_code == 403

    listed = (await gateway.get(family, headers=own)).json()
    binding_id = next(b["id"] for b in listed if b["relative_person_no"] == child)
    unbound = await gateway.post(f"{family}/{binding_id}/unbind", headers=own)
    assert unbound.status_code == 200
    assert unbound.json()["unbound_on"] == business_today().isoformat()
    assert (await gateway.post(f"{family}/{binding_id}/unbind", headers=own)).status_code == 409
    assert (await gateway.get(f"{BASE}/persons/{child}", headers=own)).status_code == 403

    types = await event_types(running_stack, employee)
    assert "family.bound" in types
    assert "family.unbound" in types
