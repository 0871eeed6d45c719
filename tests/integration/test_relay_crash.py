"""The relay is killed with SIGKILL mid-batch three times and restarted.

Every outbox row ends up published, each key's events reach Kafka in order (duplicates
aside: a batch acknowledged but not yet marked is sent again), and a consumer applies
every event exactly once.
"""

from __future__ import annotations

import asyncio
import json
import random
import signal
import time
import uuid
from collections import defaultdict
from pathlib import Path

import asyncpg
from aiokafka import AIOKafkaConsumer

from devstack.stack import Stack
from shared.db import Database
from shared.events.kafka import ensure_topics
from shared.events.outbox import publish
from tests.integration.conftest import FreshDatabase, start_harness
from tests.integration.harness import HarnessTick

ROWS = 10_000
KEYS = 50


async def fill_outbox(url: str) -> None:
    db = Database(url, pool_size=2)
    try:
        for start in range(0, ROWS, 500):
            async with db.transaction() as session:
                for seq in range(start, start + 500):
                    await publish(session, HarnessTick(partition_key=f"K{seq % KEYS}", seq=seq), source="/tests")
    finally:
        await db.dispose()


async def read_topic(bootstrap: str, topic: str, expected_events: int) -> list[tuple[str, int, str]]:
    """(key, seq, event id) of every record, in each partition's order, duplicates included.

    Reads until `expected_events` distinct events arrived (a re-sent batch adds duplicates, so
    counting records would stop early), then once more for duplicates still behind them.
    """
    consumer = AIOKafkaConsumer(topic, bootstrap_servers=bootstrap, auto_offset_reset="earliest", group_id=None)
    await consumer.start()
    records: list[tuple[str, int, str]] = []
    seen: set[str] = set()

    async def poll() -> int:
        batches = await consumer.getmany(timeout_ms=500)
        for batch in batches.values():
            for r in batch:
                event_id = dict(r.headers)["ce_id"].decode()
                records.append((r.key.decode(), json.loads(r.value)["seq"], event_id))
                seen.add(event_id)
        return sum(len(batch) for batch in batches.values())

    try:
        deadline = time.monotonic() + 60
        while len(seen) < expected_events and time.monotonic() < deadline:
            await poll()
        while await poll():
            pass
    finally:
        await consumer.stop()
    return records


async def test_relay_killed_mid_batch_publishes_every_row_in_order(
    infra: Stack, fresh_database: FreshDatabase, tmp_path: Path
) -> None:
    topic = HarnessTick.event_type + ".relay"
    await ensure_topics(infra.bootstrap, partitions=3, replication_factor=1, topics=[topic, f"{topic}.dlq"])
    url = await fresh_database("crash_relay")
    await fill_outbox(url)
    conn = await asyncpg.connect(url)
    # The harness event type's topic is the type; route these rows to this test's own topic.
    await conn.execute("UPDATE outbox SET topic = $1", topic)
    rng = random.Random()
    try:
        for low, high in ((0.1, 0.3), (0.4, 0.6), (0.7, 0.9)):
            threshold = int(ROWS * rng.uniform(low, high))
            proc = start_harness("relay", "--db", url, "--batch", "200", log_name="relay-crash", infra=infra)
            deadline = time.monotonic() + 120
            while await conn.fetchval("SELECT count(*) FROM outbox WHERE published_at IS NOT NULL") < threshold:
                assert proc.poll() is None, "the relay died on its own"
                assert time.monotonic() < deadline, "the relay made no progress"
                await asyncio.sleep(0.005)
            proc.send_signal(signal.SIGKILL)
            proc.wait()
        proc = start_harness("relay", "--db", url, "--batch", "200", log_name="relay-crash", infra=infra)
        deadline = time.monotonic() + 120
        while await conn.fetchval("SELECT count(*) FROM outbox WHERE published_at IS NULL") > 0:
            assert proc.poll() is None, "the relay died on its own"
            assert time.monotonic() < deadline, "the relay did not finish"
            await asyncio.sleep(0.05)
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=30) == 0, "the relay did not stop cleanly on SIGTERM"
        outbox_ids = {str(r["event_id"]) for r in await conn.fetch("SELECT event_id FROM outbox")}
    finally:
        await conn.close()

    records = await read_topic(infra.bootstrap, topic, ROWS)
    assert {event_id for _, _, event_id in records} == outbox_ids, "an outbox row never reached Kafka"
    # Per key, the first appearances of the events are in the order they were written.
    seen: set[str] = set()
    order: dict[str, list[int]] = defaultdict(list)
    for key, seq, event_id in records:
        if event_id not in seen:
            seen.add(event_id)
            order[key].append(seq)
    assert all(seqs == sorted(seqs) for seqs in order.values()), "a key's events were published out of order"

    # And a consumer applies each exactly once, duplicates from the re-sent batch included.
    effects_url = await fresh_database("crash_relay_effects")
    group = f"relay-crash-{uuid.uuid4().hex[:8]}"
    proc = start_harness(
        "consume", "--db", effects_url, "--group", group, "--topic", topic, log_name="relay-crash-consumer", infra=infra
    )
    effects = await asyncpg.connect(effects_url)
    try:
        deadline = time.monotonic() + 120
        while await effects.fetchval("SELECT count(*) FROM effects") < ROWS:
            assert proc.poll() is None, "the consumer died"
            assert time.monotonic() < deadline, "the consumer did not apply every event"
            await asyncio.sleep(0.1)
        await asyncio.sleep(1.0)  # let any duplicate still in flight be applied, or not
        doubled = await effects.fetchval("SELECT count(*) FROM effects WHERE count <> 1")
        applied = await effects.fetchval("SELECT count(*) FROM effects")
    finally:
        await effects.close()
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=30)
    assert applied == ROWS
    assert doubled == 0
