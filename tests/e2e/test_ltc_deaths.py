"""LTC hears deaths (person.deceased): its person record says when the person died, and a dead person is
no longer LTC-insured, whatever enrollment's earlier events said about their cover."""

from __future__ import annotations

import httpx

from shared.auth import Role
from shared.business_time import business_today
from tests.e2e.conftest import OPS, bearer, eventually, insured_person

LTC = "/api/v1/ltc/persons"


async def test_ltc_records_a_death_and_the_dead_are_not_ltc_insured(gateway: httpx.AsyncClient) -> None:
    person_no = await insured_person(gateway)

    async def covered() -> bool:
        answer = await gateway.get(f"{LTC}/{person_no}", headers=OPS)
        return answer.status_code == 200 and answer.json()["ltc_insured"] is True

    await eventually(covered, what="ltc to project the person and their cover")
    alive = (await gateway.get(f"{LTC}/{person_no}", headers=OPS)).json()
    assert alive["died_on"] is None
    today = business_today().isoformat()
    died = await gateway.post(f"/api/v1/enrollment/persons/{person_no}/death", json={"died_on": today}, headers=OPS)
    assert died.status_code == 200, died.text

    async def recorded() -> bool:
        answer = await gateway.get(f"{LTC}/{person_no}", headers=OPS)
        return answer.status_code == 200 and answer.json().get("died_on") == today

    await eventually(recorded, what="ltc to record the death")
    record = (await gateway.get(f"{LTC}/{person_no}", headers=bearer(Role.INSURED, person_no))).json()
    assert record["ltc_insured"] is False
    assert record["current_cover"] is None
