"""Cases (案件) through the gateway: flags of one institution grouped, investigated, concluded
with recoveries and escalating 三函两牌 sanctions; the red card is published for settlement."""

from __future__ import annotations

import json
import random
import uuid
from datetime import datetime, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

import asyncpg
import httpx

from devstack.stack import Stack
from shared.auth import Role
from shared.business_time import business_today
from shared.settings import database_url_for
from tests.e2e.conftest import (
    AUDITOR,
    OPS,
    bearer,
    designated_institution,
    eventually,
    insured_person,
    settle_when_eligible,
)


async def flagged_settlement(
    gateway: httpx.AsyncClient, person_no: str, hospital: dict[str, str], days_ago: int
) -> str:
    visit = (business_today() - timedelta(days=days_ago)).isoformat()
    body: dict[str, object] = {
        "person_no": person_no,
        "visit_type": "outpatient",
        "admitted_on": visit,
        "discharged_on": visit,
        "practitioner_code": "D350582901",
        "diagnoses": ["J18.9"],
        "lines": [{"item_code": "XJ01CA0010201", "quantity": 31 + days_ago, "unit_price": "10.00"}],
    }
    answer = await settle_when_eligible(gateway, body, str(uuid.uuid4()), headers=hospital)
    assert answer.status_code == 201, answer.text
    settlement_id: str = answer.json()["settlement_id"]

    async def audited() -> bool:
        got = await gateway.get(f"/api/v1/supervision/audits/{settlement_id}", headers=AUDITOR)
        return got.status_code == 200

    await eventually(audited, what="the audit")
    audit = (await gateway.get(f"/api/v1/supervision/audits/{settlement_id}", headers=AUDITOR)).json()
    (flag,) = audit["flags"]
    assert flag["rule_id"] == "QTY-MAX-LINE"
    return str(flag["id"])


async def this_month_totals(gateway: httpx.AsyncClient) -> dict[str, Decimal]:
    """The statistics of this business month, summed over every region."""
    month = datetime.now(ZoneInfo("Asia/Shanghai")).strftime("%Y-%m")
    answer = await gateway.get(
        "/api/v1/supervision/statistics", params={"from_month": month, "to_month": month}, headers=AUDITOR
    )
    assert answer.status_code == 200, answer.text
    totals: dict[str, Decimal] = {}
    for row in answer.json()["items"]:
        assert row["month"] == month
        for name, value in row.items():
            if name not in ("region_code", "month"):
                totals[name] = totals.get(name, Decimal(0)) + Decimal(value)
    return totals


