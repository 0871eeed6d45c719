"""事中审核 through the gateway: settlement asks supervision's in-stage check before storing a claim.

A claim a refuse-severity in-stage rule stops is refused with a problem naming the rule and is
not stored; with supervision down the claim settles (fail-open), marked for post audit and
counted; a settlement configured fail-closed, facing a supervision that stalls, answers 503 at
the deadline and stores nothing. Only the service role may call the check itself.
"""

from __future__ import annotations

import asyncio
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import AsyncIterator

import httpx
import pytest

from devstack.infra import REPO_ROOT
from devstack.stack import Stack
from devstack.tokens import development_token
from shared.auth import Role
from shared.business_time import business_today
from tests.e2e.conftest import (
    HOSPITAL,
    INSTITUTION,
    OPS,
    bearer,
    claim,
    eventually,
    insured_person,
    settle_when_eligible,
)

SETTLE = "/api/v1/settlement/settlements"
CHECKS = "/api/v1/supervision/checks"
AMOXICILLIN = "XJ01CA0010201"  # 阿莫西林胶囊, in the demo catalogue, no settlement restriction


def traced_line(*codes: str) -> dict[str, object]:
    return {"item_code": AMOXICILLIN, "quantity": len(codes), "unit_price": "12.50", "traceability_codes": list(codes)}


async def settlements_this_year(gateway: httpx.AsyncClient, person_no: str) -> int:
    got = await gateway.get(f"/api/v1/settlement/persons/{person_no}/accumulators/{business_today().year}", headers=OPS)
    assert got.status_code == 200, got.text
    count: int = got.json()["settlements"]
    return count


def assert_refused_by_supervision(answer: httpx.Response, rules: list[str]) -> dict[str, object]:
    assert answer.status_code == 422, answer.text
    assert answer.headers["content-type"] == "application/problem+json"
    problem: dict[str, object] = answer.json()
    assert str(problem["type"]).endswith("/refused-by-supervision"), problem
    assert problem["rules"] == rules
    for rule in rules:
        assert rule in str(problem["detail"])
    return problem


async def test_a_claim_selling_one_traceability_code_twice_is_refused_and_not_stored(
    gateway: httpx.AsyncClient,
) -> None:
    person_no = await insured_person(gateway)
    code = f"TRC{uuid.uuid4().hex[:16]}"
    body = claim(person_no, lines=[traced_line(f"TRC{uuid.uuid4().hex[:16]}"), traced_line(code, code)])
    key = str(uuid.uuid4())
    problem = assert_refused_by_supervision(await settle_when_eligible(gateway, body, key), ["TRACE-RESOLD"])
    assert problem["errors"] == [
        {
            "field": "lines.1",
            "message": f"TRACE-RESOLD v1: line 2 ({AMOXICILLIN}) sells traceability code(s) already sold: {code}",
        }
    ]
    # Nothing stored: no settlement counted, and the key was not kept (a retry is judged afresh).
    assert await settlements_this_year(gateway, person_no) == 0
    again = await gateway.post(SETTLE, json=body, headers={**HOSPITAL, "Idempotency-Key": key})
    assert_refused_by_supervision(again, ["TRACE-RESOLD"])
    assert "idempotent-replayed" not in again.headers
    # The pre-settlement runs the same check.
    pre = await gateway.post(f"{SETTLE}/pre", json=body, headers=HOSPITAL)
    assert_refused_by_supervision(pre, ["TRACE-RESOLD"])

    # The same claim without the repeated code settles, checked: not marked for post audit.
    clean = await settle_when_eligible(gateway, claim(person_no, lines=[traced_line(code)]), str(uuid.uuid4()))
    assert clean.status_code == 201, clean.text
    assert clean.json()["post_audit_required"] is False
    assert await settlements_this_year(gateway, person_no) == 1


