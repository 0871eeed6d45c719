"""The settle path's in-process catalogue and policy caches never serve what the database no longer
holds: a catalogue replaced, or a policy version added, by another process (another replica of the
API, or ops' SQL) is what the very next settlement uses. Settlement's app in-process on the real,
migrated PostgreSQL; the change is made with SQL beside it, so no local invalidation can explain it.
"""

from __future__ import annotations

import json
import random
import uuid
from collections.abc import AsyncIterator
from datetime import date, datetime
from typing import Any
from zoneinfo import ZoneInfo

import httpx
import pytest
from sqlalchemy import text

from devstack.stack import Stack
from devstack.tokens import development_token
from shared.auth import Role
from shared.events.contracts import EnrollmentActivated, PersonRegistered
from tests.integration.settlement_app import API, DATA, OPS, SettlementApp, settlement_app

INSTITUTION = "HIT0000000003"
HOSPITAL = {"Authorization": f"Bearer {development_token(Role.HOSPITAL, 'his-it', institution=INSTITUTION)}"}
ADMITTED, DISCHARGED = date(2026, 9, 1), date(2026, 9, 5)  # resident L3 inpatient: policy v4 (起付线 800, 0.67)
RABEPRAZOLE = "XA02BC0220601"  # 雷贝拉唑肠溶片, 乙类 10%, limit 68.00


class Harness(SettlementApp):
    async def insured(self) -> str:
        person_no = f"P{random.randrange(10**10, 10**11)}"
        await self.deliver(
            PersonRegistered(
                person_no=person_no,
                id_number_masked="350582********123X",
                birth_date=date(1970, 5, 1),
                sex="M",
                hukou_region_code="350582",
                residence_region_code="350582",
                registered_at=datetime.now(ZoneInfo("UTC")),
            )
        )
        await self.deliver(
            EnrollmentActivated(
                enrollment_id=uuid.uuid4(),
                person_no=person_no,
                scheme="resident",
                year=2026,
                region_code="350582",
                effective_from=date(2026, 1, 1),
                effective_to=date(2026, 12, 31),
            )
        )
        return person_no

    async def settle(self, person_no: str, lines: list[tuple[str, int, str]]) -> httpx.Response:
        body = {
            "person_no": person_no,
            "visit_type": "inpatient",
            "admitted_on": ADMITTED.isoformat(),
            "discharged_on": DISCHARGED.isoformat(),
            "practitioner_code": "D350582001",
            "diagnoses": ["K25.9"],
            "lines": [{"item_code": c, "quantity": q, "unit_price": p} for c, q, p in lines],
        }
        return await self.client.post(
            f"{API}/settlements", json=body, headers={**HOSPITAL, "Idempotency-Key": str(uuid.uuid4())}
        )

    async def sql(self, *statements: str, params: dict[str, Any] | None = None) -> None:
        """A change made beside the app, in a transaction of its own (as another process would)."""
        async with self.db.transaction() as session:
            for statement in statements:
                await session.execute(text(statement), params or {})


@pytest.fixture
async def harness(infra: Stack) -> AsyncIterator[Harness]:
    async with settlement_app(infra, institution=INSTITUTION, hospital_name="缓存测试医院") as app:
        yield Harness(app.client, app.db)


def _breakdown(answer: httpx.Response) -> dict[str, str]:
    assert answer.status_code == 201, answer.text
    breakdown: dict[str, str] = answer.json()["breakdown"]
    return breakdown


