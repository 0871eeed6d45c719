"""Cross-region direct settlement (异地就医直接结算) through the gateway: a person insured in Quanzhou
(350500) is treated at a Fuzhou (350100) hospital under an approved filing; the hospital settles
twice and reverses once; the daily reconciliation agrees with the ledger; each region's books
balance; the monthly clearing run has Quanzhou pay Fuzhou what Fuzhou's fund advanced, once.
"""

from __future__ import annotations

import random
import uuid
from datetime import date, datetime, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

import asyncpg
import httpx

from devstack.stack import Stack
from shared.auth import Role
from shared.business_time import business_today
from shared.settings import database_url_for
from tests.e2e.conftest import AUDITOR, HOSPITAL, OPS, bearer, claim, eventually, insured_person

API = "/api/v1/settlement"
FUZHOU_HOSPITAL = "H35010200001"


async def _approve_filing(gateway: httpx.AsyncClient, person_no: str) -> None:
    """异地长期居住 filing for Fuzhou: filed with enrollment, reviewed and approved by ops; enrollment
    publishes filing.approved, which settlement projects."""
    filings = f"/api/v1/enrollment/persons/{person_no}/filings"
    today = business_today()
    filed = await gateway.post(
        filings,
        json={
            "filing_type": "long_term_resident",
            "destination_region_code": "350100",
            "valid_from": today.isoformat(),
            "valid_to": (today + timedelta(days=364)).isoformat(),  # long-term: 180 days at least
        },
        headers=OPS,
    )
    assert filed.status_code == 201, filed.text
    if filed.json()["status"] == "pending_review":
        approved = await gateway.post(f"{filings}/{filed.json()['id']}/approve", headers=OPS)
        assert approved.status_code == 200, approved.text
        assert approved.json()["status"] == "approved"
    else:
        assert filed.json()["status"] == "approved"


