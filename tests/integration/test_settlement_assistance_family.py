"""医疗救助 for 资助参保 groups, 家庭共济 account pay and the journalled monthly clearing, against the
real, migrated PostgreSQL: settlement's ASGI app in-process, its projections fed by its own handlers.
"""

from __future__ import annotations

import random
import uuid
from collections.abc import AsyncIterator
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

import httpx
import pytest
from sqlalchemy import event, text

from devstack.stack import Stack
from devstack.tokens import development_token
from services.settlement.api import clearing_journal_id
from services.settlement.models import AccumulatorRow
from shared.auth import Role
from shared.business_time import business_today
from shared.events.contracts import (
    ContributionPosted,
    EnrollmentActivated,
    FamilyBound,
    FamilyUnbound,
    PersonRegistered,
)
from tests.integration.settlement_app import API, DATA, OPS, SettlementApp, settlement_app

INSTITUTION = "HIT0000000002"
HOSPITAL = {"Authorization": f"Bearer {development_token(Role.HOSPITAL, 'his-it', institution=INSTITUTION)}"}
ADMITTED, DISCHARGED = date(2026, 9, 1), date(2026, 9, 5)  # resident L3 inpatient v4: 起付线 800, 0.67, 救助 by group
AMBROXOL = "XR05CB0690402"  # 氨溴索注射液, 甲类, limit 1040.00


class Harness(SettlementApp):
    async def insured(
        self, *, scheme: str = "resident", assistance_category: str | None = None, region: str = "350582"
    ) -> str:
        person_no = f"P{random.randrange(10**10, 10**11)}"
        await self.deliver(
            PersonRegistered(
                person_no=person_no,
                id_number_masked="350582********123X",
                birth_date=date(1970, 5, 1),
                sex="F",
                hukou_region_code=region,
                residence_region_code=region,
                registered_at=datetime.now(ZoneInfo("UTC")),
            )
        )
        await self.deliver(
            EnrollmentActivated(
                enrollment_id=uuid.uuid4(),
                person_no=person_no,
                scheme=scheme,
                year=2026,
                region_code=region,
                effective_from=date(2026, 1, 1),
                effective_to=date(2026, 12, 31),
                assistance_category=assistance_category,
            )
        )
        return person_no

    async def settle(self, body: dict[str, Any], headers: dict[str, str] = HOSPITAL) -> httpx.Response:
        return await self.client.post(
            f"{API}/settlements", json=body, headers={**headers, "Idempotency-Key": str(uuid.uuid4())}
        )

    async def accumulators(self, person_no: str) -> dict[str, Any]:
        async with self.db.transaction() as session:
            row = await session.get(AccumulatorRow, (person_no, 2026))
            assert row is not None
            return {c.key: getattr(row, c.key) for c in AccumulatorRow.__table__.columns}

    async def ledger_net(self, settlement_id: str) -> dict[str, Decimal]:
        """Debits minus credits per account of one settlement's journals (settlement and reversal)."""
        async with self.db.transaction() as session:
            rows = await session.execute(
                text(
                    "SELECT account, sum(debit) - sum(credit) FROM ledger_entries "
                    "WHERE settlement_id = :s GROUP BY account"
                ),
                {"s": settlement_id},
            )
            return {account: Decimal(net) for account, net in rows.tuples()}


def stay(person_no: str, lines: list[tuple[str, int, str]], **extra: Any) -> dict[str, Any]:
    return {
        "person_no": person_no,
        "visit_type": "inpatient",
        "admitted_on": ADMITTED.isoformat(),
        "discharged_on": DISCHARGED.isoformat(),
        "practitioner_code": f"D{random.randrange(10**9):09d}",
        "diagnoses": ["J18.9"],
        "lines": [{"item_code": c, "quantity": q, "unit_price": p} for c, q, p in lines],
        **extra,
    }


@pytest.fixture
async def harness(infra: Stack) -> AsyncIterator[Harness]:
    async with settlement_app(infra, institution=INSTITUTION, hospital_name="救助测试医院") as app:
        yield Harness(app.client, app.db)


def _breakdown(answer: httpx.Response, *names: str) -> tuple[str, ...]:
    return tuple(answer.json()["breakdown"][name] for name in names)


