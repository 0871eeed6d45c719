"""The rule library through the gateway: a new version, backtested beside the active one over
today's stored claims, and activation."""

from __future__ import annotations

import random
import uuid
from datetime import datetime
from decimal import Decimal
from zoneinfo import ZoneInfo

import httpx

from shared.auth import Role
from shared.business_time import business_today
from tests.e2e.conftest import (
    AUDITOR,
    HOSPITAL,
    OPS,
    bearer,
    claim,
    designated_institution,
    eventually,
    insured_person,
    settle_when_eligible,
)

RULES = "/api/v1/supervision/rules"


async def test_a_new_version_is_backtested_beside_the_active_one(gateway: httpx.AsyncClient) -> None:
    institution = await designated_institution(gateway, f"H{random.randrange(10**11):011d}")
    person_no = await insured_person(gateway)
    body = claim(person_no, lines=[{"item_code": "XJ01CA0010201", "quantity": 45, "unit_price": "10.00"}])
    answer = await settle_when_eligible(
        gateway, body, str(uuid.uuid4()), headers=bearer(Role.HOSPITAL, "his-bt", institution)
    )
    assert answer.status_code == 201, answer.text
    settlement_id = answer.json()["settlement_id"]

    async def audited() -> bool:
        got = await gateway.get(f"/api/v1/supervision/audits/{settlement_id}", headers=AUDITOR)
        return got.status_code == 200

    await eventually(audited, what="the audit")

    created = await gateway.post(
        f"{RULES}/QTY-MAX-LINE/versions",
        json={"parameters": {"max_quantity": 40}, "effective_from": "2027-01-01"},
        headers=AUDITOR,
    )
    assert created.status_code == 201, created.text
    version = created.json()
    assert version["active"] is False
    assert version["severity"] == "warn"  # copied from the active version
    assert version["version"] >= 2

    # The claim is dated by the test's clock (UTC), the backtest's business day is Beijing's: span both.
    today = datetime.now(ZoneInfo("Asia/Shanghai")).date()
    result = await gateway.post(
        f"{RULES}/QTY-MAX-LINE/versions/{version['version']}/backtest",
        json={"from_date": min(today, business_today()).isoformat(), "to_date": today.isoformat()},
        headers=AUDITOR,
    )
    assert result.status_code == 200, result.text
    report = result.json()
    assert report["claims_examined"] >= 1
    assert report["active"]["version"] == 1
    mine_active = [i for i in report["active"]["top_institutions"] if i["institution_code"] == institution]
    mine_candidate = [i for i in report["candidate"]["top_institutions"] if i["institution_code"] == institution]
    assert mine_active == [{"institution_code": institution, "findings": 1, "amount_at_stake": "150.00"}]
    assert mine_candidate == [{"institution_code": institution, "findings": 1, "amount_at_stake": "50.00"}]
    assert Decimal(report["candidate"]["amount_at_stake"]) < Decimal(report["active"]["amount_at_stake"])

    # Nothing changed for the audits: the candidate is not active.
    listed = (await gateway.get(RULES, headers=OPS)).json()
    assert [v["version"] for v in listed if v["rule_id"] == "QTY-MAX-LINE" and v["active"]] == [1]


async def test_rule_versions_refuse_what_cannot_run_and_activate_one_at_a_time(gateway: httpx.AsyncClient) -> None:
    bad = await gateway.post(
        f"{RULES}/QTY-MAX-LINE/versions",
        json={"parameters": {"max_quantity": "many"}, "effective_from": "2027-01-01"},
        headers=AUDITOR,
    )
    assert bad.status_code == 422, bad.text
    assert bad.json()["type"].endswith("/invalid-rule-version")
    unknown = await gateway.post(
        f"{RULES}/NO-SUCH-RULE/versions", json={"effective_from": "2027-01-01"}, headers=AUDITOR
    )
    assert unknown.status_code == 404
    hospital = await gateway.post(
        f"{RULES}/QTY-MAX-LINE/versions", json={"effective_from": "2027-01-01"}, headers=HOSPITAL
    )
    assert hospital.status_code == 403
    backwards = await gateway.post(
        f"{RULES}/QTY-MAX-LINE/versions/1/backtest",
        json={"from_date": "2026-02-01", "to_date": "2026-01-01"},
        headers=AUDITOR,
    )
    assert backwards.status_code == 422

    # PEER-OUTLIER is post-only and needs five peers: activating a stricter version is harmless to other tests.
    created = await gateway.post(
        f"{RULES}/PEER-OUTLIER/versions",
        json={"parameters": {"z_threshold": 4, "min_peers": 5}, "effective_from": "2025-01-01"},
        headers=AUDITOR,
    )
    assert created.status_code == 201, created.text
    number = created.json()["version"]
    activated = await gateway.post(f"{RULES}/PEER-OUTLIER/versions/{number}/activation", headers=AUDITOR)
    assert activated.status_code == 200, activated.text
    assert activated.json()["active"] is True
    listed = (await gateway.get(RULES, headers=AUDITOR)).json()
    assert [v["version"] for v in listed if v["rule_id"] == "PEER-OUTLIER" and v["active"]] == [number]
