"""医保医师记分 end to end: a hospital settles a claim whose findings reach 12 points; within
seconds the doctor is suspended in supervision and practitioner.suspended is in its outbox, once.
(Settlement refusing the doctor's next claim is settlement's side, built separately.)"""

from __future__ import annotations

import uuid

import asyncpg
import httpx

from devstack.stack import Stack
from shared.settings import database_url_for
from tests.e2e.conftest import AUDITOR, claim, eventually, insured_person, settle_when_eligible


async def test_twelve_points_suspend_the_doctor_once(gateway: httpx.AsyncClient, running_stack: Stack) -> None:
    person_no = await insured_person(gateway)
    doctor = f"D{uuid.uuid4().hex[:12].upper()}"
    # Twelve lines above the 30-unit maximum: twelve QTY-MAX-LINE findings, 1 point each (medical/warn).
    lines: list[dict[str, object]] = [
        {"item_code": "XJ01CA0010201", "quantity": 31, "unit_price": "1.00"} for _ in range(12)
    ]
    body = {**claim(person_no, lines=lines), "practitioner_code": doctor}
    answer = await settle_when_eligible(gateway, body, str(uuid.uuid4()))
    assert answer.status_code == 201, answer.text

    async def suspended() -> bool:
        got = await gateway.get(f"/api/v1/supervision/practitioners/{doctor}", headers=AUDITOR)
        assert got.status_code == 200, got.text
        return bool(got.json()["status"] == "suspended")

    await eventually(suspended, what="the doctor's suspension")
    practitioner = (await gateway.get(f"/api/v1/supervision/practitioners/{doctor}", headers=AUDITOR)).json()
    assert practitioner["points"] == 12
    assert practitioner["reached"] == ["suspension", "training", "warning"]
    assert practitioner["suspended_from"] is not None
    flags = (await gateway.get(f"/api/v1/supervision/audits/{answer.json()['settlement_id']}", headers=AUDITOR)).json()
    assert [f["rule_id"] for f in flags["flags"]] == ["QTY-MAX-LINE"] * 12

    conn = await asyncpg.connect(database_url_for("supervision", running_stack.database_url))
    try:
        published = await conn.fetchval(
            "SELECT count(*) FROM outbox WHERE event_type = 'practitioner.suspended' AND subject = $1", doctor
        )
    finally:
        await conn.close()
    assert published == 1
