"""Recoveries tracked to closure (追回) and penalties (罚款) through the gateway: a concluded case's
amount to recover is paid in parts until it closes; over-payment, a repeated receipt and a case
not yet concluded are problems; the month's statistics show the penalty and the money collected."""

from __future__ import annotations

import random
from decimal import Decimal

import httpx

from shared.auth import Role
from shared.business_time import business_today
from tests.e2e.conftest import AUDITOR, OPS, bearer, designated_institution, insured_person
from tests.e2e.test_supervision_cases import flagged_settlement, this_month_totals

CASES = "/api/v1/supervision/cases"


async def test_a_recovery_is_paid_in_parts_until_it_closes(gateway: httpx.AsyncClient) -> None:
    institution = await designated_institution(gateway, f"H35058{random.randrange(10**6):06d}")
    hospital = bearer(Role.HOSPITAL, "his-recoveries", institution)
    person_no = await insured_person(gateway)
    flag_id = await flagged_settlement(gateway, person_no, hospital, 0)  # 1 unit above 30 × 10.00 at stake
    opened = await gateway.post(
        CASES,
        json={"subject_kind": "institution", "subject_code": institution, "flag_ids": [flag_id]},
        headers=AUDITOR,
    )
    assert opened.status_code == 201, opened.text
    case = opened.json()
    assert (case["recovery_status"], case["recovered"], case["outstanding"]) == ("none", "0.00", None)
    payment = {
        "amount": "4.00",
        "received_on": business_today().isoformat(),
        "reference": f"R{random.randrange(10**9)}",
    }
    early = await gateway.post(f"{CASES}/{case['id']}/recoveries", json=payment, headers=AUDITOR)
    assert early.status_code == 409, early.text  # nothing to recover before the conclusion

    before = await this_month_totals(gateway)
    assert (await gateway.post(f"{CASES}/{case['id']}/investigation", headers=AUDITOR)).status_code == 200
    concluded = await gateway.post(
        f"{CASES}/{case['id']}/conclusion",
        json={"finding": "quantity above the maximum", "amount_to_recover": "10.00", "penalty": "500.00"},
        headers=AUDITOR,
    )
    assert concluded.status_code == 200, concluded.text
    assert (concluded.json()["recovery_status"], concluded.json()["outstanding"]) == ("outstanding", "10.00")
    assert concluded.json()["penalty"] == "500.00"

    first = await gateway.post(f"{CASES}/{case['id']}/recoveries", json=payment, headers=AUDITOR)
    assert first.status_code == 201, first.text
    assert (first.json()["recovered"], first.json()["outstanding"], first.json()["recovery_status"]) == (
        "4.00",
        "6.00",
        "outstanding",
    )
    repeated = await gateway.post(f"{CASES}/{case['id']}/recoveries", json=payment, headers=OPS)
    assert repeated.status_code == 409, repeated.text
    assert repeated.json()["type"].endswith("/recovery-payment-exists")
    too_much = await gateway.post(
        f"{CASES}/{case['id']}/recoveries", json={**payment, "amount": "6.01", "reference": "R-over"}, headers=AUDITOR
    )
    assert too_much.status_code == 422, too_much.text
    assert too_much.json()["type"].endswith("/over-recovery")
    for bad in ({**payment, "amount": "0.00", "reference": "R-zero"}, {**payment, "amount": 6.0, "reference": "R-f"}):
        answer = await gateway.post(f"{CASES}/{case['id']}/recoveries", json=bad, headers=AUDITOR)
        assert answer.status_code == 422, answer.text
    hospital_try = await gateway.post(
        f"{CASES}/{case['id']}/recoveries", json={**payment, "reference": "R-h"}, headers=hospital
    )
    assert hospital_try.status_code == 403

    last = await gateway.post(
        f"{CASES}/{case['id']}/recoveries", json={**payment, "amount": "6.00", "reference": "R-last"}, headers=AUDITOR
    )
    assert last.status_code == 201, last.text
    closed = last.json()
    assert (closed["recovered"], closed["outstanding"], closed["recovery_status"]) == ("10.00", "0.00", "closed")
    assert closed["recovery_closed_on"] is not None
    assert [(p["amount"], p["reference"]) for p in closed["recovery_payments"]] == [
        ("4.00", payment["reference"]),
        ("6.00", "R-last"),
    ]
    after_close = await gateway.post(
        f"{CASES}/{case['id']}/recoveries", json={**payment, "amount": "0.01", "reference": "R-more"}, headers=AUDITOR
    )
    assert after_close.status_code == 409, after_close.text
    assert (await gateway.get(f"{CASES}/{case['id']}", headers=AUDITOR)).json()["recovered"] == "10.00"

    after = await this_month_totals(gateway)
    assert after["penalties"] - before.get("penalties", Decimal(0)) == Decimal("500.00")
    assert after["amount_collected"] - before.get("amount_collected", Decimal(0)) == Decimal("10.00")
