"""10,000 events; the consumer process is killed with SIGKILL at random points three times.

Every event's effect must happen exactly once: the inbox turns redelivery into a no-op.
The effect is `count + 1`, so without the inbox a redelivered event would count twice.
"""

from __future__ import annotations

import asyncio
import random
import signal
import time
import uuid
from pathlib import Path

import asyncpg
from aiokafka import AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient

from devstack.stack import Stack
from shared.events.envelope import Event, encode
from shared.events.kafka import ensure_topics
from tests.integration.conftest import FreshDatabase, start_harness, start_stoppable_consumer
from tests.integration.harness import HarnessTick

EVENTS = 10_000


async def produce(bootstrap: str, topic: str, count: int) -> None:
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, enable_idempotence=True, acks="all", linger_ms=5)
    await producer.start()
    try:
        futures = []
        for seq in range(count):
            key, value, headers = encode(Event.new(HarnessTick(partition_key=f"K{seq % 97}", seq=seq), source="/tests"))
            futures.append(await producer.send(topic, value=value, key=key, headers=headers))
        await asyncio.gather(*futures)
    finally:
        await producer.stop()


async def group_lag(bootstrap: str, group: str, topic: str) -> int:
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        committed = await admin.list_consumer_group_offsets(group)
    finally:
        await admin.close()
    from aiokafka import AIOKafkaConsumer

    probe = AIOKafkaConsumer(bootstrap_servers=bootstrap)
    await probe.start()
    try:
        partitions = [tp for tp in committed if tp.topic == topic]
        if not partitions:
            return EVENTS
        ends = await probe.end_offsets(partitions)
    finally:
        await probe.stop()
    return sum(ends[tp] - committed[tp].offset for tp in partitions)


async def test_consumer_killed_three_times_applies_every_event_exactly_once(
    infra: Stack, fresh_database: FreshDatabase, tmp_path: Path
) -> None:
    url = await fresh_database("crash_consumer")
    topic = HarnessTick.event_type
    await ensure_topics(infra.bootstrap, partitions=3, replication_factor=1, topics=[topic, f"{topic}.dlq"])
    await produce(infra.bootstrap, topic, EVENTS)
    group = f"crash-{uuid.uuid4().hex[:8]}"
    fetched_log = tmp_path / "fetched.log"
    args = ["--db", url, "--group", group, "--topic", topic, "--batch", "100", "--fetched-log", str(fetched_log)]
    crash_args = [*args, "--commit-delay-ms", "50"]
    conn = await asyncpg.connect(url)
    rng = random.Random()
    kills = 0
    try:
        for low, high in ((0.05, 0.25), (0.35, 0.55), (0.65, 0.85)):
            threshold = int(EVENTS * rng.uniform(low, high))
            proc = start_harness("consume", *crash_args, log_name=f"{group}-{kills}", infra=infra)
            deadline = time.monotonic() + 120
            # Kill right after a batch's effects commit: inside the (widened) gap before its
            # offsets are committed, so that batch is delivered again after the restart.
            while (await conn.fetchval("SELECT count(*) FROM effects")) < threshold:
                assert proc.poll() is None, "the consumer died on its own"
                assert time.monotonic() < deadline, "the consumer made no progress"
                await asyncio.sleep(0.002)
            proc.send_signal(signal.SIGKILL)
            proc.wait()
            kills += 1
        proc = await start_stoppable_consumer(
            *args, log_name=f"{group}-final", infra=infra, ready=tmp_path / "final.ready"
        )
        deadline = time.monotonic() + 180
        while await group_lag(infra.bootstrap, group, topic) > 0:
            assert proc.poll() is None, "the consumer died on its own"
            assert time.monotonic() < deadline, "the consumer did not catch up"
            await asyncio.sleep(0.5)
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=30) == 0, "the consumer did not stop cleanly on SIGTERM"

        applied = await conn.fetchval("SELECT count(*) FROM effects")
        doubled = await conn.fetchval("SELECT count(*) FROM effects WHERE count <> 1")
        inbox = await conn.fetchval("SELECT count(*) FROM inbox WHERE consumer = $1", group)
    finally:
        await conn.close()
    fetched = sum(int(n) for n in fetched_log.read_text().split())
    assert kills == 3
    assert fetched > EVENTS, "no event was delivered twice, so the kills tested nothing"
    assert applied == EVENTS, f"{EVENTS - applied} events lost"
    assert doubled == 0, f"{doubled} events applied more than once"
    assert inbox == EVENTS
