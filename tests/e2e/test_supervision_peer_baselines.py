"""PEER-OUTLIER against a frozen peer baseline, end to end (decision 0017).

Claims of a closed month reach supervision's worker through Kafka (as settlement publishes them,
with their settlement dates in that month); ops take the month's baseline through the gateway;
a later claim of the institution far above its peers is flagged against that baseline, a peer's
claim and a claim of the baseline's own month are not; taking the month again gives the same
figures and the same finding.
"""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime
from typing import Any

import httpx

from devstack.stack import Stack
from shared.auth import Role
from shared.events.contracts import ClaimSettled
from shared.events.envelope import Event, encode
from shared.events.kafka import reliable_producer
from tests.claims import one_line_claim
from tests.e2e.conftest import AUDITOR, OPS, bearer, eventually

SUPERVISION = "/api/v1/supervision"
BASELINES = f"{SUPERVISION}/peer-baselines"
# A month and a diagnosis group (Q87, at level 3) no other test settles claims in: the baseline's
# figures for this group are this test's claims only.
MONTH = "2025-03"
DIAGNOSIS = "Q87.1"
LEVEL = 3


def settled(institution: str, cost: str, settled_on: date) -> ClaimSettled:
    return one_line_claim(institution, cost, settled_on, diagnosis=DIAGNOSIS, level=LEVEL)


async def publish(stack: Stack, claims: list[ClaimSettled]) -> None:
    producer = reliable_producer(stack.bootstrap, client_id="e2e-peer-baselines")
    await producer.start()
    try:
        for each in claims:
            key, value, headers = encode(Event.new(each, source="/yibao/settlement"))
            await producer.send_and_wait(ClaimSettled.event_type, value=value, key=key, headers=headers)
    finally:
        await producer.stop()


async def audits(gateway: httpx.AsyncClient, claims: list[ClaimSettled]) -> dict[uuid.UUID, dict[str, Any]]:
    """Each claim's audit, once every one of them has been audited."""
    found: dict[uuid.UUID, dict[str, Any]] = {}

    async def all_audited() -> bool:
        for each in claims:
            if each.settlement_id not in found:
                answer = await gateway.get(f"{SUPERVISION}/audits/{each.settlement_id}", headers=AUDITOR)
                if answer.status_code != 200:
                    return False
                found[each.settlement_id] = answer.json()
        return True

    await eventually(all_audited, timeout=60, what="the claims' audits")
    return found


def peer_flags(audit: dict[str, Any]) -> list[tuple[str, str]]:
    return [(f["message"], f["amount_at_stake"]) for f in audit["flags"] if f["rule_id"] == "PEER-OUTLIER"]