async def test_settle_reverse_reconcile_and_clear_across_two_regions(
    gateway: httpx.AsyncClient, running_stack: Stack
) -> None:
    fuzhou = {"name": "福州市第一医院", "level": 3, "region_code": "350102", "institution_type": "hospital"}
    put = await gateway.put(f"{API}/institutions/{FUZHOU_HOSPITAL}", json=fuzhou, headers=OPS)
    assert put.status_code == 200, put.text
    fz = bearer(Role.HOSPITAL, "his-fz", FUZHOU_HOSPITAL)
    person_no = await insured_person(gateway, scheme="resident")
    body = claim(person_no)  # 1041.80 in all, 先行自付 3.68, scope 1038.12
    body["admitted_on"] = business_today().isoformat()  # within the filing, which starts today

    async def hifp_pay() -> str | None:
        answer = await gateway.post(f"{API}/settlements/pre", json=body, headers=fz)
        return str(answer.json()["breakdown"]["hifp_pay"]) if answer.status_code == 200 else None

    # Fuzhou's catalogue, Quanzhou's policy (resident L3: 起付线 800, 0.67; unfiled −0.15):
    # unfiled (1038.12 − 800) × 0.52 = 123.8224 → 123.82; filed × 0.67 = 159.5404 → 159.54.
    async def unfiled() -> bool:
        return await hifp_pay() == "123.82"

    await eventually(unfiled, what="settlement's eligibility projection")
    await _approve_filing(gateway, person_no)

    async def filed() -> bool:
        return await hifp_pay() == "159.54"

    await eventually(filed, what="the filing in settlement's projection")

    # The second claim bills other items: the same items again on the same day would be a
    # duplicate charge, which supervision's in-stage check (事中审核) refuses once it has seen the first.
    second_body = {
        **body,
        "lines": [
            {"item_code": "XJ01FA0120101", "quantity": 2, "unit_price": "50.00"},  # 克拉霉素片, 甲类
            {"item_code": "XJ01XD0130402", "quantity": 1, "unit_price": "60.00"},  # 甲硝唑注射液, 甲类
        ],
    }
    settled = []
    for claim_body in (body, second_body):
        answer = await gateway.post(
            f"{API}/settlements", json=claim_body, headers={**fz, "Idempotency-Key": str(uuid.uuid4())}
        )
        assert answer.status_code == 201, answer.text
        settled.append(answer.json())
    first, second = settled
    assert first["breakdown"]["hifp_pay"] == "159.54"
    assert first["policy_version"].startswith(f"350500-{business_today().year}-resident-inpatient-L3-")
    assert Decimal(second["breakdown"]["hifp_pay"]) > 0
    reversed_ = await gateway.post(f"{API}/settlements/{second['settlement_id']}/reversal", headers=fz)
    assert reversed_.status_code == 200, reversed_.text
    advanced = Decimal(first["breakdown"]["fund_pay_sumamt"]) + Decimal(first["breakdown"]["acct_pay"])
    assert advanced == Decimal("159.54")

    # 日对账: the Fuzhou hospital's statement for the business day (Asia/Shanghai) agrees with the ledger.
    today = datetime.now(ZoneInfo("Asia/Shanghai")).date()
    answer = await gateway.get(f"{API}/institutions/{FUZHOU_HOSPITAL}/reconciliation/{today}", headers=fz)
    assert answer.status_code == 200, answer.text
    statement = answer.json()
    assert statement["settled"]["count"] == 2
    assert statement["reversed"]["count"] == 1
    assert Decimal(statement["owed_to_institution"]) == advanced
    assert Decimal(statement["ledger_payable"]) == advanced
    assert statement["ledger_journals"] == {"settlement": 2, "reversal": 1}
    assert statement["agrees"] is True
    other = await gateway.get(f"{API}/institutions/{FUZHOU_HOSPITAL}/reconciliation/{today}", headers=HOSPITAL)
    assert other.status_code == 403
    assert other.headers["content-type"] == "application/problem+json"

    # Each region's books balance; Fuzhou holds the claim on Quanzhou, Quanzhou owes it.
    fz_books = (
        await gateway.get(f"{API}/ledger/trial-balance", params={"region_code": "350100"}, headers=AUDITOR)
    ).json()
    qz_books = (
        await gateway.get(f"{API}/ledger/trial-balance", params={"region_code": "350500"}, headers=AUDITOR)
    ).json()
    assert fz_books["balanced"] is True
    assert qz_books["balanced"] is True
    fz_accounts = {a["account"]: Decimal(a["balance"]) for a in fz_books["accounts"]}
    qz_accounts = {a["account"]: Decimal(a["balance"]) for a in qz_books["accounts"]}
    assert fz_accounts["interregion_receivable"] == advanced
    assert fz_accounts["payable_to_institutions"] == -advanced
    assert qz_accounts["interregion_payable"] == -advanced
    assert "basic_fund_expense" not in fz_accounts  # Fuzhou's fund only advanced

    # 月度清算: this month is not over, so it cannot be cleared yet.
    current = f"{business_today():%Y-%m}"
    early = await gateway.post(f"{API}/clearing/runs", json={"month": current}, headers=OPS)
    assert early.status_code == 422
    assert early.json()["type"].endswith("/month-not-over")
    # The test moves its own postings to a past month of their own (a month no other test posts
    # in), as if they had been made then, and clears that month.
    month = date(random.randrange(1990, 2020), random.randrange(1, 13), 15)
    ids = [uuid.UUID(first["settlement_id"]), uuid.UUID(second["settlement_id"])]
    conn = await asyncpg.connect(database_url_for("settlement", running_stack.database_url))
    try:
        await conn.execute("UPDATE ledger_entries SET business_date = $1 WHERE settlement_id = ANY($2)", month, ids)
    finally:
        await conn.close()
    forbidden = await gateway.post(f"{API}/clearing/runs", json={"month": f"{month:%Y-%m}"}, headers=fz)
    assert forbidden.status_code == 403
    run = await gateway.post(f"{API}/clearing/runs", json={"month": f"{month:%Y-%m}"}, headers=OPS)
    assert run.status_code == 201, run.text
    assert run.json()["lines"] == [
        {
            "payer_region": "350500",
            "payee_region": "350100",
            "net_amount": str(advanced),
            "payee_advanced": str(advanced),
            "payer_advanced": "0.00",
        }
    ]

    # The run is journalled: the claim between the two regions is closed in both books, the net
    # transfer leaves Quanzhou's deposits for Fuzhou's, and each region's books still balance.
    async def books(region: str) -> tuple[bool, dict[str, Decimal]]:
        answer = await gateway.get(f"{API}/ledger/trial-balance", params={"region_code": region}, headers=AUDITOR)
        assert answer.status_code == 200, answer.text
        return answer.json()["balanced"], {a["account"]: Decimal(a["balance"]) for a in answer.json()["accounts"]}

    fz_balanced, fz_cleared = await books("350100")
    qz_balanced, qz_cleared = await books("350500")
    assert fz_balanced
    assert qz_balanced
    assert fz_cleared["interregion_receivable"] == 0
    assert qz_cleared["interregion_payable"] == 0
    assert fz_cleared["fund_bank_deposits"] == advanced
    assert qz_cleared["fund_bank_deposits"] == -advanced
    again = await gateway.post(f"{API}/clearing/runs", json={"month": f"{month:%Y-%m}"}, headers=OPS)
    assert again.status_code == 200
    assert again.json() == run.json()
    assert await books("350100") == (True, fz_cleared)  # asked again, nothing more is posted
    stored = await gateway.get(f"{API}/clearing/runs/{month:%Y-%m}", headers=AUDITOR)
    assert stored.status_code == 200
    assert stored.json() == run.json()
    bad = await gateway.post(f"{API}/clearing/runs", json={"month": "2026-13"}, headers=OPS)
    assert bad.status_code == 422
