"""An idle relay claims rarely, yet a row written after a lull is still published within about the idle cap.

Real PostgreSQL and Kafka: the relay runs its own loop (OutboxRelay.run), and the record is read back
from the broker.
"""

from __future__ import annotations

import asyncio
import itertools
import time
import uuid

import asyncpg
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from sqlalchemy import text

from devstack.stack import Stack
from shared.db import Database
from shared.events.kafka import ensure_topics, reliable_producer
from shared.events.outbox import OutboxRelay, publish
from tests.integration.conftest import FreshDatabase
from tests.integration.harness import HarnessTick
from tests.integration.polling import wait_until

BUSY = 0.05
IDLE_CAP = 1.0
# The machine is shared with other test sessions: a claim, a send and a fetch can each stall a while.
SLACK = 1.5


class TimedRelay(OutboxRelay):
    """The relay, noting when each claim ended and how many rows it published."""

    def __init__(self, db: Database, producer: AIOKafkaProducer) -> None:
        super().__init__(db, producer, service="harness", poll_interval=BUSY, idle_poll_cap=IDLE_CAP)
        self.claims: list[tuple[float, int]] = []

    async def publish_batch(self) -> int:
        published = await super().publish_batch()
        self.claims.append((time.monotonic(), published))
        return published


def gaps(claims: list[tuple[float, int]]) -> list[float]:
    return [later[0] - earlier[0] for earlier, later in itertools.pairwise(claims)]


async def test_a_relay_backed_off_to_its_idle_cap_still_publishes_a_new_row_within_about_the_cap(
    infra: Stack, fresh_database: FreshDatabase
) -> None:
    topic = f"harness.idle-{uuid.uuid4().hex[:6]}"
    await ensure_topics(infra.bootstrap, partitions=1, replication_factor=1, topics=[topic])
    url = await fresh_database("relay_idle")
    db = Database(url, pool_size=2)
    producer = reliable_producer(infra.bootstrap, client_id="test-idle-relay")
    reader = AIOKafkaConsumer(topic, bootstrap_servers=infra.bootstrap, group_id=None, auto_offset_reset="earliest")
    await producer.start()
    await reader.start()
    relay = TimedRelay(db, producer)
    stop = asyncio.Event()
    task = asyncio.create_task(relay.run(stop))
    conn = await asyncpg.connect(url)
    try:
        # Nothing to publish: the waits double (0.05, 0.1 ... 0.8, then the cap), so within ~4 s the
        # relay claims about once a second instead of twenty times.
        await wait_until(
            "the relay never slowed to its idle cap", lambda: len(relay.claims) >= 8, timeout=20, every=0.02
        )
        idle = gaps(relay.claims)
        assert all(published == 0 for _, published in relay.claims)
        assert idle[0] < 0.5, f"the first empty claims should still be fast: {idle}"
        assert IDLE_CAP * 0.9 <= idle[-1] <= IDLE_CAP + SLACK, f"idle claims not spaced by the cap: {idle}"
        assert sum(1 for gap in idle if gap >= IDLE_CAP * 0.9) >= 2, f"the cap was not held: {idle}"
        # Eight claims span at least the waits 0.05 + 0.1 + 0.2 + 0.4 + 0.8 + 1 + 1 (at a fixed 50 ms: 0.35 s).
        assert relay.claims[7][0] - relay.claims[0][0] >= 3.0, f"the relay did not back off: {idle}"

        # A row written now, right after an idle claim (the worst phase would be just after one).
        claims_before = len(relay.claims)
        await wait_until(
            "no idle claim came", lambda: len(relay.claims) > claims_before, timeout=IDLE_CAP + SLACK, every=0.02
        )
        async with db.transaction() as session:
            event = await publish(session, HarnessTick(partition_key="K1", seq=1), source="/tests")
            await session.execute(text("UPDATE outbox SET topic = :topic"), {"topic": topic})
        written = time.monotonic()
        arrived = None
        deadline = written + IDLE_CAP + 2 * SLACK
        while arrived is None and time.monotonic() < deadline:
            for batch in (await reader.getmany(timeout_ms=100)).values():
                for record in batch:
                    assert dict(record.headers)["ce_id"].decode() == str(event.id)
                    arrived = time.monotonic()
        assert arrived is not None, "the row was not published"
        # Worst case is the cap itself (written just after a claim), plus a send and a fetch.
        assert arrived - written <= IDLE_CAP + SLACK, f"published {arrived - written:.2f} s after it was written"
        assert await conn.fetchval("SELECT count(*) FROM outbox WHERE published_at IS NULL") == 0

        # Having found a row, the relay is fast again: its next claims follow at the busy interval.
        found = next(i for i, (_, published) in enumerate(relay.claims) if published)
        await wait_until("no claim after the batch", lambda: len(relay.claims) >= found + 3, timeout=5, every=0.02)
        after = gaps(relay.claims[found : found + 3])
        assert max(after) < 0.5, f"the relay did not return to the busy interval: {after}"

        # Stopping is not held up by a long idle wait.
        await wait_until(
            "the relay did not back off again", lambda: gaps(relay.claims)[-1] >= 0.35, timeout=10, every=0.02
        )
        stopping = time.monotonic()
        stop.set()
        await asyncio.wait_for(task, timeout=IDLE_CAP + 5)
        assert time.monotonic() - stopping < 0.5, "the relay finished its wait before stopping"
    finally:
        stop.set()
        if not task.done():
            await asyncio.wait_for(task, timeout=IDLE_CAP + 5)
        await conn.close()
        await reader.stop()
        await producer.stop()
        await db.dispose()