async def test_cases_escalate_to_a_red_card(gateway: httpx.AsyncClient, running_stack: Stack) -> None:
    institution = await designated_institution(gateway, f"H{random.randrange(10**11):011d}")
    hospital = bearer(Role.HOSPITAL, "his-cases", institution)
    person_no = await insured_person(gateway)
    flags = [await flagged_settlement(gateway, person_no, hospital, days_ago) for days_ago in range(6)]

    before = await this_month_totals(gateway)
    rungs = []
    for n, flag_id in enumerate(flags[:5]):
        opened = await gateway.post(
            "/api/v1/supervision/cases",
            json={"subject_kind": "institution", "subject_code": institution, "flag_ids": [flag_id]},
            headers=AUDITOR,
        )
        assert opened.status_code == 201, opened.text
        case = opened.json()
        assert case["status"] == "open"
        assert case["amount_at_stake"] == f"{10 * (1 + n)}.00"  # (31 + n − 30) units × 10.00
        early = await gateway.post(
            f"/api/v1/supervision/cases/{case['id']}/conclusion",
            json={"finding": "too soon", "amount_to_recover": "1.00", "sanction": True},
            headers=AUDITOR,
        )
        assert early.status_code == 409, early.text
        investigating = await gateway.post(f"/api/v1/supervision/cases/{case['id']}/investigation", headers=OPS)
        assert investigating.status_code == 200, investigating.text
        assert investigating.json()["status"] == "investigating"
        too_much = await gateway.post(
            f"/api/v1/supervision/cases/{case['id']}/conclusion",
            json={"finding": "overbilled", "amount_to_recover": "9999.00", "sanction": True},
            headers=AUDITOR,
        )
        assert too_much.status_code == 422, too_much.text
        concluded = await gateway.post(
            f"/api/v1/supervision/cases/{case['id']}/conclusion",
            json={
                "finding": "quantity above the maximum",
                "amount_to_recover": case["amount_at_stake"],
                "sanction": True,
            },
            headers=AUDITOR,
        )
        assert concluded.status_code == 200, concluded.text
        assert concluded.json()["status"] == "concluded"
        rungs.append(concluded.json()["sanction"])
    assert rungs == ["reminder", "interview", "warning", "yellow", "red"]
    after = await this_month_totals(gateway)
    change = {name: after.get(name, Decimal(0)) - before.get(name, Decimal(0)) for name in after}
    assert change["cases_concluded"] == 5
    assert change["institutions_inspected"] == 1
    assert change["letters"] == 3
    assert change["yellow_cards"] == 1
    assert change["red_cards"] == 1
    assert change["amount_recovered"] == Decimal("150.00")
    bad_period = await gateway.get(
        "/api/v1/supervision/statistics", params={"from_month": "2026-05", "to_month": "2026-04"}, headers=AUDITOR
    )
    assert bad_period.status_code == 422

    # A flag goes into one case only; a practitioner's case gets points, not 三函两牌.
    again = await gateway.post(
        "/api/v1/supervision/cases",
        json={"subject_kind": "institution", "subject_code": institution, "flag_ids": [flags[0]]},
        headers=AUDITOR,
    )
    assert again.status_code == 409, again.text
    wrong_subject = await gateway.post(
        "/api/v1/supervision/cases",
        json={"subject_kind": "institution", "subject_code": "H00000000000", "flag_ids": [flags[5]]},
        headers=AUDITOR,
    )
    assert wrong_subject.status_code == 422, wrong_subject.text
    doctor_case = await gateway.post(
        "/api/v1/supervision/cases",
        json={"subject_kind": "practitioner", "subject_code": "D350582901", "flag_ids": [flags[5]]},
        headers=AUDITOR,
    )
    assert doctor_case.status_code == 201, doctor_case.text
    doctor_case_id = doctor_case.json()["id"]
    await gateway.post(f"/api/v1/supervision/cases/{doctor_case_id}/investigation", headers=AUDITOR)
    carded = await gateway.post(
        f"/api/v1/supervision/cases/{doctor_case_id}/conclusion",
        json={"finding": "x", "amount_to_recover": "0.00", "sanction": True},
        headers=AUDITOR,
    )
    assert carded.status_code == 422, carded.text
    assert carded.headers["content-type"] == "application/problem+json"

    credit = (await gateway.get(f"/api/v1/supervision/institutions/{institution}/credit", headers=AUDITOR)).json()
    assert credit["grade"] == "D"
    assert [s["kind"] for s in credit["sanctions"]] == rungs
    assert credit["recovered"] == "150.00"  # 10 + 20 + 30 + 40 + 50

    conn = await asyncpg.connect(database_url_for("supervision", running_stack.database_url))
    try:
        published = await conn.fetch(
            "SELECT convert_from(payload, 'UTF8')::jsonb AS p FROM outbox "
            "WHERE event_type = 'institution.sanctioned' AND subject = $1 ORDER BY id",
            institution,
        )
    finally:
        await conn.close()
    payloads = [json.loads(row["p"]) if isinstance(row["p"], str) else row["p"] for row in published]
    assert [p["sanction"] for p in payloads] == [
        "reminder_letter",
        "interview_letter",
        "warning_letter",
        "yellow_card",
        "red_card",
    ]
    assert [p["refuses_settlement"] for p in payloads] == [False, False, False, False, True]
