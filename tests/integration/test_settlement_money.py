"""Settlement against the real, migrated PostgreSQL: the ASGI app called in-process.

50 concurrent settlements of one person use the deductible once and never pass the cap; a reversal
restores the accumulators exactly, once; every refusal is a 422 problem naming its cause; reference
data loads are validated and never half-written. Projections are fed by the real event handlers.
"""

from __future__ import annotations

import asyncio
import random
import uuid
from collections.abc import AsyncIterator
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

import httpx
import pytest
from sqlalchemy import func, select, text

from devstack.stack import Stack
from devstack.tokens import development_token
from services.settlement.catalogue import catalogue_on, load_catalogue
from services.settlement.models import AccumulatorRow, PolicyRow, Settlement
from services.settlement.policies import load_policies, select_policy
from services.settlement.service import Accumulators, ClaimInput, LineInput, calculate, parse_burden_thresholds
from services.settlement.settings import Settings
from shared.auth import Role
from shared.events.contracts import (
    ContributionPosted,
    EnrollmentActivated,
    EnrollmentSuspended,
    FilingApproved,
    FilingRevoked,
    InstitutionSanctioned,
    PersonDeceased,
    PersonRegistered,
    PractitionerReinstated,
    PractitionerSuspended,
)
from tests.integration.settlement_app import API, DATA, OPS, SettlementApp, settlement_app

INSTITUTION = "HIT0000000001"
HOSPITAL = {"Authorization": f"Bearer {development_token(Role.HOSPITAL, 'his-it', institution=INSTITUTION)}"}
ADMITTED, DISCHARGED = date(2026, 9, 1), date(2026, 9, 5)  # resident L3 inpatient: policy v4 (起付线 800, 0.67)
STENT = "00331100430000"  # 经皮冠状动脉支架置入术, 甲类, limit 4200.00, level 3 only
AMBROXOL = "XR05CB0690402"  # 氨溴索注射液, 甲类, limit 1040.00
RABEPRAZOLE = "XA02BC0220601"  # 雷贝拉唑肠溶片, 乙类 10%, limit 68.00


class Harness(SettlementApp):
    async def insured(self, *, scheme: str = "resident") -> str:
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
                scheme=scheme,
                year=2026,
                region_code="350582",
                effective_from=date(2026, 1, 1),
                effective_to=date(2026, 12, 31),
            )
        )
        return person_no

    async def settle(self, body: dict[str, Any], *, key: str | None = None) -> httpx.Response:
        return await self.client.post(
            f"{API}/settlements", json=body, headers={**HOSPITAL, "Idempotency-Key": key or str(uuid.uuid4())}
        )

    async def accumulators(self, person_no: str) -> dict[str, Any]:
        async with self.db.transaction() as session:
            row = await session.get(AccumulatorRow, (person_no, 2026))
            assert row is not None
            return {c.key: getattr(row, c.key) for c in AccumulatorRow.__table__.columns}


def stay(person_no: str, lines: list[tuple[str, int, str]], *, practitioner: str = "D350582001") -> dict[str, Any]:
    return {
        "person_no": person_no,
        "visit_type": "inpatient",
        "admitted_on": ADMITTED.isoformat(),
        "discharged_on": DISCHARGED.isoformat(),
        "practitioner_code": practitioner,
        "diagnoses": ["I21.0"],
        "lines": [{"item_code": c, "quantity": q, "unit_price": p} for c, q, p in lines],
    }


@pytest.fixture
async def harness(infra: Stack) -> AsyncIterator[Harness]:
    async with settlement_app(infra, institution=INSTITUTION, hospital_name="集成测试医院") as app:
        yield Harness(app.client, app.db)


def _money(answer: dict[str, Any], field: str) -> Decimal:
    return Decimal(answer["breakdown"][field])


