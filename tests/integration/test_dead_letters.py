"""Malformed events land in `<topic>.dlq` with their reason and do not block their partition."""

from __future__ import annotations

import asyncio
import time
import uuid

import asyncpg
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from sqlalchemy.ext.asyncio import AsyncSession

from devstack.stack import Stack
from shared.db import Database
from shared.events.consumer import ConsumerRunner, Handler
from shared.events.envelope import Event, encode
from shared.events.kafka import ensure_topics
from tests.integration.conftest import FreshDatabase
from tests.integration.harness import HarnessTick, count_effect

POISON_SEQ = 666


async def effect_or_fail(session: AsyncSession, event: Event) -> None:
    assert isinstance(event.payload, HarnessTick)
    if event.payload.seq == POISON_SEQ:
        raise RuntimeError("the handler cannot process this event")
    await count_effect(session, event)


async def test_malformed_events_go_to_the_dead_letter_topic_without_blocking(
    infra: Stack, fresh_database: FreshDatabase
) -> None:
    topic = f"harness.dlq-{uuid.uuid4().hex[:6]}"
    await ensure_topics(infra.bootstrap, partitions=1, replication_factor=1, topics=[topic, f"{topic}.dlq"])
    url = await fresh_database("dead_letters")

    def good(seq: int) -> tuple[bytes, bytes, list[tuple[str, bytes]]]:
        return encode(Event.new(HarnessTick(partition_key="same-key", seq=seq), source="/tests"))

    key, value, headers = good(1)
    unknown_type = [(k, b"no.such.type" if k == "ce_type" else v) for k, v in headers]
    _, _, bad_payload_headers = good(2)
    _, poison_value, poison_headers = good(POISON_SEQ)
    records = [
        (b"{not json", good(3)[2], "not-json"),
        (value, unknown_type, "unknown-type"),
        (b'{"partition_key": "same-key", "seq": "not a number"}', bad_payload_headers, "invalid-payload"),
        (value, [h for h in headers if h[0] != "ce_id"], "missing-attribute"),
        (poison_value, poison_headers, "handler-error"),
    ]
    producer = AIOKafkaProducer(bootstrap_servers=infra.bootstrap)
    await producer.start()
    try:
        for raw, hdrs, _ in records:
            await producer.send_and_wait(topic, value=raw, key=key, headers=hdrs)
        # A good event behind all of them, on the same partition.
        await producer.send_and_wait(topic, value=good(4)[1], key=key, headers=good(4)[2])
    finally:
        await producer.stop()

    await consume_until(
        infra,
        url,
        topic,
        effect_or_fail,
        "SELECT count(*) FROM effects WHERE seq = 4",
        enough=1,
        what="the good event behind the bad ones was never applied",
    )

    dlq = AIOKafkaConsumer(f"{topic}.dlq", bootstrap_servers=infra.bootstrap, auto_offset_reset="earliest")
    await dlq.start()
    reasons: list[str] = []
    try:
        deadline = time.monotonic() + 30
        while len(reasons) < len(records) and time.monotonic() < deadline:
            for batch in (await dlq.getmany(timeout_ms=500)).values():
                for r in batch:
                    h = dict(r.headers)
                    assert h["dlq_topic"].decode() == topic
                    assert h["dlq_error"]
                    reasons.append(h["dlq_reason"].decode())
    finally:
        await dlq.stop()
    assert reasons == [reason for _, _, reason in records]


async def test_an_infrastructure_outage_pauses_and_retries_instead_of_dead_lettering(
    infra: Stack, fresh_database: FreshDatabase
) -> None:
    topic = f"harness.outage-{uuid.uuid4().hex[:6]}"
    await ensure_topics(infra.bootstrap, partitions=1, replication_factor=1, topics=[topic, f"{topic}.dlq"])
    url = await fresh_database("outage")
    failures_left = {"count": 6}  # more than max_retries: per-event retries alone would dead-letter it
    applied_order: list[int] = []

    async def flaky(session: AsyncSession, event: Event) -> None:
        assert isinstance(event.payload, HarnessTick)
        if event.payload.seq == 2 and failures_left["count"] > 0:
            failures_left["count"] -= 1
            raise ConnectionRefusedError("database unreachable")
        await count_effect(session, event)
        applied_order.append(event.payload.seq)

    producer = AIOKafkaProducer(bootstrap_servers=infra.bootstrap)
    await producer.start()
    try:
        for seq in range(1, 5):
            key, value, headers = encode(Event.new(HarnessTick(partition_key="one", seq=seq), source="/tests"))
            await producer.send_and_wait(topic, value=value, key=key, headers=headers)
    finally:
        await producer.stop()

    counts = await consume_until(
        infra, url, topic, flaky, "SELECT count(*) FROM effects", enough=4, what="the consumer did not recover"
    )
    assert [(r["seq"], r["count"]) for r in counts] == [(1, 1), (2, 1), (3, 1), (4, 1)]
    assert failures_left["count"] == 0
    # seq 1 may be applied in the first attempt of the batch and rolled back with it; what
    # matters is that 2 never overtook 1 and nothing went past 2 before it was applied.
    assert applied_order[-3:] == [2, 3, 4]

    dlq = AIOKafkaConsumer(f"{topic}.dlq", bootstrap_servers=infra.bootstrap, auto_offset_reset="earliest")
    await dlq.start()
    try:
        leftovers = await dlq.getmany(timeout_ms=2000)
    finally:
        await dlq.stop()
    assert sum(len(batch) for batch in leftovers.values()) == 0, "an outage must not dead-letter events"


async def consume_until(
    infra: Stack, url: str, topic: str, handler: Handler, query: str, *, enough: int, what: str
) -> list[asyncpg.Record]:
    """Run a ConsumerRunner on `topic` until `query` (a count) reaches `enough`; stop it cleanly."""
    db = Database(url, pool_size=2)
    runner = ConsumerRunner(
        name=f"test-{uuid.uuid4().hex[:6]}",
        db=db,
        bootstrap_servers=infra.bootstrap,
        handlers={HarnessTick.event_type: handler},
        topics=[topic],
        retry_backoff=0.01,
    )
    stop = asyncio.Event()
    task = asyncio.create_task(runner.run(stop))
    conn = await asyncpg.connect(url)
    try:
        deadline = time.monotonic() + 60
        while await conn.fetchval(query) < enough:
            assert not task.done(), task.exception()
            assert time.monotonic() < deadline, what
            await asyncio.sleep(0.1)
        return await conn.fetch("SELECT seq, count FROM effects ORDER BY seq")
    finally:
        stop.set()
        await task
        await conn.close()
        await db.dispose()
