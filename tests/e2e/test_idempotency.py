"""50 concurrent identical POSTs with one Idempotency-Key: one settlement, one answer."""

from __future__ import annotations

import asyncio
import uuid

import asyncpg
import httpx

from devstack.stack import Stack
from shared.settings import database_url_for
from tests.e2e.conftest import HOSPITAL, claim, insured_person, settle_when_eligible


async def test_fifty_concurrent_retries_settle_once(gateway: httpx.AsyncClient, running_stack: Stack) -> None:
    person_no = await insured_person(gateway)
    warmup = await settle_when_eligible(gateway, claim(person_no, quantity=1), str(uuid.uuid4()))
    assert warmup.status_code == 201, warmup.text

    key = str(uuid.uuid4())
    body = claim(person_no, quantity=3)
    headers = {**HOSPITAL, "Idempotency-Key": key}
    answers = await asyncio.gather(
        *(gateway.post("/api/v1/settlement/settlements", json=body, headers=headers) for _ in range(50))
    )
    assert {a.status_code for a in answers} == {201}
    assert len({a.text for a in answers}) == 1, "every retry must get the first answer, byte for byte"
    assert sum(1 for a in answers if a.headers.get("idempotent-replayed") != "true") == 1
    assert len({a.headers["location"] for a in answers}) == 1

    conn = await asyncpg.connect(database_url_for("settlement", running_stack.database_url))
    try:
        stored = await conn.fetchval("SELECT count(*) FROM settlements WHERE idempotency_key = $1", key)
        events = await conn.fetchval(
            "SELECT count(*) FROM outbox WHERE event_type = 'claim.settled' AND convert_from(payload, 'UTF8') LIKE $1",
            f"%{answers[0].json()['settlement_id']}%",
        )
    finally:
        await conn.close()
    assert stored == 1
    assert events == 1

    other = await gateway.post("/api/v1/settlement/settlements", json=claim(person_no, quantity=4), headers=headers)
    assert other.status_code == 422
    assert other.json()["type"] == "https://yibao.dev/problems/idempotency-key-reused"


async def test_a_settlement_without_idempotency_key_is_refused(gateway: httpx.AsyncClient) -> None:
    answer = await gateway.post("/api/v1/settlement/settlements", json=claim("P00000000001"), headers=HOSPITAL)
    assert answer.status_code == 428
    assert answer.json()["type"] == "https://yibao.dev/problems/idempotency-key-required"