async def test_a_code_sold_under_another_settlement_is_refused_once_supervision_knows_it(
    gateway: httpx.AsyncClient,
) -> None:
    seller = await insured_person(gateway)
    code = f"TRC{uuid.uuid4().hex[:16]}"
    sold = await settle_when_eligible(gateway, claim(seller, lines=[traced_line(code)]), str(uuid.uuid4()))
    assert sold.status_code == 201, sold.text

    buyer = await insured_person(gateway)
    resale = claim(buyer, lines=[traced_line(code)])
    order = {
        "person_no": buyer,
        "practitioner_code": "D350582001",
        "institution_code": INSTITUTION,
        "visit_date": business_today().isoformat(),
        "lines": [traced_line(code)],
    }

    async def supervision_knows_the_code() -> bool:
        got = await gateway.post("/api/v1/supervision/prechecks", json=order, headers=HOSPITAL)
        assert got.status_code == 200, got.text
        return any(w["rule_id"] == "TRACE-RESOLD" for w in got.json()["warnings"])

    # The audit consumer may be behind every other test's claims in a full run.
    await eventually(supervision_knows_the_code, timeout=90, what="the sold code in supervision's projection")
    answer = await settle_when_eligible(gateway, resale, str(uuid.uuid4()))
    assert_refused_by_supervision(answer, ["TRACE-RESOLD"])
    assert await settlements_this_year(gateway, buyer) == 0


async def test_only_a_service_may_call_the_check(gateway: httpx.AsyncClient) -> None:
    person_no = await insured_person(gateway)
    body = {
        "person_no": person_no,
        "practitioner_code": "D350582001",
        "institution_code": INSTITUTION,
        "visit_type": "outpatient",
        "admitted_on": business_today().isoformat(),
        "discharged_on": business_today().isoformat(),
        "lines": [traced_line("TRC-A", "TRC-A")],
    }
    for headers in (HOSPITAL, OPS, bearer(Role.AUDITOR), bearer(Role.ADMIN), bearer(Role.INSURED, person_no)):
        refused = await gateway.post(CHECKS, json=body, headers=headers)
        assert refused.status_code == 403, refused.text
        assert refused.headers["content-type"] == "application/problem+json"
    service = {"Authorization": f"Bearer {development_token(Role.SERVICE, 'settlement')}"}
    answer = await gateway.post(CHECKS, json=body, headers=service)
    assert answer.status_code == 200, answer.text
    assert answer.json()["refused"] is True
    assert [f["rule_id"] for f in answer.json()["findings"]] == ["TRACE-RESOLD"]
    bad = await gateway.post(CHECKS, json={**body, "discharged_on": "2000-01-01"}, headers=service)
    assert bad.status_code == 422, bad.text
    # No API client can be given the service role.
    admin = bearer(Role.ADMIN)
    client = await gateway.post("/api/v1/gateway/clients", json={"name": "sneaky", "role": "service"}, headers=admin)
    assert client.status_code == 422, client.text


def unanswered_count(metrics: str, reason: str, fail_mode: str) -> float:
    prefix = f'yibao_in_stage_check_unanswered_total{{fail_mode="{fail_mode}",reason="{reason}",route="settlement"}} '
    return sum(float(line[len(prefix) :]) for line in metrics.splitlines() if line.startswith(prefix))


async def test_with_supervision_down_a_claim_settles_marked_for_post_audit(
    gateway: httpx.AsyncClient, running_stack: Stack
) -> None:
    person_no = await insured_person(gateway)
    checked = await settle_when_eligible(gateway, claim(person_no), str(uuid.uuid4()))
    assert checked.status_code == 201, checked.text
    assert checked.json()["post_audit_required"] is False
    metrics_url = f"{running_stack.service_url('settlement')}/metrics"
    before = unanswered_count(httpx.get(metrics_url).text, "unreachable", "open")

    running_stack.stop_process("supervision")
    try:
        # A repeated code would be refused by supervision, if it answered: fail-open lets it through.
        body = claim(person_no, lines=[traced_line("TRC-DOWN", "TRC-DOWN")])
        answer = await gateway.post(SETTLE, json=body, headers={**HOSPITAL, "Idempotency-Key": str(uuid.uuid4())})
        assert answer.status_code == 201, answer.text
        assert answer.json()["post_audit_required"] is True
    finally:
        running_stack.start_api("supervision")
        await asyncio.to_thread(running_stack.wait_ready, 120)

    stored = await gateway.get(f"{SETTLE}/{answer.json()['settlement_id']}", headers=OPS)
    assert stored.status_code == 200, stored.text
    assert stored.json()["post_audit_required"] is True
    assert (await gateway.get(f"{SETTLE}/{checked.json()['settlement_id']}", headers=OPS)).json()[
        "post_audit_required"
    ] is False
    assert unanswered_count(httpx.get(metrics_url).text, "unreachable", "open") == before + 1


