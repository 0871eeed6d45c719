"""Edges of supervision a bureau's engineer trips over, through the gateway: each test fails on the
code before its fix (defect hunt, 2026-11-24)."""

from __future__ import annotations

import random
import uuid
from datetime import timedelta

import httpx

from shared.business_time import business_today
from tests.e2e.conftest import AUDITOR, HOSPITAL, INSTITUTION, eventually, insured_person, settle_when_eligible

API = "/api/v1/supervision"


def _outpatient_claim(person_no: str, *, diagnosis: str, quantity: int, unit_price: str) -> dict[str, object]:
    """Today's outpatient claim of one line of XJ01CA0010201, by a doctor of its own (so no other
    test's points move)."""
    today = business_today().isoformat()
    return {
        "person_no": person_no,
        "visit_type": "outpatient",
        "admitted_on": today,
        "discharged_on": today,
        "practitioner_code": f"D{random.randrange(10**9):09d}",
        "diagnoses": [diagnosis],
        "lines": [{"item_code": "XJ01CA0010201", "quantity": quantity, "unit_price": unit_price}],
    }


async def _flagged_settlement(gateway: httpx.AsyncClient, person_no: str) -> tuple[str, dict[str, str]]:
    """A settlement whose quantity breaks QTY-MAX-LINE (a doctor of its own, so no other test's points
    move), audited: its id and its one flag."""
    body = _outpatient_claim(person_no, diagnosis="J18.9", quantity=35, unit_price="10.00")
    settlement_id = await _settled_and_audited(gateway, body)
    (flag,) = (await gateway.get(f"{API}/audits/{settlement_id}", headers=AUDITOR)).json()["flags"]
    return settlement_id, flag


async def _settled_and_audited(gateway: httpx.AsyncClient, body: dict[str, object]) -> str:
    """Settle the claim through the gateway and wait for supervision's audit of it; its settlement id."""
    answer = await settle_when_eligible(gateway, body, str(uuid.uuid4()))
    assert answer.status_code == 201, answer.text
    settlement_id: str = answer.json()["settlement_id"]

    async def audited() -> bool:
        return (await gateway.get(f"{API}/audits/{settlement_id}", headers=AUDITOR)).status_code == 200

    await eventually(audited, what="the audit")
    return settlement_id


async def _opened_case(gateway: httpx.AsyncClient, flag: dict[str, str]) -> dict[str, str]:
    """A case opened on the institution for this one flag."""
    opened = await gateway.post(
        f"{API}/cases",
        json={"subject_kind": "institution", "subject_code": INSTITUTION, "flag_ids": [flag["id"]]},
        headers=AUDITOR,
    )
    assert opened.status_code == 201, opened.text
    case: dict[str, str] = opened.json()
    return case


async def test_a_case_cannot_recover_what_a_reversal_already_returned(gateway: httpx.AsyncClient) -> None:
    """A case's flag is withdrawn when its settlement is reversed (the fund has its money back): the
    conclusion may no longer decide to recover that amount, only what the active flags put at stake."""
    person_no = await insured_person(gateway)
    settlement_id, flag = await _flagged_settlement(gateway, person_no)
    case = await _opened_case(gateway, flag)
    assert case["amount_at_stake"] == flag["amount_at_stake"] != "0.00"
    reversed_ = await gateway.post(f"/api/v1/settlement/settlements/{settlement_id}/reversal", headers=HOSPITAL)
    assert reversed_.status_code == 200, reversed_.text

    async def withdrawn() -> bool:
        audit = (await gateway.get(f"{API}/audits/{settlement_id}", headers=AUDITOR)).json()
        return bool(audit["flags"][0]["status"] == "withdrawn")

    await eventually(withdrawn, what="the flag withdrawn")
    investigating = await gateway.post(f"{API}/cases/{case['id']}/investigation", headers=AUDITOR)
    assert investigating.status_code == 200, investigating.text
    recover_refunded = await gateway.post(
        f"{API}/cases/{case['id']}/conclusion",
        json={"finding": "quantity above the maximum", "amount_to_recover": flag["amount_at_stake"]},
        headers=AUDITOR,
    )
    assert recover_refunded.status_code == 422, recover_refunded.text
    assert recover_refunded.json()["type"] == "https://yibao.dev/problems/invalid-conclusion"
    nothing_left = await gateway.post(
        f"{API}/cases/{case['id']}/conclusion",
        json={"finding": "the claim was reversed by the hospital", "amount_to_recover": "0.00"},
        headers=AUDITOR,
    )
    assert nothing_left.status_code == 200, nothing_left.text
    assert nothing_left.json()["recovery_status"] == "closed"


async def test_a_recovery_payment_cannot_be_received_in_the_future(gateway: httpx.AsyncClient) -> None:
    """追回: a payment dated after today was recorded, closing the recovery now and counting in a
    future month's statistics (`amount_collected` by `received_on`)."""
    person_no = await insured_person(gateway)
    _, flag = await _flagged_settlement(gateway, person_no)
    case_id = (await _opened_case(gateway, flag))["id"]
    assert (await gateway.post(f"{API}/cases/{case_id}/investigation", headers=AUDITOR)).status_code == 200
    concluded = await gateway.post(
        f"{API}/cases/{case_id}/conclusion",
        json={"finding": "quantity above the maximum", "amount_to_recover": "10.00"},
        headers=AUDITOR,
    )
    assert concluded.status_code == 200, concluded.text
    today = business_today()
    future = await gateway.post(
        f"{API}/cases/{case_id}/recoveries",
        json={"amount": "10.00", "received_on": (today + timedelta(days=1)).isoformat(), "reference": "R-FUTURE"},
        headers=AUDITOR,
    )
    assert future.status_code == 422, future.text
    assert future.json()["type"] == "https://yibao.dev/problems/recovery-date"
    assert (await gateway.get(f"{API}/cases/{case_id}", headers=AUDITOR)).json()["recovery_status"] == "outstanding"
    paid = await gateway.post(
        f"{API}/cases/{case_id}/recoveries",
        json={"amount": "10.00", "received_on": today.isoformat(), "reference": "R-TODAY"},
        headers=AUDITOR,
    )
    assert paid.status_code == 201, paid.text
    assert paid.json()["recovery_status"] == "closed"


async def test_a_claim_whose_diagnosis_upper_cases_long_is_audited(gateway: httpx.AsyncClient) -> None:
    """The diagnosis group was cut, then upper-cased: "ßßß" became "SSSSSS", too long for its column,
    and the audit dead-lettered the claim, never audited."""
    person_no = await insured_person(gateway)
    body = _outpatient_claim(person_no, diagnosis="ßßß", quantity=1, unit_price="12.50")
    await _settled_and_audited(gateway, body)  # audited: not dead-lettered