async def test_fifty_concurrent_settlements_use_the_deductible_once_and_never_pass_the_cap(
    harness: Harness,
) -> None:
    person_no = await harness.insured()
    # Each stay: 4200 + 5 × 1000 = 9200 in scope; 50 of them would owe the fund far past the 150,000 cap.
    body = stay(person_no, [(STENT, 1, "4200.00"), (AMBROXOL, 5, "1000.00")])
    answers = await asyncio.gather(*(harness.settle(body) for _ in range(50)))
    assert [a.status_code for a in answers] == [201] * 50, {a.text for a in answers if a.status_code != 201}
    settled = [a.json() for a in answers]

    deductibles = [
        Decimal(step["amount"])
        for s in settled
        for step in s["explanation"]
        if step["rule"] == "起付线 deductible" and Decimal(step["amount"]) > 0
    ]
    assert deductibles == [Decimal("800.00")], "the deductible is used once, by one settlement"
    fund = sum((_money(s, "hifp_pay") for s in settled), Decimal(0))
    assert fund == Decimal("150000.00"), "the basic fund pays exactly up to its cap, never past it"
    critical = sum((_money(s, "hifmi_pay") for s in settled), Decimal(0))
    assert critical <= Decimal("400000.00")

    # The same 50 claims one after another, by the pure calculator, pay the same in total.
    catalogue = catalogue_on(load_catalogue((DATA / "catalogue.csv").read_text()), DISCHARGED, "350500")
    policy = select_policy(
        load_policies((DATA / "policies.csv").read_text()), "350500", "resident", DISCHARGED, "inpatient", 3, False
    )
    serial = Accumulators()
    claim = ClaimInput(
        lines=(LineInput(STENT, 1, Decimal("4200.00")), LineInput(AMBROXOL, 5, Decimal("1000.00"))),
        visit_type="inpatient",
    )
    for _ in range(50):
        serial = calculate(claim, policy, catalogue, serial).accumulators
    assert (fund, critical) == (serial.basic_fund_paid, serial.critical_paid)

    stored = await harness.accumulators(person_no)
    assert stored["settlements"] == 50
    assert stored["deductible_used"] == Decimal("800.00")
    assert stored["basic_fund_paid"] == fund
    assert stored["critical_paid"] == critical
    personal = sum((_money(s, "acct_pay") + _money(s, "psn_cash_pay") for s in settled), Decimal(0))
    assert stored["personal_burden"] == personal
    async with harness.db.transaction() as session:
        rows = (await session.scalars(select(Settlement).where(Settlement.person_no == person_no))).all()
        events = await session.scalar(
            text("SELECT count(*) FROM outbox WHERE event_type = 'claim.settled' AND subject = :p"), {"p": person_no}
        )
    assert len(rows) == 50
    assert sum((r.hifp_pay for r in rows), Decimal(0)) == stored["basic_fund_paid"]
    assert events == 50

    # 高额费用预警: each band the yearly personal burden crossed was raised exactly once.
    async with harness.db.transaction() as session:
        bands = (
            await session.scalars(
                text(
                    "SELECT convert_from(payload, 'UTF8')::jsonb->>'band' FROM outbox "
                    "WHERE event_type = 'burden.alerted' AND subject = :p"
                ),
                {"p": person_no},
            )
        ).all()
    expected = [t.band for t in parse_burden_thresholds(Settings().burden_thresholds) if t.amount <= personal]
    assert expected, "the 50 stays are meant to cross at least one band"
    assert sorted(bands) == sorted(expected)


async def test_an_employee_personal_account_pays_once_credited_and_gets_it_back_on_reversal(
    harness: Harness,
) -> None:
    person_no = await harness.insured(scheme="employee")
    contribution = ContributionPosted(
        contribution_id=uuid.uuid4(),
        enrollment_id=uuid.uuid4(),
        person_no=person_no,
        scheme="employee",
        year=2026,
        individual=Decimal("200.00"),
        employer=Decimal("800.00"),
        subsidy=Decimal("0.00"),
        personal_account_credit=Decimal("300.00"),
        posted_at=datetime.now(ZoneInfo("UTC")),
    )
    await harness.deliver(contribution)
    await harness.deliver(contribution)  # the same contribution again (a replay): credited once
    account = f"{API}/persons/{person_no}/account"
    assert (await harness.client.get(account, headers=OPS)).json()["balance"] == "300.00"

    # Employee L3 inpatient v2 (起付线 800, 0.90): 2000 + 100 (先行自付 10.00), scope 2090.00;
    # fund (2090 − 800) × 0.90 = 1161.00; personal 939.00: the account pays 300.00, cash 639.00.
    first = await harness.settle(stay(person_no, [(AMBROXOL, 2, "1000.00"), (RABEPRAZOLE, 2, "50.00")]))
    assert first.status_code == 201, first.text
    breakdown = first.json()["breakdown"]
    assert (breakdown["hifp_pay"], breakdown["acct_pay"], breakdown["psn_cash_pay"]) == ("1161.00", "300.00", "639.00")
    assert (await harness.client.get(account, headers=OPS)).json()["balance"] == "0.00"
    second = await harness.settle(stay(person_no, [(AMBROXOL, 1, "100.00")]))
    assert second.json()["breakdown"]["acct_pay"] == "0.00"

    undone = await harness.client.post(f"{API}/settlements/{first.json()['settlement_id']}/reversal", headers=OPS)
    assert undone.status_code == 200, undone.text
    assert (await harness.client.get(account, headers=OPS)).json()["balance"] == "300.00"