# -- fail-closed against a supervision that stalls: a second settlement process ------------------


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
    return port


@pytest.fixture
async def stalling_supervision() -> AsyncIterator[str]:
    """An HTTP endpoint that accepts a request and never answers it."""

    held: list[asyncio.StreamWriter] = []

    async def stall(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        held.append(writer)  # read the request, answer nothing; closed at teardown
        await reader.read(65536)

    server = await asyncio.start_server(stall, "127.0.0.1", 0)
    async with server:
        yield f"http://127.0.0.1:{server.sockets[0].getsockname()[1]}"
        for writer in held:
            writer.close()


@pytest.fixture
async def fail_closed_settlement(running_stack: Stack, stalling_supervision: str) -> AsyncIterator[str]:
    """The real settlement app on the stack's database, configured fail-closed with a 150 ms deadline."""
    port = free_port()
    env = {
        **running_stack.environment(),
        "SETTLEMENT_HTTP_PORT": str(port),
        "SETTLEMENT_SUPERVISION_URL": stalling_supervision,
        "SETTLEMENT_IN_STAGE_FAIL_MODE": "closed",
        "SETTLEMENT_IN_STAGE_DEADLINE_MS": "150",
    }
    log = open(running_stack.var / "log" / "settlement-fail-closed.log", "ab")  # noqa: SIM115 - the child's
    proc = subprocess.Popen(
        [sys.executable, "-m", "uvicorn", "services.settlement.main:app", "--host", "127.0.0.1", "--port", str(port)],
        env=env,
        cwd=REPO_ROOT,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        async with httpx.AsyncClient() as client:
            while True:
                assert proc.poll() is None, "the fail-closed settlement exited"
                try:
                    if (await client.get(f"{url}/healthz")).status_code == 200:
                        break
                except httpx.HTTPError:
                    pass
                assert time.monotonic() < deadline, "the fail-closed settlement did not start"
                await asyncio.sleep(0.2)
        yield url
    finally:
        proc.terminate()
        proc.wait(timeout=20)
        log.close()


async def test_fail_closed_answers_503_at_the_deadline_and_stores_nothing(
    gateway: httpx.AsyncClient, fail_closed_settlement: str
) -> None:
    person_no = await insured_person(gateway)
    body = claim(person_no)
    key = str(uuid.uuid4())
    # Wait until settlement knows the person (the gateway's settlement, same database).
    pre = await gateway.post(f"{SETTLE}/pre", json=body, headers=HOSPITAL)
    for _ in range(100):
        if pre.status_code == 200:
            break
        await asyncio.sleep(0.2)
        pre = await gateway.post(f"{SETTLE}/pre", json=body, headers=HOSPITAL)
    assert pre.status_code == 200, pre.text
    async with httpx.AsyncClient(base_url=fail_closed_settlement, timeout=30) as direct:
        started = time.perf_counter()
        answer = await direct.post(SETTLE, json=body, headers={**HOSPITAL, "Idempotency-Key": key})
        elapsed = time.perf_counter() - started
        assert answer.status_code == 503, answer.text
        assert answer.headers["content-type"] == "application/problem+json"
        assert answer.json()["type"].endswith("/supervision-unavailable")
        assert elapsed < 5  # the 150 ms deadline, not the 30 s the endpoint stalls for
        pre_closed = await direct.post(f"{SETTLE}/pre", json=body, headers=HOSPITAL)
        assert pre_closed.status_code == 503, pre_closed.text
    assert await settlements_this_year(gateway, person_no) == 0
    # The key was not kept either: the stack's own settlement (supervision answering) settles it afresh.
    settled = await gateway.post(SETTLE, json=body, headers={**HOSPITAL, "Idempotency-Key": key})
    assert settled.status_code == 201, settled.text
    assert "idempotent-replayed" not in settled.headers
    assert settled.json()["post_audit_required"] is False