async def test_a_catalogue_replaced_by_another_process_is_used_by_the_next_settlement(harness: Harness) -> None:
    person_no = await harness.insured()
    line = [(RABEPRAZOLE, 2, "30.00")]
    before = _breakdown(await harness.settle(person_no, line))  # 乙类: 10% 先行自付, cached from here on
    assert (before["preselfpay_amt"], before["fulamt_ownpay_amt"]) == ("6.00", "0.00")
    cached = _breakdown(await harness.settle(person_no, line))  # served from the cache: the same item
    assert (cached["preselfpay_amt"], cached["fulamt_ownpay_amt"]) == ("6.00", "0.00")
    try:
        # Another replica's PUT /catalogue: the item's rows replaced by new ones (new ids), now 丙类.
        await harness.sql(
            "WITH old AS (DELETE FROM catalogue_items WHERE code = :code RETURNING *)"
            " INSERT INTO catalogue_items (region, code, name, category, item_class, preselfpay_ratio, limit_price,"
            " sex, min_age, max_age, min_institution_level, max_qty_per_day, max_qty_per_stay, valid_from,"
            " valid_to) SELECT region, code, name, category, 'C', 0, limit_price, sex, min_age, max_age,"
            " min_institution_level, max_qty_per_day, max_qty_per_stay, valid_from, valid_to FROM old ORDER BY id",
            params={"code": RABEPRAZOLE},
        )
        after = _breakdown(await harness.settle(person_no, line))
        assert (after["preselfpay_amt"], after["fulamt_ownpay_amt"]) == ("0.00", "60.00")  # 丙类: all self-paid
        # ... and removed from the catalogue altogether: the next claim with it is refused.
        await harness.sql("DELETE FROM catalogue_items WHERE code = :code", params={"code": RABEPRAZOLE})
        refused = await harness.settle(person_no, line)
        assert refused.status_code == 422, refused.text
        assert refused.json()["type"].endswith("/unknown-item")
    finally:
        csv = {**OPS, "Content-Type": "text/csv"}
        restored = await harness.client.put(
            f"{API}/catalogue", content=(DATA / "catalogue.csv").read_bytes(), headers=csv
        )
        assert restored.status_code == 200, restored.text
    again = _breakdown(await harness.settle(person_no, line))
    assert (again["preselfpay_amt"], again["fulamt_ownpay_amt"]) == ("6.00", "0.00")


async def test_a_policy_version_added_by_another_process_is_used_by_the_next_settlement(harness: Harness) -> None:
    first, second = await harness.insured(), await harness.insured()
    line = [(RABEPRAZOLE, 20, "60.00")]  # 1200.00: 1080.00 in scope after 10% 先行自付
    # v4: v2 (from July, 起付线 800, 0.67) with 医疗救助 per group; v5 is another replica's.
    under_v4 = await harness.settle(first, line)
    assert _breakdown(under_v4)["hifp_pay"] == "187.60"  # (1080 - 800) × 0.67
    assert under_v4.json()["policy_version"] == "350500-2026-resident-inpatient-L3-v4"
    version_5 = {"version": "5", "effective_from": "2026-08-01", "ratio": "0.50"}
    key = "region = '350500' AND scheme = 'resident' AND year = 2026 AND visit_type = 'inpatient'"
    key += " AND institution_level = 3 AND NOT retiree"
    try:
        await harness.sql(  # another replica's POST /policies: a new version, from August
            f"INSERT INTO policies (region, scheme, year, visit_type, institution_level, retiree, version, source_row)"  # noqa: S608
            f" SELECT region, scheme, year, visit_type, institution_level, retiree, 5,"
            f" source_row || CAST(:changes AS jsonb) FROM policies WHERE {key} AND version = 4",
            params={"changes": json.dumps(version_5)},
        )
        under_v5 = await harness.settle(second, line)
        assert _breakdown(under_v5)["hifp_pay"] == "140.00", under_v5.text  # (1080 - 800) × 0.50
        assert under_v5.json()["policy_version"] == "350500-2026-resident-inpatient-L3-v5"
    finally:
        await harness.sql(f"DELETE FROM policies WHERE {key} AND version = 5")  # noqa: S608
    # The count fell back: the cache reloads rather than keep serving the removed version.
    back = await harness.settle(await harness.insured(), line)
    assert back.json()["policy_version"] == "350500-2026-resident-inpatient-L3-v4", back.text
