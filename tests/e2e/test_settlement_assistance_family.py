"""医疗救助 and 家庭共济 through the gateway, on the real stack: enrollment publishes the assistance
category and the family binding, settlement projects them and pays accordingly, and a reversal
gives everything back."""

from __future__ import annotations

import random
import uuid
from decimal import Decimal
from typing import Any

import httpx

from devstack.demo import resident_id
from shared.money import to_fen
from tests.e2e.conftest import HOSPITAL, OPS, claim, enrollment_body, eventually, settle_when_eligible

API = "/api/v1/settlement"


async def _enrolled(gateway: httpx.AsyncClient, scheme: str, **extra: object) -> str:
    registered = await gateway.post(
        "/api/v1/enrollment/persons",
        json={
            "id_number": resident_id(random.Random(), "350582"),
            "name": "救助测试",
            "hukou_region_code": "350582",
            "residence_region_code": "350582",
        },
        headers=OPS,
    )
    assert registered.status_code == 201, registered.text
    person_no: str = registered.json()["person_no"]
    year = int(claim(person_no)["discharged_on"][:4])  # type: ignore[index]
    enrolled = await gateway.post(
        f"/api/v1/enrollment/persons/{person_no}/enrollments",
        json=enrollment_body(scheme, year, "350582", **extra),
        headers=OPS,
    )
    assert enrolled.status_code == 201, enrolled.text
    assert enrolled.json()["status"] == "active", enrolled.text
    return person_no


def _money(answer: httpx.Response, field: str) -> Decimal:
    return Decimal(answer.json()["breakdown"][field])


async def _accumulated(gateway: httpx.AsyncClient, person_no: str, year: str) -> dict[str, Any]:
    answer = await gateway.get(f"{API}/persons/{person_no}/accumulators/{year}", headers=OPS)
    assert answer.status_code == 200, answer.text
    return dict(answer.json())


async def test_a_minimum_living_resident_gets_medical_assistance_an_ordinary_one_does_not(
    gateway: httpx.AsyncClient,
) -> None:
    dibao = await _enrolled(gateway, "resident", assistance_category="minimum_living")  # 低保对象
    tekun = await _enrolled(gateway, "resident", assistance_category="extreme_poverty")  # 特困人员
    ordinary = await _enrolled(gateway, "resident")
    plain = await settle_when_eligible(gateway, claim(ordinary), str(uuid.uuid4()))
    assert plain.status_code == 201, plain.text
    assert _money(plain, "maf_pay") == 0

    helped = await settle_when_eligible(gateway, claim(dibao), str(uuid.uuid4()))
    assert helped.status_code == 201, helped.text
    # The same bill: the same basic fund; assistance pays 0.70 (the demo policy's share for 低保) of
    # what is still owed in scope, and the cash shrinks by exactly that.
    assert _money(helped, "hifp_pay") == _money(plain, "hifp_pay")
    owed = _money(helped, "inscp_scp_amt") - _money(helped, "hifp_pay") - _money(helped, "hifmi_pay")
    assert _money(helped, "maf_pay") == to_fen(owed * Decimal("0.70")) > 0
    assert _money(helped, "psn_cash_pay") == _money(plain, "psn_cash_pay") - _money(helped, "maf_pay")
    year = helped.json()["discharged_on"][:4]
    assert Decimal((await _accumulated(gateway, dibao, year))["assistance_paid"]) == _money(helped, "maf_pay")

    # 特困 with the same bill: 100% of what is still owed in scope (no 救助起付线), more than 低保 gets.
    fully = await settle_when_eligible(gateway, claim(tekun), str(uuid.uuid4()))
    assert fully.status_code == 201, fully.text
    assert _money(fully, "hifp_pay") == _money(plain, "hifp_pay")
    assert _money(fully, "maf_pay") == owed > _money(helped, "maf_pay")
    assert _money(fully, "psn_cash_pay") == _money(plain, "psn_cash_pay") - owed
    step = next(s for s in fully.json()["explanation"] if s["rule"] == "maf_pay 医疗救助")
    assert step["detail"].startswith("extreme_poverty 特困人员")

    for person_no, settled in ((dibao, helped), (tekun, fully)):
        undone = await gateway.post(f"{API}/settlements/{settled.json()['settlement_id']}/reversal", headers=HOSPITAL)
        assert undone.status_code == 200, undone.text
        restored = await _accumulated(gateway, person_no, year)
        assert Decimal(restored["assistance_paid"]) == 0
        assert Decimal(restored["assistance_base"]) == 0


async def test_an_employee_account_pays_for_a_bound_spouse_once_the_binding_reaches_settlement(
    gateway: httpx.AsyncClient,
) -> None:
    holder = await _enrolled(gateway, "employee")  # the contribution credits the personal account
    spouse = await _enrolled(gateway, "resident")
    account = f"{API}/persons/{holder}/account"

    async def credited() -> bool:
        return Decimal((await gateway.get(account, headers=OPS)).json()["balance"]) > 0

    await eventually(credited, what="the personal account credited from contribution.posted")
    balance = Decimal((await gateway.get(account, headers=OPS)).json()["balance"])

    body = claim(spouse) | {"family_account_payer_person_no": holder}
    refused = await settle_when_eligible(gateway, body, str(uuid.uuid4()))
    assert refused.status_code == 422, refused.text
    assert refused.json()["type"].endswith("/family-account-not-bound")

    bound = await gateway.post(
        f"/api/v1/enrollment/persons/{holder}/family",
        json={"relative_person_no": spouse, "relation": "spouse"},
        headers=OPS,
    )
    assert bound.status_code == 201, bound.text

    async def projected() -> bool:
        answer = await gateway.post(f"{API}/settlements/pre", json=body, headers=HOSPITAL)
        return answer.status_code == 200

    await eventually(projected, what="family.bound in settlement's projection")
    paid = await settle_when_eligible(gateway, body, str(uuid.uuid4()))
    assert paid.status_code == 201, paid.text
    personal = _money(paid, "medfee_sumamt") - _money(paid, "fund_pay_sumamt")
    assert _money(paid, "acct_pay") == min(balance, personal) > 0
    assert paid.json()["family_account_payer_person_no"] == holder
    left = Decimal((await gateway.get(account, headers=OPS)).json()["balance"])
    assert left == balance - _money(paid, "acct_pay")

    undone = await gateway.post(f"{API}/settlements/{paid.json()['settlement_id']}/reversal", headers=HOSPITAL)
    assert undone.status_code == 200, undone.text
    assert Decimal((await gateway.get(account, headers=OPS)).json()["balance"]) == balance