async def test_a_claim_is_judged_against_the_frozen_baseline_of_an_earlier_month(
    running_stack: Stack, gateway: httpx.AsyncClient
) -> None:
    tag = uuid.uuid4().hex[:6].upper()
    outlier = f"HPB{tag}X"
    peers = [f"HPB{tag}{n}" for n in range(6)]
    march = date(2025, 3, 10)
    # Six peers at 100.00-105.00 a case, two cases each; the outlier at 500.00 a case.
    month = [settled(peer, f"{100 + n}.00", march) for n, peer in enumerate(peers) for _ in range(2)]
    month += [settled(outlier, "500.00", march), settled(outlier, "500.00", march)]
    await publish(running_stack, month)
    audited = await audits(gateway, month)
    # No baseline before March: the peer rule judges nothing, however far above its peers H-X is.
    assert [peer_flags(audit) for audit in audited.values()] == [[]] * len(month)

    taken = await gateway.post(BASELINES, json={"period": MONTH}, headers=OPS)
    assert taken.status_code == 201, taken.text
    first = taken.json()
    assert (first["period"], first["institutions"], first["diagnosis_groups"], first["cases"]) == (MONTH, 7, 1, 14)
    # The figures a finding is judged by, for the hospital to see: the cell of the level and group.
    cell = await gateway.get(
        f"{BASELINES}/{MONTH}/costs", params={"institution_level": LEVEL, "diagnosis_group": "q87"}, headers=AUDITOR
    )
    assert cell.status_code == 200, cell.text
    assert (cell.json()["diagnosis_group"], cell.json()["taken_at"]) == ("Q87", first["taken_at"])
    assert [(i["institution_code"], i["cases"], i["total_cost"], i["cost_per_case"]) for i in cell.json()["items"]] == [
        *((peer, 2, f"{2 * (100 + n)}.00", f"{100 + n}.00") for n, peer in enumerate(peers)),
        (outlier, 2, "1000.00", "500.00"),
    ]

    april = date(2025, 4, 5)
    outlier_claim = settled(outlier, "520.00", april)
    peer_claim = settled(peers[0], "103.00", april)
    await publish(running_stack, [outlier_claim, peer_claim])
    later = await audits(gateway, [outlier_claim, peer_claim])
    # Peers average 102.50 a case (population sd 1.71); what the claim costs above that is at stake.
    ((message, amount),) = peer_flags(later[outlier_claim.settlement_id])
    assert message.startswith(f"{outlier} cost 500.00 a case in Q87 at level 3 in 2025-03; 6 peers averaged 102.50")
    assert amount == "417.50"
    assert peer_flags(later[peer_claim.settlement_id]) == []

    # Taken again: the same claims, the same figures; the baseline replaced, not doubled.
    again = await gateway.post(BASELINES, json={"period": MONTH}, headers=OPS)
    assert again.status_code == 201, again.text
    second = again.json()
    assert {k: v for k, v in second.items() if k != "taken_at"} == {k: v for k, v in first.items() if k != "taken_at"}
    assert second["taken_at"] >= first["taken_at"]
    listed = await gateway.get(BASELINES, headers=AUDITOR)
    assert listed.status_code == 200, listed.text
    assert [item for item in listed.json()["items"] if item["period"] == MONTH] == [second]
    replayed = settled(outlier, "520.00", april)
    await publish(running_stack, [replayed])
    assert peer_flags((await audits(gateway, [replayed]))[replayed.settlement_id]) == [(message, amount)]

    # A claim of the baseline's own month, arriving late, is never judged by that month's baseline;
    # it counts in the month when ops take it again (and only then: frozen figures stay frozen).
    late_in_march = settled(outlier, "520.00", date(2025, 3, 25))
    await publish(running_stack, [late_in_march])
    assert peer_flags((await audits(gateway, [late_in_march]))[late_in_march.settlement_id]) == []
    listed = await gateway.get(BASELINES, headers=AUDITOR)
    assert [item["cases"] for item in listed.json()["items"] if item["period"] == MONTH] == [14]
    retaken = await gateway.post(BASELINES, json={"period": MONTH}, headers=OPS)
    assert (retaken.status_code, retaken.json()["cases"]) == (201, 15), retaken.text


async def test_peer_baselines_refuse_an_open_month_bad_input_and_other_roles(gateway: httpx.AsyncClient) -> None:
    this_month = f"{datetime.now(UTC):%Y-%m}"
    for period in (this_month, "2199-12"):
        answer = await gateway.post(BASELINES, json={"period": period}, headers=OPS)
        assert answer.status_code == 422, answer.text
        assert answer.json()["type"].endswith("period-not-closed")
    for body in ({"period": "2025-13"}, {"period": "2025-3"}, {}, {"period": "2025-03", "extra": 1}):
        answer = await gateway.post(BASELINES, json=body, headers=OPS)
        assert answer.status_code == 422, (body, answer.text)
        assert answer.headers["content-type"].startswith("application/problem+json")
    assert (await gateway.post(BASELINES, json={"period": MONTH}, headers=AUDITOR)).status_code == 403
    hospital = bearer(Role.HOSPITAL, "his-pb", "H35058200001")
    assert (await gateway.post(BASELINES, json={"period": MONTH}, headers=hospital)).status_code == 403
    assert (await gateway.get(BASELINES, headers=hospital)).status_code == 403
    assert (await gateway.get(BASELINES, params={"cursor": "March"}, headers=AUDITOR)).status_code == 422
    costs = f"{BASELINES}/2001-01/costs"
    never_taken = await gateway.get(costs, params={"institution_level": 1, "diagnosis_group": "J18"}, headers=AUDITOR)
    assert never_taken.status_code == 404, never_taken.text
    assert never_taken.json()["type"].endswith("peer-baseline-not-found")
    bad: list[dict[str, str | int]] = [
        {"institution_level": 4, "diagnosis_group": "J18"},
        {"institution_level": 1, "diagnosis_group": "J1"},
    ]
    for params in bad:
        assert (await gateway.get(costs, params=params, headers=AUDITOR)).status_code == 422
    assert (
        await gateway.get(
            f"{BASELINES}/2001-1/costs", params={"institution_level": 1, "diagnosis_group": "J18"}, headers=AUDITOR
        )
    ).status_code == 422
    assert (
        await gateway.get(costs, params={"institution_level": 1, "diagnosis_group": "J18"}, headers=hospital)
    ).status_code == 403
