"""With the workers' fetch settings, a trickle of events is applied in batches (one transaction and one
offset commit each, not one per event), and a lone event still arrives within the fetch wait."""

from __future__ import annotations

import asyncio
import statistics
import time
import uuid
from collections.abc import Sequence

import asyncpg
from sqlalchemy.ext.asyncio import AsyncSession

from devstack.stack import Stack
from shared.db import Database
from shared.events.consumer import BatchHandler, ConsumerRunner
from shared.events.envelope import Event, encode
from shared.events.kafka import ensure_topics, reliable_producer
from shared.settings import ServiceSettings
from tests.integration.conftest import FreshDatabase
from tests.integration.harness import HarnessTick, count_effect
from tests.integration.polling import wait_until

TRICKLE = 50
SPACING_S = 0.02  # 50 events a second, one at a time: what a quiet service's relay sends
SLACK = 1.0  # a machine shared with other test sessions


async def test_a_trickle_is_applied_in_batches_and_a_lone_event_within_the_fetch_wait(
    infra: Stack, fresh_database: FreshDatabase
) -> None:
    topic = f"harness.trickle-{uuid.uuid4().hex[:6]}"
    await ensure_topics(infra.bootstrap, partitions=1, replication_factor=1, topics=[topic, f"{topic}.dlq"])
    url = await fresh_database("consumer_trickle")
    worker = ServiceSettings()  # the fetch settings every worker runs with by default
    max_wait_s = worker.consumer_fetch_max_wait_ms / 1000
    batches: list[list[int]] = []
    applied_at: dict[int, float] = {}

    async def apply(session: AsyncSession, events: Sequence[Event]) -> None:
        seqs = []
        for event in events:
            assert isinstance(event.payload, HarnessTick)
            await count_effect(session, event)
            seqs.append(event.payload.seq)
        batches.append(seqs)
        now = time.monotonic()
        applied_at.update(dict.fromkeys(seqs, now))

    db = Database(url, pool_size=2)
    runner = ConsumerRunner(
        name=f"trickle-{uuid.uuid4().hex[:6]}",
        db=db,
        bootstrap_servers=infra.bootstrap,
        handlers={HarnessTick.event_type: BatchHandler(apply)},
        topics=[topic],
        fetch_min_bytes=worker.consumer_fetch_min_bytes,
        fetch_max_wait_ms=worker.consumer_fetch_max_wait_ms,
    )
    producer = reliable_producer(infra.bootstrap, client_id="test-trickle")
    stop = asyncio.Event()
    task = asyncio.create_task(runner.run(stop))
    await producer.start()

    async def send(seq: int) -> None:
        key, value, headers = encode(Event.new(HarnessTick(partition_key="K", seq=seq), source="/tests"))
        await producer.send_and_wait(topic, value=value, key=key, headers=headers)

    conn = await asyncpg.connect(url)
    try:
        await send(0)  # the group is joined and the position known once this one is applied
        await wait_until("the consumer never started", lambda: 0 in applied_at, timeout=60)

        for seq in range(1, TRICKLE + 1):
            await send(seq)
            await asyncio.sleep(SPACING_S)
        await wait_until("the trickle was not applied", lambda: len(applied_at) == TRICKLE + 1, timeout=30)
        trickle = [len(batch) for batch in batches if batch != [0]]
        # One record a fetch (the broker's default, fetch_min_bytes=1) would make ~50 batches of 1; the
        # broker holding each fetch for the wait makes a few batches of several.
        assert len(trickle) <= TRICKLE // 3, f"{len(trickle)} batches for {TRICKLE} events: {trickle}"
        assert statistics.mean(trickle) >= 3, f"batches of {trickle}"
        assert sorted(seq for batch in batches for seq in batch) == list(range(TRICKLE + 1)), "order or loss"

        # A lone event after a lull: the broker answers at the end of the wait, not never.
        await asyncio.sleep(1.0)
        await send(TRICKLE + 1)
        sent = time.monotonic()
        await wait_until("the lone event was not applied", lambda: TRICKLE + 1 in applied_at, timeout=10)
        assert applied_at[TRICKLE + 1] - sent <= max_wait_s + SLACK, "a lone event waited past the fetch wait"

        # Exactly once, as ever.
        assert await conn.fetchval("SELECT count(*) FROM effects WHERE count = 1") == TRICKLE + 2
    finally:
        stop.set()
        await asyncio.wait_for(task, timeout=30)
        await conn.close()
        await producer.stop()
        await db.dispose()