async def test_a_minimum_living_resident_gets_medical_assistance_and_its_reversal_restores_it(
    harness: Harness,
) -> None:
    dibao = await harness.insured(assistance_category="minimum_living")  # 低保对象
    ordinary = await harness.insured()
    # 2 × 1000.00 甲类 = 2000.00 in scope; fund (2000 − 800) × 0.67 = 804.00; still owed 1196.00.
    body = [(AMBROXOL, 2, "1000.00")]
    plain = await harness.settle(stay(ordinary, body))
    assert plain.status_code == 201, plain.text
    assert _breakdown(plain, "hifp_pay", "maf_pay", "psn_cash_pay") == ("804.00", "0.00", "1196.00")

    helped = await harness.settle(stay(dibao, body))
    assert helped.status_code == 201, helped.text
    # 医疗救助 = 1196.00 × 0.70 = 837.20; cash 1196.00 − 837.20 = 358.80.
    fields = ("hifp_pay", "maf_pay", "fund_pay_sumamt", "psn_cash_pay")
    assert _breakdown(helped, *fields) == ("804.00", "837.20", "1641.20", "358.80")
    assert any(step["rule"] == "maf_pay 医疗救助" for step in helped.json()["explanation"])
    accumulated = await harness.accumulators(dibao)
    assert (accumulated["assistance_base"], accumulated["assistance_paid"]) == (Decimal("1196.00"), Decimal("837.20"))
    assert (await harness.accumulators(ordinary))["assistance_paid"] == 0
    settlement_id = helped.json()["settlement_id"]
    journal = await harness.ledger_net(settlement_id)
    assert journal["medical_assistance_expense"] == Decimal("837.20")
    assert journal["payable_to_institutions"] == Decimal("-1641.20")

    undone = await harness.client.post(f"{API}/settlements/{settlement_id}/reversal", headers=OPS)
    assert undone.status_code == 200, undone.text
    restored = await harness.accumulators(dibao)
    assert (restored["assistance_base"], restored["assistance_paid"], restored["settlements"]) == (0, 0, 0)
    assert all(net == 0 for net in (await harness.ledger_net(settlement_id)).values())
    # Settled again, the stay gets the same assistance: nothing of the first was left behind.
    again = await harness.settle(stay(dibao, body))
    assert _breakdown(again, *fields) == _breakdown(helped, *fields)