async def test_a_reversal_restores_the_accumulators_exactly_and_only_once(harness: Harness) -> None:
    person_no = await harness.insured()
    first = await harness.settle(stay(person_no, [(AMBROXOL, 2, "999.99"), (RABEPRAZOLE, 3, "36.85")]))
    assert first.status_code == 201, first.text
    after_first = await harness.accumulators(person_no)
    second_body = stay(person_no, [(STENT, 1, "4199.97"), (RABEPRAZOLE, 7, "33.33")])
    second = await harness.settle(second_body)
    assert second.status_code == 201, second.text
    assert await harness.accumulators(person_no) != after_first
    second_id = second.json()["settlement_id"]

    key = str(uuid.uuid4())
    reversed_ = await harness.client.post(
        f"{API}/settlements/{second_id}/reversal", headers={**HOSPITAL, "Idempotency-Key": key}
    )
    assert reversed_.status_code == 200, reversed_.text
    assert reversed_.json()["status"] == "reversed"
    assert reversed_.json()["breakdown"] == second.json()["breakdown"]
    assert await harness.accumulators(person_no) == after_first  # to the last digit, basic_fund_due included

    # A retry with the same key gets the first answer; another reversal is refused.
    retry = await harness.client.post(
        f"{API}/settlements/{second_id}/reversal", headers={**HOSPITAL, "Idempotency-Key": key}
    )
    assert retry.status_code == 200
    assert retry.text == reversed_.text
    assert retry.headers["idempotent-replayed"] == "true"
    again = await harness.client.post(f"{API}/settlements/{second_id}/reversal", headers=OPS)
    assert again.status_code == 409
    assert again.headers["content-type"] == "application/problem+json"
    assert again.json()["type"] == "https://yibao.dev/problems/settlement-already-reversed"
    assert await harness.accumulators(person_no) == after_first

    # Settled again, the same stay pays what it paid the first time: nothing of it was left behind.
    redo = await harness.settle(second_body)
    assert redo.json()["breakdown"] == second.json()["breakdown"]

    # Undoing everything brings the person-year back to zero.
    for settlement_id in (first.json()["settlement_id"], redo.json()["settlement_id"]):
        undone = await harness.client.post(f"{API}/settlements/{settlement_id}/reversal", headers=OPS)
        assert undone.status_code == 200, undone.text
    final = await harness.accumulators(person_no)
    assert final["settlements"] == 0
    assert all(final[f] == 0 for f in Accumulators.__dataclass_fields__), final

    read = await harness.client.get(f"{API}/settlements/{second_id}", headers=HOSPITAL)
    assert read.json()["status"] == "reversed"
    assert read.json()["reversed_at"] is not None
    async with harness.db.transaction() as session:
        reversals = await session.scalar(
            text("SELECT count(*) FROM outbox WHERE event_type = 'claim.reversed' AND subject = :p"), {"p": person_no}
        )
    assert reversals == 3

    # The ledger: the reversal's entries mirror the settlement's, account by account.
    async with harness.db.transaction() as session:
        net = (
            await session.execute(
                text(
                    "SELECT account, sum(debit) - sum(credit), count(*) FROM ledger_entries "
                    "WHERE settlement_id = :s GROUP BY account"
                ),
                {"s": second_id},
            )
        ).all()
    assert net, "the settlement was journalled"
    assert all(amount == 0 and lines == 2 for _, amount, lines in net), net
    trial = await harness.client.get(
        f"{API}/ledger/trial-balance", params={"institution_code": INSTITUTION}, headers=OPS
    )
    assert trial.status_code == 200, trial.text
    assert trial.json()["balanced"] is True
    assert Decimal(trial.json()["total_debit"]) > 0
    assert trial.json()["total_debit"] == trial.json()["total_credit"]


