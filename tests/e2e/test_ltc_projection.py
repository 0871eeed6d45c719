"""LTC's person projection hears what ends cover: deaths (person.deceased), suspensions and terminations
(enrollment.suspended, .terminated). It heard only registrations and activations, so a dead, suspended or
terminated person stayed LTC-insured."""

from __future__ import annotations

from datetime import timedelta

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


async def test_a_suspension_and_a_termination_end_ltc_cover_and_paid_arrears_restore_it(
    gateway: httpx.AsyncClient,
) -> None:
    person_no = await insured_person(gateway)
    enrollments = f"/api/v1/enrollment/persons/{person_no}/enrollments"

    async def ltc_insured() -> bool | None:
        answer = await gateway.get(f"{LTC}/{person_no}", headers=OPS)
        return answer.json()["ltc_insured"] if answer.status_code == 200 else None

    async def insured_now() -> bool:
        return await ltc_insured() is True

    async def not_insured_now() -> bool:
        return await ltc_insured() is False

    await eventually(insured_now, what="ltc to project the person and their cover")
    (enrollment,) = (await gateway.get(enrollments, headers=OPS)).json()
    path = f"{enrollments}/{enrollment['id']}"
    suspended = await gateway.post(f"{path}/suspend", json={"reason": "arrears"}, headers=OPS)  # from today
    assert suspended.status_code == 200, suspended.text
    await eventually(not_insured_now, what="ltc to hear the suspension")
    paid = await gateway.post(
        f"/api/v1/enrollment/persons/{person_no}/contributions",
        json={"year": business_today().year, "individual": "0.00"},
        headers=OPS,
    )
    assert paid.status_code == 201, paid.text
    assert paid.json()["enrollment"]["status"] == "active"
    await eventually(insured_now, what="ltc to hear the arrears paid (a later activation lifts the suspension)")
    yesterday = (business_today() - timedelta(days=1)).isoformat()
    ended = await gateway.post(
        f"{path}/terminate", json={"reason": "emigration", "terminated_on": yesterday}, headers=OPS
    )
    assert ended.status_code == 200, ended.text
    await eventually(not_insured_now, what="ltc to hear the termination")


async def test_a_move_changes_the_residence_ltc_shows(gateway: httpx.AsyncClient) -> None:
    """person.updated (变更常住地): LTC's care is arranged where the person lives, and its record kept the
    residence the person registered with."""
    person_no = await insured_person(gateway)
    village = "350582103201"  # 陈埭镇岸兜村

    async def residence() -> str | None:
        answer = await gateway.get(f"{LTC}/{person_no}", headers=OPS)
        return answer.json()["residence_region_code"] if answer.status_code == 200 else None

    async def projected() -> bool:
        return await residence() == "350582"

    await eventually(projected, what="ltc to project the person")
    moved = await gateway.patch(
        f"/api/v1/enrollment/persons/{person_no}", json={"residence_region_code": village}, headers=OPS
    )
    assert moved.status_code == 200, moved.text

    async def heard() -> bool:
        return await residence() == village

    await eventually(heard, what="ltc to hear the move")