async def test_each_assistance_group_gets_its_own_share_of_the_same_stay_and_a_reversal_restores_it(
    harness: Harness,
) -> None:
    # The same stay as above: 1196.00 still owed in scope after the basic fund's 804.00.
    body = [(AMBROXOL, 2, "1000.00")]
    fields = ("hifp_pay", "maf_pay", "fund_pay_sumamt", "psn_cash_pay")
    expected = {
        "extreme_poverty": ("804.00", "1196.00", "2000.00", "0.00"),  # 特困: 100%, no 救助起付线
        "minimum_living": ("804.00", "837.20", "1641.20", "358.80"),  # 低保: 1196.00 × 0.70
        "poverty_risk": ("804.00", "117.60", "921.60", "1078.40"),  # 返贫致贫风险: (1196.00 − 1000.00) × 0.60
        "refugee": ("804.00", "0.00", "804.00", "1196.00"),  # a group no policy lists: none, and told so
    }
    answers = {}
    for group, figures in expected.items():
        person_no = await harness.insured(assistance_category=group)
        answers[group] = answer = await harness.settle(stay(person_no, body))
        assert answer.status_code == 201, answer.text
        assert _breakdown(answer, *fields) == figures, group
        step = next(s for s in answer.json()["explanation"] if s["rule"] == "maf_pay 医疗救助")
        assert step["detail"].startswith(group), step
        assert step["policy_version"] == "350500-2026-resident-inpatient-L3-v4"
        accumulated = await harness.accumulators(person_no)
        assert accumulated["assistance_paid"] == Decimal(figures[1])
        assert accumulated["assistance_base"] == (Decimal("1196.00") if group != "refugee" else 0)
    assert (
        "特困人员" in next(s for s in answers["extreme_poverty"].json()["explanation"] if "maf" in s["rule"])["detail"]
    )
    assert "not an assistance group of this policy" in str(answers["refugee"].json()["explanation"])

    tekun = answers["extreme_poverty"].json()
    assert (await harness.ledger_net(tekun["settlement_id"]))["medical_assistance_expense"] == Decimal("1196.00")
    undone = await harness.client.post(f"{API}/settlements/{tekun['settlement_id']}/reversal", headers=OPS)
    assert undone.status_code == 200, undone.text
    restored = await harness.accumulators(tekun["person_no"])
    assert (restored["assistance_base"], restored["assistance_paid"], restored["settlements"]) == (0, 0, 0)
    assert all(net == 0 for net in (await harness.ledger_net(tekun["settlement_id"])).values())

    # The policy API shows each group's parameters of the version that paid.
    listed = await harness.client.get(f"{API}/policies", params={"region": "350500"}, headers=OPS)
    assert listed.status_code == 200, listed.text
    [v4] = [p for p in listed.json() if p["name"] == "350500-2026-resident-inpatient-L3-v4"]
    assert {g["group"]: (g["name"], g["share"], g["cap"], g["deductible"]) for g in v4["assistance_by_group"]} == {
        "extreme_poverty": ("特困人员", "1.00", "60000", "0"),
        "orphan": ("孤儿", "1.00", "60000", "0"),
        "minimum_living": ("低保对象", "0.70", "30000", "0"),
        "poverty_risk": ("返贫致贫风险人员", "0.60", "20000", "1000"),
        "severe_disability": ("重度残疾人", "0.70", "30000", "0"),
    }
    [v2] = [p for p in listed.json() if p["name"] == "350500-2026-resident-inpatient-L3-v2"]
    assert {(g["share"], g["cap"]) for g in v2["assistance_by_group"]} == {("0.70", "30000")}  # the one share, kept

    # A bad group, share or cap is a 422 naming the row; nothing is loaded.
    header, v1 = (DATA / "policies.csv").read_text().splitlines()[:2]
    by_group = v1.split(",")[15]
    bad_rows = [
        v1.replace(",1,2026-01-01,", ",90,2026-10-01,").replace(by_group, "refugee:0.70:30000"),
        v1.replace(",1,2026-01-01,", ",91,2026-10-01,").replace(by_group, "orphan:1.20:30000"),
        v1.replace(",1,2026-01-01,", ",92,2026-10-01,").replace(by_group, "orphan:1.00:-1"),
    ]
    refused = await harness.client.post(
        f"{API}/policies", content="\n".join([header, *bad_rows]).encode(), headers={**OPS, "Content-Type": "text/csv"}
    )
    assert refused.status_code == 422, refused.text
    assert refused.json()["type"].endswith("/policies-invalid")
    assert [(e["field"], e["message"].split(" ")[:3]) for e in refused.json()["errors"]] == [
        ("row 2", ["assistance", "group", "'refugee'"]),
        ("row 3", ["orphan", "assistance", "share"]),
        ("row 4", ["orphan", "assistance", "cap"]),
    ]
    after = await harness.client.get(f"{API}/policies", params={"region": "350500"}, headers=OPS)
    assert len(after.json()) == len(listed.json())