async def test_a_reversal_key_reused_for_another_settlement_is_refused(harness: Harness) -> None:
    person_no = await harness.insured()
    first = await harness.settle(stay(person_no, [(AMBROXOL, 1, "100.00")]))
    second = await harness.settle(stay(person_no, [(AMBROXOL, 1, "90.00")]))
    assert first.status_code == second.status_code == 201, (first.text, second.text)
    key = str(uuid.uuid4())
    undone = await harness.client.post(
        f"{API}/settlements/{first.json()['settlement_id']}/reversal", headers={**HOSPITAL, "Idempotency-Key": key}
    )
    assert undone.status_code == 200, undone.text

    # The same key for a different settlement: refused like a key reused with another body, nothing reversed.
    reused = await harness.client.post(
        f"{API}/settlements/{second.json()['settlement_id']}/reversal", headers={**HOSPITAL, "Idempotency-Key": key}
    )
    assert reused.status_code == 422, reused.text
    assert reused.headers["content-type"] == "application/problem+json"
    assert reused.json()["type"] == "https://yibao.dev/problems/idempotency-key-reused"
    still = await harness.client.get(f"{API}/settlements/{second.json()['settlement_id']}", headers=HOSPITAL)
    assert still.json()["status"] != "reversed"

    # Staff keys are their own: an operator's key does not collide with the hospital's.
    by_ops = await harness.client.post(
        f"{API}/settlements/{second.json()['settlement_id']}/reversal", headers={**OPS, "Idempotency-Key": key}
    )
    assert by_ops.status_code == 200, by_ops.text
    assert by_ops.json()["status"] == "reversed"


async def test_another_hospital_may_not_reverse(harness: Harness) -> None:
    person_no = await harness.insured()
    settled = await harness.settle(stay(person_no, [(AMBROXOL, 1, "100.00")]))
    other = {"Authorization": f"Bearer {development_token(Role.HOSPITAL, 'x', institution='HOTHER000001')}"}
    answer = await harness.client.post(f"{API}/settlements/{settled.json()['settlement_id']}/reversal", headers=other)
    assert answer.status_code == 403


async def _refusal(harness: Harness, body: dict[str, Any], headers: dict[str, str] | None = None) -> dict[str, Any]:
    answer = await harness.client.post(
        f"{API}/settlements", json=body, headers={**(headers or HOSPITAL), "Idempotency-Key": str(uuid.uuid4())}
    )
    assert answer.status_code == 422, answer.text
    assert answer.headers["content-type"] == "application/problem+json"
    problem: dict[str, Any] = answer.json()
    return problem


