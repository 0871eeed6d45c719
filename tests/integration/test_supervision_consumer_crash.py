"""The supervision audit consumer, SIGKILLed three times mid-stream: no flag lost or doubled.

1,500 claims that each break QTY-MAX-LINE, by 30 doctors. After the kills and a clean run:
one audit and one flag per claim, one audit.flagged per flag, each doctor's points equal to
their claims (points are a running sum: a doubled audit would show), and each doctor's
suspension published exactly once.
"""

from __future__ import annotations

import asyncio
import random
import signal
import time
import uuid
from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path

import asyncpg
from aiokafka import AIOKafkaConsumer
from aiokafka.admin import AIOKafkaAdminClient

from devstack.stack import Stack
from shared.events.contracts import ClaimLine, ClaimSettled
from shared.events.envelope import Event, encode
from shared.events.kafka import ensure_topics, reliable_producer
from shared.settings import database_url_for
from tests.claims import ZERO_BREAKDOWN
from tests.integration.conftest import start_harness, start_stoppable_consumer

CLAIMS = 1_500
DOCTORS = 30


def flagged_claim(person_no: str, doctor: str) -> ClaimSettled:
    return ClaimSettled(
        settlement_id=uuid.uuid4(),
        person_no=person_no,
        institution_code="H-CRASH",
        practitioner_code=doctor,
        visit_type="outpatient",
        admitted_on=date(2026, 11, 2),
        discharged_on=date(2026, 11, 2),
        diagnoses=["J18.9"],
        lines=[
            ClaimLine(
                line_no=1, item_code="XA01AAA001", quantity=45, unit_price=Decimal("12.50"), amount=Decimal("562.50")
            )
        ],
        breakdown=ZERO_BREAKDOWN,
        settled_at=datetime(2026, 1, 15, 2, 0, tzinfo=UTC),  # not "today": e2e backtests read today
    )


async def lag(bootstrap: str, group: str, topic: str) -> int:
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        committed = await admin.list_consumer_group_offsets(group)
    finally:
        await admin.close()
    partitions = [tp for tp in committed if tp.topic == topic]
    if not partitions:
        return CLAIMS
    probe = AIOKafkaConsumer(bootstrap_servers=bootstrap)
    await probe.start()
    try:
        ends = await probe.end_offsets(partitions)
    finally:
        await probe.stop()
    return sum(ends[tp] - committed[tp].offset for tp in partitions)


async def test_audit_consumer_killed_three_times_loses_and_doubles_no_flag(infra: Stack, tmp_path: Path) -> None:
    tag = uuid.uuid4().hex[:6].upper()
    topic = f"claim.settled.crash-{tag}"
    await ensure_topics(infra.bootstrap, partitions=3, replication_factor=1, topics=[topic, f"{topic}.dlq"])
    doctors = [f"DK{tag}{n:03d}" for n in range(DOCTORS)]
    claims = [flagged_claim(f"P{random.randrange(10**11):011d}", doctors[n % DOCTORS]) for n in range(CLAIMS)]
    producer = reliable_producer(infra.bootstrap, client_id="it-supervision-crash")
    await producer.start()
    try:
        sent = []
        for each in claims:
            key, value, headers = encode(Event.new(each, source="/tests"))
            sent.append(await producer.send(topic, value=value, key=key, headers=headers))
        await asyncio.gather(*sent)
    finally:
        await producer.stop()

    url = database_url_for("supervision", infra.database_url)
    group = f"supervision-crash-{tag}"
    fetched_log = tmp_path / "fetched.log"
    args = ["--handlers", "supervision", "--db", url, "--group", group, "--topic", topic, "--batch", "50"]
    args += ["--fetched-log", str(fetched_log)]
    ids = [c.settlement_id for c in claims]
    conn = await asyncpg.connect(url)
    audited = "SELECT count(*) FROM audit_results WHERE settlement_id = ANY($1::uuid[])"
    try:
        for kill, (low, high) in enumerate(((0.1, 0.25), (0.35, 0.55), (0.65, 0.85))):
            threshold = int(CLAIMS * random.uniform(low, high))
            proc = start_harness("consume", *args, "--commit-delay-ms", "50", log_name=f"{group}-{kill}", infra=infra)
            deadline = time.monotonic() + 180
            while (await conn.fetchval(audited, ids)) < threshold:
                assert proc.poll() is None, "the consumer died on its own"
                assert time.monotonic() < deadline, "the consumer made no progress"
                await asyncio.sleep(0.005)
            proc.send_signal(signal.SIGKILL)
            proc.wait()
        proc = await start_stoppable_consumer(
            *args, log_name=f"{group}-final", infra=infra, ready=tmp_path / "final.ready"
        )
        deadline = time.monotonic() + 300
        while await lag(infra.bootstrap, group, topic) > 0:
            assert proc.poll() is None, "the consumer died on its own"
            assert time.monotonic() < deadline, "the consumer did not catch up"
            await asyncio.sleep(0.5)
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=30) == 0, "the consumer did not stop cleanly on SIGTERM"

        audits = await conn.fetchval(audited, ids)
        flags = await conn.fetchval("SELECT count(*) FROM flags WHERE settlement_id = ANY($1::uuid[])", ids)
        doubled = await conn.fetchval(
            "SELECT count(*) FROM (SELECT settlement_id FROM flags WHERE settlement_id = ANY($1::uuid[]) "
            "GROUP BY settlement_id HAVING count(*) <> 1) AS d",
            ids,
        )
        published = await conn.fetchval(
            "SELECT count(*) FROM outbox WHERE event_type = 'audit.flagged' "
            "AND (convert_from(payload, 'UTF8')::jsonb->>'settlement_id')::uuid = ANY($1::uuid[])",
            ids,
        )
        rows = await conn.fetch(
            "SELECT practitioner_code, points FROM practitioners WHERE practitioner_code = ANY($1::text[])", doctors
        )
        points = {row["practitioner_code"]: row["points"] for row in rows}
        suspensions = await conn.fetchval(
            "SELECT count(*) FROM outbox WHERE event_type = 'practitioner.suspended' AND subject = ANY($1::text[])",
            doctors,
        )
    finally:
        await conn.close()
    fetched = sum(int(n) for n in fetched_log.read_text().split())
    assert fetched > CLAIMS, "no claim was delivered twice, so the kills tested nothing"
    assert audits == CLAIMS, f"{CLAIMS - audits} claims never audited"
    assert flags == CLAIMS
    assert doubled == 0
    assert published == CLAIMS
    assert points == dict.fromkeys(doctors, CLAIMS // DOCTORS)
    assert suspensions == DOCTORS