async def test_a_bound_employee_account_pays_for_the_relative_and_gets_it_back_on_reversal(
    harness: Harness,
) -> None:
    holder = await harness.insured(scheme="employee")
    relative = await harness.insured()  # a resident: no personal account of her own
    stranger = await harness.insured(scheme="employee")
    for employee in (holder, stranger):
        await harness.deliver(
            ContributionPosted(
                contribution_id=uuid.uuid4(),
                enrollment_id=uuid.uuid4(),
                person_no=employee,
                scheme="employee",
                year=2026,
                individual=Decimal("300.00"),
                employer=Decimal("900.00"),
                subsidy=Decimal("0.00"),
                personal_account_credit=Decimal("300.00"),
                posted_at=datetime.now(ZoneInfo("UTC")),
            )
        )
    binding = uuid.uuid4()
    await harness.deliver(
        FamilyBound(
            binding_id=binding,
            person_no=holder,
            relative_person_no=relative,
            relation="parent",
            bound_on=business_today() - timedelta(days=30),
        )
    )

    async def balance(person_no: str) -> str:
        answer = await harness.client.get(f"{API}/persons/{person_no}/account", headers=OPS)
        assert answer.status_code == 200, answer.text
        return str(answer.json()["balance"])

    async def settlements_of(person_no: str) -> int:
        async with harness.db.transaction() as session:
            count = await session.scalar(
                text("SELECT count(*) FROM settlements WHERE person_no = :p"), {"p": person_no}
            )
            return int(count or 0)

    body = [(AMBROXOL, 2, "1000.00")]  # the first: fund 804.00; then (deductible used) 1340.00, personal 660.00
    # Without asking, a resident's own (absent) account pays nothing.
    alone = await harness.settle(stay(relative, body))
    assert _breakdown(alone, "acct_pay", "psn_cash_pay") == ("0.00", "1196.00")

    # An employee who is not bound to her may not pay: a 422 problem, nothing stored or debited.
    refused = await harness.settle(stay(relative, body, family_account_payer_person_no=stranger))
    assert refused.status_code == 422, refused.text
    assert refused.headers["content-type"] == "application/problem+json"
    assert refused.json()["type"] == "https://yibao.dev/problems/family-account-not-bound"
    assert await settlements_of(relative) == 1
    assert await balance(stranger) == "300.00"

    paid = await harness.settle(stay(relative, body, family_account_payer_person_no=holder))
    assert paid.status_code == 201, paid.text
    assert _breakdown(paid, "hifp_pay", "acct_pay", "psn_cash_pay") == ("1340.00", "300.00", "360.00")
    assert paid.json()["family_account_payer_person_no"] == holder
    assert await balance(holder) == "0.00"
    settlement_id = paid.json()["settlement_id"]
    assert (await harness.ledger_net(settlement_id))["personal_accounts"] == Decimal("300.00")

    undone = await harness.client.post(f"{API}/settlements/{settlement_id}/reversal", headers=OPS)
    assert undone.status_code == 200, undone.text
    assert await balance(holder) == "300.00"  # back to the account that paid, not the patient's
    assert await balance(relative) == "0.00"
    assert all(net == 0 for net in (await harness.ledger_net(settlement_id)).values())

    # Unbound (the event may come on its own topic at any time): the account no longer pays.
    await harness.deliver(
        FamilyUnbound(binding_id=binding, person_no=holder, relative_person_no=relative, unbound_on=business_today())
    )
    ended = await harness.settle(stay(relative, body, family_account_payer_person_no=holder))
    assert ended.status_code == 422, ended.text
    assert ended.json()["type"] == "https://yibao.dev/problems/family-account-not-bound"
    assert "ended" in ended.json()["detail"]
    assert await balance(holder) == "300.00"


# Two regions of this test's own (厦门 350200, 莆田 350300), so the e2e cross-region test's
# Quanzhou/Fuzhou books, which share this database in one test session, see none of its postings.
XM_HOSPITAL, PT_HOSPITAL = "HITXM0000001", "HITPT0000001"
PT = {"Authorization": f"Bearer {development_token(Role.HOSPITAL, 'his-pt', institution=PT_HOSPITAL)}"}
XM = {"Authorization": f"Bearer {development_token(Role.HOSPITAL, 'his-xm', institution=XM_HOSPITAL)}"}
POLICY_HEADER = (
    "region,scheme,year,visit_type,institution_level,retiree,version,effective_from,effective_to,deductible,ratio,cap,"
    "critical_threshold,critical_tiers,critical_cap,assistance_share,assistance_cap,unfiled_reduction\n"
)
POLICY_VALUES = (
    ",resident,2026,inpatient,3,false,1,2026-01-01,,600,0.70,150000,15000,50000:0.60;:0.70,400000,0.70,30000,0.15\n"
)