async def test_refusals_name_their_cause_and_store_nothing(harness: Harness) -> None:
    person_no = await harness.insured()

    unknown = await _refusal(harness, stay(person_no, [(AMBROXOL, 1, "10.00"), ("NOSUCHCODE", 1, "1.00")]))
    assert unknown["type"].endswith("/unknown-item")
    assert "NOSUCHCODE" in unknown["detail"]
    assert unknown["errors"] == [
        {"field": "lines.1.item_code", "message": "NOSUCHCODE is not a catalogue item on 2026-09-05"}
    ]

    nobody = await _refusal(harness, stay("P00000000000", [(AMBROXOL, 1, "10.00")]))
    assert nobody["type"].endswith("/person-unknown")

    today = datetime.now(ZoneInfo("Asia/Shanghai")).date()
    doctor = f"DIT{random.randrange(10**8)}"
    await harness.deliver(
        PractitionerSuspended(
            practitioner_code=doctor, points=12, suspended_from=today - timedelta(days=1), reason="记满12分"
        )
    )
    suspended = await _refusal(harness, stay(person_no, [(AMBROXOL, 1, "10.00")], practitioner=doctor))
    assert suspended["type"].endswith("/practitioner-suspended")
    assert doctor in suspended["detail"]
    await harness.deliver(PractitionerReinstated(practitioner_code=doctor, reinstated_on=today))
    ok = await harness.settle(stay(person_no, [(AMBROXOL, 1, "10.00")], practitioner=doctor))
    assert ok.status_code == 201, ok.text

    # An institution under a red card, and one whose agreement is suspended.
    for code in ("HITRED0000001", "HITSUSP000001"):
        hospital = {"name": code, "level": 3, "region_code": "350582", "institution_type": "hospital"}
        if code == "HITSUSP000001":
            hospital["agreement_status"] = "suspended"
        assert (await harness.client.put(f"{API}/institutions/{code}", json=hospital, headers=OPS)).status_code == 200
    await harness.deliver(
        InstitutionSanctioned(
            institution_code="HITRED0000001", sanction="red_card", refuses_settlement=True, effective_from=today
        )
    )
    for code in ("HITRED0000001", "HITSUSP000001", "HITNOSUCH0001"):
        token = {"Authorization": f"Bearer {development_token(Role.HOSPITAL, 'h', institution=code)}"}
        problem = await _refusal(harness, stay(person_no, [(AMBROXOL, 1, "10.00")]), token)
        kind = "institution-unknown" if code == "HITNOSUCH0001" else "institution-suspended"
        assert problem["type"].endswith(f"/{kind}"), problem
        assert code in problem["detail"]

    dead = await harness.insured()
    await harness.deliver(
        PersonDeceased(person_no=dead, died_on=date(2026, 9, 2), recorded_at=datetime.now(ZoneInfo("UTC")))
    )
    deceased = await _refusal(harness, stay(dead, [(AMBROXOL, 1, "10.00")]))
    assert deceased["type"].endswith("/person-deceased")

    arrears = await harness.insured()
    async with harness.db.transaction() as session:
        enrollment_id = await session.scalar(
            text("SELECT enrollment_id FROM eligibility_coverages WHERE person_no = :p"), {"p": arrears}
        )
    await harness.deliver(
        EnrollmentSuspended(
            enrollment_id=enrollment_id,
            person_no=arrears,
            scheme="resident",
            suspended_from=date(2026, 8, 1),
            reason="欠费",
        )
    )
    suspended = await _refusal(harness, stay(arrears, [(AMBROXOL, 1, "10.00")]))
    assert suspended["type"].endswith("/enrollment-suspended")

    # Only the one good claim left a trace.
    async with harness.db.transaction() as session:
        count = await session.scalar(
            select(func.count())
            .select_from(Settlement)
            .where(Settlement.person_no.in_([person_no, dead, arrears, "P00000000000"]))
        )
        stored = await session.scalar(select(AccumulatorRow.settlements).where(AccumulatorRow.person_no == person_no))
    assert count == 1
    assert stored == 1


async def test_pre_settlement_calculates_and_stores_nothing(harness: Harness) -> None:
    person_no = await harness.insured()
    body = stay(person_no, [(AMBROXOL, 2, "1000.00"), (RABEPRAZOLE, 2, "50.00")])
    pre = await harness.client.post(f"{API}/settlements/pre", json=body, headers=HOSPITAL)
    assert pre.status_code == 200, pre.text
    # 2000 + 100 (先行自付 10.00) = 2100.00; scope 2090.00; fund (2090 − 800) × 0.67 = 864.30.
    assert pre.json()["breakdown"]["hifp_pay"] == "864.30"
    assert pre.json()["policy_version"] == "350500-2026-resident-inpatient-L3-v4"
    async with harness.db.transaction() as session:
        assert await session.get(AccumulatorRow, (person_no, 2026)) is None
    real = await harness.settle(body)
    assert real.json()["breakdown"] == pre.json()["breakdown"]
    again = await harness.client.post(f"{API}/settlements/pre", json=body, headers=HOSPITAL)
    assert again.json()["breakdown"]["hifp_pay"] == "1400.30"  # the deductible is gone: 2090 × 0.67


