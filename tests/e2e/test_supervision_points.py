"""医保医师记分 end to end, all through the gateway: a hospital settles a claim whose findings reach
12 points; within seconds the flags are visible, the doctor is suspended in supervision with
practitioner.suspended in its outbox once, and settlement then refuses that doctor's next claim
with a 422 practitioner-suspended problem while another doctor's claim still settles; an operator's
reinstatement publishes practitioner.reinstated once, and settlement accepts the doctor again."""

from __future__ import annotations

import uuid

import asyncpg
import httpx

from devstack.stack import Stack
from shared.business_time import business_today
from shared.settings import database_url_for
from tests.e2e.conftest import AUDITOR, OPS, claim, eventually, insured_person, settle_when_eligible


async def published(stack: Stack, event_type: str, doctor: str) -> int:
    """How many events of this type about this doctor supervision's outbox holds."""
    conn = await asyncpg.connect(database_url_for("supervision", stack.database_url))
    try:
        count: int = await conn.fetchval(
            "SELECT count(*) FROM outbox WHERE event_type = $1 AND subject = $2", event_type, doctor
        )
    finally:
        await conn.close()
    return count


async def test_twelve_points_suspend_the_doctor_once(gateway: httpx.AsyncClient, running_stack: Stack) -> None:
    person_no = await insured_person(gateway)
    doctor = f"D{uuid.uuid4().hex[:12].upper()}"
    # Twelve catalogue lines (阿莫西林胶囊, no settlement limit) above the 30-unit maximum: twelve QTY-MAX-LINE findings, 1 point each (medical/warn).
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

    assert await published(running_stack, "practitioner.suspended", doctor) == 1

    # Settlement learns of the suspension from practitioner.suspended (Kafka, not a shared DB):
    # the doctor's next claim is refused, a 422 problem, and nothing is stored for it.
    refused: dict[str, httpx.Response] = {}

    async def next_claim_refused() -> bool:
        again = await settle_when_eligible(
            gateway, {**claim(person_no), "practitioner_code": doctor}, str(uuid.uuid4())
        )
        assert again.status_code in (201, 422), again.text
        if again.status_code == 422:
            refused["answer"] = again
        return again.status_code == 422

    await eventually(next_claim_refused, what="settlement refusing the suspended doctor")
    problem = refused["answer"].json()
    assert refused["answer"].headers["content-type"].startswith("application/problem+json")
    assert problem["type"].endswith("/practitioner-suspended"), problem
    assert doctor in problem["detail"]
    # The refusal is about the doctor, not the person or the hospital: a colleague's claim settles.
    colleague = f"D{uuid.uuid4().hex[:12].upper()}"
    other = await settle_when_eligible(gateway, {**claim(person_no), "practitioner_code": colleague}, str(uuid.uuid4()))
    assert other.status_code == 201, other.text

    # 恢复医保支付资格: only ops or admin lift a suspension, once; settlement learns it from
    # practitioner.reinstated and accepts the doctor's claims again.
    reinstatement = f"/api/v1/supervision/practitioners/{doctor}/reinstatement"
    assert (await gateway.post(reinstatement, json={"reason": "申诉成立"}, headers=AUDITOR)).status_code == 403
    early = await gateway.post(reinstatement, json={"reason": "申诉成立", "reinstated_on": "2000-01-01"}, headers=OPS)
    assert early.status_code == 422, early.text
    assert early.json()["type"].endswith("/invalid-reinstatement")
    lifted = await gateway.post(reinstatement, json={"reason": "申诉成立 appeal upheld"}, headers=OPS)
    assert lifted.status_code == 200, lifted.text
    assert lifted.json()["status"] == "active"
    today = business_today().isoformat()  # the default: today, business time
    assert practitioner["suspended_from"] <= lifted.json()["reinstated_on"] <= today
    assert lifted.json()["reinstatement_reason"] == "申诉成立 appeal upheld"
    twice = await gateway.post(reinstatement, json={"reason": "again"}, headers=OPS)
    assert twice.status_code == 409, twice.text
    assert twice.json()["type"].endswith("/practitioner-not-suspended")

    async def accepted_again() -> bool:
        again = await settle_when_eligible(
            gateway, {**claim(person_no), "practitioner_code": doctor}, str(uuid.uuid4())
        )
        assert again.status_code in (201, 422), again.text
        return again.status_code == 201

    await eventually(accepted_again, what="settlement accepting the reinstated doctor")
    assert await published(running_stack, "practitioner.reinstated", doctor) == 1