async def test_the_monthly_clearing_run_is_journalled_once_and_closes_the_month_between_two_regions(
    harness: Harness,
) -> None:
    policies = POLICY_HEADER + "350200" + POLICY_VALUES + "350300" + POLICY_VALUES
    loaded = await harness.client.post(
        f"{API}/policies", content=policies.encode(), headers={**OPS, "Content-Type": "text/csv"}
    )
    assert loaded.status_code == 200, loaded.text
    for code, region in ((XM_HOSPITAL, "350203"), (PT_HOSPITAL, "350302")):
        hospital = {"name": f"清算测试医院 {region}", "level": 3, "region_code": region, "institution_type": "hospital"}
        assert (await harness.client.put(f"{API}/institutions/{code}", json=hospital, headers=OPS)).status_code == 200
    from_xiamen = await harness.insured(region="350203")  # treated in Putian: Putian advances for Xiamen
    from_putian = await harness.insured(region="350302")  # treated in Xiamen: Xiamen advances for Putian
    body = [(AMBROXOL, 2, "1000.00")]
    in_putian = [await harness.settle(stay(from_xiamen, body), PT) for _ in range(2)]
    in_xiamen = await harness.settle(stay(from_putian, body), XM)
    for answer in (*in_putian, in_xiamen):
        assert answer.status_code == 201, answer.text
    pt_advanced = sum((Decimal(a.json()["breakdown"]["fund_pay_sumamt"]) for a in in_putian), Decimal(0))
    xm_advanced = Decimal(in_xiamen.json()["breakdown"]["fund_pay_sumamt"])
    assert pt_advanced > xm_advanced > 0

    # Book this test's postings in a past month of its own, as if made then, and clear that month.
    month = date(random.randrange(1950, 1990), random.randrange(1, 13), 15)
    ids = [uuid.UUID(a.json()["settlement_id"]) for a in (*in_putian, in_xiamen)]
    async with harness.db.transaction() as session:
        await session.execute(
            text("UPDATE ledger_entries SET business_date = :d WHERE settlement_id = ANY(:ids)"),
            {"d": month, "ids": ids},
        )
    run = await harness.client.post(f"{API}/clearing/runs", json={"month": f"{month:%Y-%m}"}, headers=OPS)
    assert run.status_code == 201, run.text
    net = pt_advanced - xm_advanced
    assert run.json()["lines"] == [
        {
            "payer_region": "350200",
            "payee_region": "350300",
            "net_amount": str(net),
            "payee_advanced": str(pt_advanced),
            "payer_advanced": str(xm_advanced),
        }
    ]

    journal_id = clearing_journal_id(f"{month:%Y-%m}")

    async def books() -> dict[tuple[str, str], Decimal]:
        """(region, account) → debits − credits over this test's settlements and its clearing journal."""
        async with harness.db.transaction() as session:
            rows = await session.execute(
                text(
                    "SELECT region_code, account, sum(debit) - sum(credit) FROM ledger_entries "
                    "WHERE settlement_id = ANY(:ids) GROUP BY region_code, account"
                ),
                {"ids": [*ids, journal_id]},
            )
            return {(region, account): Decimal(amount) for region, account, amount in rows.tuples()}

    cleared = await books()
    for region in ("350200", "350300"):
        assert sum((v for (r, _), v in cleared.items() if r == region), Decimal(0)) == 0, f"{region} balances"
        # Nothing of the month is receivable or owed between the two regions any more.
        assert cleared[(region, "interregion_receivable")] == 0
        assert cleared[(region, "interregion_payable")] == 0
    assert cleared[("350300", "fund_bank_deposits")] == net  # Putian received the net transfer
    assert cleared[("350200", "fund_bank_deposits")] == -net  # Xiamen paid it

    # Asked again, the run answers as stored and posts nothing more.
    again = await harness.client.post(f"{API}/clearing/runs", json={"month": f"{month:%Y-%m}"}, headers=OPS)
    assert again.status_code == 200, again.text
    assert again.json() == run.json()
    assert await books() == cleared
    async with harness.db.transaction() as session:
        lines = await session.scalar(
            text("SELECT count(*) FROM ledger_entries WHERE settlement_id = :j AND kind = 'clearing'"),
            {"j": journal_id},
        )
    assert lines == 6  # both regions: payable, receivable and deposits each
    trial = await harness.client.get(f"{API}/ledger/trial-balance", headers=OPS)
    assert trial.json()["balanced"] is True


async def test_a_local_settlement_takes_two_statements(harness: Harness) -> None:
    """The settle path's round trips are its cost (bench settlement): a local stay of a known person,
    with the catalogue and policies cached, is one statement claiming the idempotency key, reading
    every check's data and locking the person-year accumulators (settle_context), and one storing
    the settlement, the accumulators, the journal, the outbox rows and the answer (store_settlement).
    Both go past SQLAlchemy on the transaction's own connection (decision 0022): they are counted
    by the Database's plain-statement listeners, the rest by the engine's events."""
    person_no = await harness.insured()
    warm = await harness.settle(stay(person_no, [(AMBROXOL, 1, "100.00")]))  # the policy cache is filled
    assert warm.status_code == 201, warm.text
    statements: list[str] = []

    def words(statement: str) -> str:
        return statement.split(None, 3)[:3].__str__()

    def count(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        statements.append(words(statement))

    engine = harness.db.engine.sync_engine
    event.listen(engine, "before_cursor_execute", count)
    stop_listening = harness.db.listen_plain_statements(lambda statement: statements.append(words(statement)))
    try:
        answer = await harness.settle(stay(person_no, [(AMBROXOL, 2, "1000.00")]))
    finally:
        event.remove(engine, "before_cursor_execute", count)
        stop_listening()
    assert answer.status_code == 201, answer.text
    assert len(statements) == 2, statements
    assert statements[0].startswith("['WITH', 'claim', 'AS"), statements
    assert statements[1].startswith("['WITH', 'settlement', 'AS"), statements