async def test_reference_loads_are_validated_and_all_or_nothing(harness: Harness) -> None:
    csv = {**OPS, "Content-Type": "text/csv"}
    text_in = (DATA / "catalogue.csv").read_text()
    broken = text_in + "BAD1,坏,西药,D,,1.00,,,,,,,2026-01-01,,\nBAD2,坏,西药,A,0.5,1.00,,,,,,,2026-01-01,,\n"
    answer = await harness.client.put(f"{API}/catalogue", content=broken.encode(), headers=csv)
    assert answer.status_code == 422
    problem = answer.json()
    assert problem["type"].endswith("/catalogue-invalid")
    rows = len(text_in.splitlines())
    assert [e["field"] for e in problem["errors"]] == [f"row {rows + 1}", f"row {rows + 2}"]
    reloaded = await harness.client.put(f"{API}/catalogue", content=text_in.encode(), headers=csv)
    assert reloaded.json() == {"items": rows - 1}
    item = await harness.client.get(f"{API}/catalogue/items/{RABEPRAZOLE}", headers=HOSPITAL)
    assert item.status_code == 200
    assert [(v["item_class"], v["preselfpay_ratio"], v["limit_price"]) for v in item.json()] == [
        ("B", "0.1000", "68.00")
    ]
    missing = await harness.client.get(f"{API}/catalogue/items/BAD1", headers=HOSPITAL)
    assert missing.status_code == 404

    policies = (DATA / "policies.csv").read_text()
    async with harness.db.transaction() as session:
        before = await session.scalar(select(func.count()).select_from(PolicyRow))
    header, first, *_ = policies.splitlines()
    edited = first.replace(",300,0.95,", ",350,0.95,")
    new_version = first.replace(",1,2026-01-01,", ",9,2026-10-01,")
    answer = await harness.client.post(
        f"{API}/policies", content=f"{header}\n{new_version}\n{edited}\n".encode(), headers=csv
    )
    assert answer.status_code == 409
    assert answer.json()["type"].endswith("/policy-version-exists")
    async with harness.db.transaction() as session:
        assert await session.scalar(select(func.count()).select_from(PolicyRow)) == before  # v9 not kept either
    reload = await harness.client.post(f"{API}/policies", content=policies.encode(), headers=csv)
    assert reload.status_code == 200
    assert reload.json()["inserted"] == []
    # The same rows as JSON are the same versions: unchanged. A float is refused.
    as_json = [dict(zip(header.split(","), line.split(","), strict=True)) for line in policies.splitlines()[1:]]
    json_reload = await harness.client.post(f"{API}/policies", json=as_json, headers=OPS)
    assert json_reload.status_code == 200, json_reload.text
    assert json_reload.json()["inserted"] == []
    assert len(json_reload.json()["unchanged"]) == len(as_json)
    floated = await harness.client.post(f"{API}/policies", json=[{**as_json[0], "ratio": 0.95}], headers=OPS)
    assert floated.status_code == 422
    assert floated.json()["errors"][0]["field"] == "0.ratio"
    hospital_write = await harness.client.post(f"{API}/policies", content=policies.encode(), headers=HOSPITAL)
    assert hospital_write.status_code == 403


async def test_care_in_another_city_gets_the_filed_ratio_only_under_a_valid_filing(harness: Harness) -> None:
    person_no = await harness.insured()
    fuzhou = {"name": "福州测试医院", "level": 3, "region_code": "350102", "institution_type": "hospital"}
    code = "HITFZ00000001"
    assert (await harness.client.put(f"{API}/institutions/{code}", json=fuzhou, headers=OPS)).status_code == 200
    token = {"Authorization": f"Bearer {development_token(Role.HOSPITAL, 'fz', institution=code)}"}
    body = stay(person_no, [(AMBROXOL, 2, "1000.00")])

    async def fund() -> str:
        answer = await harness.client.post(f"{API}/settlements/pre", json=body, headers=token)
        assert answer.status_code == 200, answer.text
        return str(answer.json()["breakdown"]["hifp_pay"])

    # Home policy (泉州 resident L3 v4): (2000 − 800) × (0.67 − 0.15 未备案) = 624.00; filed: × 0.67 = 804.00.
    assert await fund() == "624.00"
    filing_id = uuid.uuid4()
    await harness.deliver(
        FilingApproved(
            filing_id=filing_id,
            person_no=person_no,
            filing_type="long_term_resident",
            home_region_code="350582",
            destination_region_code="350100",
            valid_from=date(2026, 8, 1),
            valid_to=date(2026, 12, 31),
            approved_at=datetime.now(ZoneInfo("UTC")),
        )
    )
    assert await fund() == "804.00"
    await harness.deliver(
        FilingRevoked(filing_id=filing_id, person_no=person_no, revoked_on=date(2026, 8, 15), reason="回原籍")
    )
    assert await fund() == "624.00"
