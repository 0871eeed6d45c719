"""The walking skeleton through the gateway: enrollment → events → settlement → supervision, and ltc."""

from __future__ import annotations

import uuid
from datetime import date
from decimal import Decimal

import asyncpg
import httpx

from devstack.stack import Stack
from shared.settings import database_url_for
from tests.e2e.conftest import AUDITOR, HOSPITAL, OPS, claim, eventually, insured_person, settle_when_eligible


async def test_register_enroll_settle_audit(gateway: httpx.AsyncClient, running_stack: Stack) -> None:
    person_no = await insured_person(gateway, scheme="resident")

    # ltc keeps its own projection from the same events.
    async def ltc_knows() -> bool:
        answer = await gateway.get(f"/api/v1/ltc/persons/{person_no}", headers=OPS)
        return answer.status_code == 200 and answer.json()["ltc_insured"] is True

    await eventually(ltc_knows, what="ltc's person projection")

    trace_id = uuid.uuid4().hex
    body = claim(person_no, quantity=45)  # above the 30-unit line maximum: supervision flags it
    answer = await settle_when_eligible(
        gateway, body, str(uuid.uuid4()), headers={"traceparent": f"00-{trace_id}-{'1' * 16}-01"}
    )
    assert answer.status_code == 201, answer.text
    settled = answer.json()
    breakdown = settled["breakdown"]
    # Demo policy 350500-2026-resident-inpatient-L3-v4 (from 2026-07-01; 2027's v2 is the same): 起付线 800,
    # ratio 0.67 (v4 and 2027's v2 are 2026's v2 and 2027's v1 with 医疗救助 per group).
    # Lines: 45 × 12.50 = 562.50 (甲) + 980.00 (甲) + 36.80 (乙, 先行自付 10% = 3.68) = 1579.30.
    # Policy scope 1579.30 − 3.68 = 1575.62; fund (1575.62 − 800) × 0.67 = 519.6654 → 519.67;
    # below the 大病 threshold; cash 1579.30 − 519.67 = 1059.63.
    assert breakdown["medfee_sumamt"] == "1579.30"
    assert breakdown["preselfpay_amt"] == "3.68"
    assert breakdown["inscp_scp_amt"] == "1575.62"
    assert breakdown["hifp_pay"] == "519.67"
    assert breakdown["psn_cash_pay"] == "1059.63"
    year = date.fromisoformat(body["discharged_on"]).year  # type: ignore[arg-type]
    assert settled["policy_version"] in {
        "350500-2026-resident-inpatient-L3-v4",
        f"350500-{year}-resident-inpatient-L3-v2",
    }
    assert settled["policy_version"] != "350500-2026-resident-inpatient-L3-v3"  # 起付线 1000 until 2026-06-30
    assert {step["rule"] for step in settled["explanation"]} >= {"起付线 deductible", "hifp_pay 统筹基金"}
    assert answer.headers["location"].endswith(settled["settlement_id"])
    assert answer.headers["x-request-id"]

    async def audited() -> bool:
        got = await gateway.get(f"/api/v1/supervision/audits/{settled['settlement_id']}", headers=AUDITOR)
        return got.status_code == 200

    await eventually(audited, what="supervision's audit of the claim")
    audit = (await gateway.get(f"/api/v1/supervision/audits/{settled['settlement_id']}", headers=AUDITOR)).json()
    assert audit["outcome"] == "flagged"
    assert [f["rule_id"] for f in audit["flags"]] == ["QTY-MAX-LINE"]
    assert audit["flags"][0]["amount_at_stake"] == "187.50"  # 15 units above the maximum × 12.50

    # The hospital can read its own settlement back.
    again = await gateway.get(f"/api/v1/settlement/settlements/{settled['settlement_id']}", headers=HOSPITAL)
    assert again.status_code == 200
    assert again.json()["breakdown"] == breakdown

    # The trace started by the hospital's request continues in the claim.settled event.
    conn = await asyncpg.connect(database_url_for("settlement", running_stack.database_url))
    try:
        headers = await conn.fetchval(
            "SELECT headers FROM outbox WHERE subject = $1 AND event_type = 'claim.settled'", person_no
        )
    finally:
        await conn.close()
    assert trace_id in headers


async def test_a_clean_claim_is_audited_clean(gateway: httpx.AsyncClient) -> None:
    person_no = await insured_person(gateway, scheme="employee")
    answer = await settle_when_eligible(gateway, claim(person_no, quantity=2), str(uuid.uuid4()))
    assert answer.status_code == 201, answer.text
    # Demo policy 350500-2026-employee-inpatient-L3-v2: 起付线 800, ratio 0.90. Lines 25.00 + 980.00 +
    # 36.80 = 1041.80, 先行自付 3.68, scope 1038.12; fund (1038.12 − 800) × 0.90 = 214.308 → 214.31.
    assert answer.json()["breakdown"]["hifp_pay"] == "214.31"
    # The personal part 827.49 is paid from the employee's personal account (个人账户) as far as the
    # enrollment's contribution has credited it by then (contribution.posted), the rest in cash.
    breakdown = answer.json()["breakdown"]
    assert Decimal(breakdown["acct_pay"]) + Decimal(breakdown["psn_cash_pay"]) == Decimal("827.49")
    settlement_id = answer.json()["settlement_id"]

    async def audited() -> bool:
        return (await gateway.get(f"/api/v1/supervision/audits/{settlement_id}", headers=AUDITOR)).status_code == 200

    await eventually(audited, what="the audit")
    audit = (await gateway.get(f"/api/v1/supervision/audits/{settlement_id}", headers=AUDITOR)).json()
    assert audit["outcome"] == "clean"
    assert audit["flags"] == []


async def test_uninsured_person_is_refused_with_a_problem(gateway: httpx.AsyncClient) -> None:
    answer = await gateway.post(
        "/api/v1/settlement/settlements",
        json=claim("P99999999999"),
        headers={**HOSPITAL, "Idempotency-Key": str(uuid.uuid4())},
    )
    assert answer.status_code == 422
    assert answer.headers["content-type"] == "application/problem+json"
    assert answer.json()["type"] == "https://yibao.dev/problems/person-unknown"


async def test_duplicate_registration_names_the_existing_person(gateway: httpx.AsyncClient) -> None:
    body = {
        "id_number": "350582199003070024",
        "name": "重复",
        "hukou_region_code": "350582",
        "residence_region_code": "350582",
    }
    first = await gateway.post("/api/v1/enrollment/persons", json=body, headers=OPS)
    second = await gateway.post("/api/v1/enrollment/persons", json=body, headers=OPS)
    assert first.status_code in (201, 409)
    assert second.status_code == 409
    person_no = first.json()["person_no"]
    assert second.json()["person_no"] == person_no
    assert "350582199003070024" not in first.text + second.text
    assert first.json().get("id_number_masked", "350582********0024") == "350582********0024"


async def test_invalid_id_number_says_which_part(gateway: httpx.AsyncClient) -> None:
    answer = await gateway.post(
        "/api/v1/enrollment/persons",
        json={
            "id_number": "350582199003070021",
            "name": "错号",
            "hukou_region_code": "350582",
            "residence_region_code": "350582",
        },
        headers=OPS,
    )
    assert answer.status_code == 422
    problem = answer.json()
    assert problem["type"] == "https://yibao.dev/problems/invalid-id-number"
    assert problem["errors"][0]["field"] == "id_number"
    assert "check_digit" in problem["errors"][0]["message"]
