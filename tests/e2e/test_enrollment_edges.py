"""Edges of enrollment a bureau's engineer trips over, through the gateway: each test fails on the
code before its fix (defect hunt, 2026-11-24)."""

from __future__ import annotations

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
