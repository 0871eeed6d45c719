"""The replay tool on the real broker and database: dead letters go back after a fix and are applied
once; published outbox rows go out again, in order, as the relay sent them, and stay untouched."""

from __future__ import annotations

import asyncio
import io
import json
import os
import subprocess
import sys
import time
import uuid
from collections import defaultdict
from typing import Any

import asyncpg
import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient
from prometheus_client import REGISTRY
from sqlalchemy.ext.asyncio import AsyncSession

from devstack.infra import REPO_ROOT
from devstack.stack import Stack
from shared.db import Database
from shared.events.consumer import ConsumerRunner
from shared.events.envelope import Event, encode
from shared.events.kafka import ensure_topics, reliable_producer
from shared.events.outbox import OutboxRelay, publish
from shared.events.replay import (
    DeadLetterFilter,
    OutboxSelection,
    ReplayError,
    parse_instant,
    replay_dead_letters,
    replay_outbox,
)
from tests.integration.conftest import FreshDatabase
from tests.integration.harness import HarnessTick, count_effect

POISON_SEQ = 666
# (partition, offset, key, value, headers) of a record as read back
Read = tuple[int, int, bytes | None, bytes | None, list[tuple[str, bytes]]]


async def end_offsets(bootstrap: str, topic: str) -> dict[int, int]:
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        (described,) = await admin.describe_topics([topic])
    finally:
        await admin.close()
    partitions = [TopicPartition(topic, p["partition"]) for p in described["partitions"]]
    assert partitions, f"no partitions for {topic}"
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, group_id=None)
    await consumer.start()
    try:
        return {tp.partition: offset for tp, offset in (await consumer.end_offsets(partitions)).items()}
    finally:
        await consumer.stop()


async def read_all(bootstrap: str, topic: str, expected: int) -> list[Read]:
    """Every record of `topic`, each partition's in order; fails unless exactly `expected` arrive."""
    consumer = AIOKafkaConsumer(topic, bootstrap_servers=bootstrap, group_id=None, auto_offset_reset="earliest")
    await consumer.start()
    records: list[Read] = []
    try:
        deadline = time.monotonic() + 30
        while len(records) < expected and time.monotonic() < deadline:
            for batch in (await consumer.getmany(timeout_ms=500)).values():
                records += [(r.partition, r.offset, r.key, r.value, list(r.headers)) for r in batch]
        for batch in (await consumer.getmany(timeout_ms=1000)).values():  # nothing more behind them
            records += [(r.partition, r.offset, r.key, r.value, list(r.headers)) for r in batch]
    finally:
        await consumer.stop()
    assert len(records) == expected, f"{topic}: {len(records)} records, expected {expected}"
    return sorted(records, key=lambda r: (r[0], r[1]))


async def wait_for(what: str, check: Any, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while not await check():
        assert time.monotonic() < deadline, what
        await asyncio.sleep(0.1)


def consumed(consumer: str, outcome: str) -> float:
    labels = {"consumer": consumer, "type": HarnessTick.event_type, "outcome": outcome}
    return REGISTRY.get_sample_value("yibao_events_consumed_total", labels) or 0.0


async def test_dead_letters_replayed_after_the_fix_are_applied_exactly_once(
    infra: Stack, fresh_database: FreshDatabase
) -> None:
    topic = f"harness.replay-{uuid.uuid4().hex[:6]}"
    dlq_topic = f"{topic}.dlq"
    await ensure_topics(infra.bootstrap, partitions=2, replication_factor=1, topics=[topic, dlq_topic])
    url = await fresh_database("replay_dlq")
    bug = {"present": True}

    async def handler(session: AsyncSession, event: Event) -> None:
        assert isinstance(event.payload, HarnessTick)
        if event.payload.seq == POISON_SEQ and bug["present"]:
            raise RuntimeError("a bug in the handler, fixed later")
        await count_effect(session, event)

    def tick(seq: int, key: str = "same-key") -> tuple[bytes, bytes, list[tuple[str, bytes]]]:
        return encode(Event.new(HarnessTick(partition_key=key, seq=seq), source="/tests"))

    poison_key, poison_value, poison_headers = tick(POISON_SEQ)
    poison_id = dict(poison_headers)["ce_id"]
    producer = AIOKafkaProducer(bootstrap_servers=infra.bootstrap)
    await producer.start()
    try:
        for key, value, headers in (
            tick(1),
            (poison_key, poison_value, poison_headers),
            (b"other-key", b'{"partition_key": "other-key", "seq": "not a number"}', tick(3, "other-key")[2]),
            tick(2),
        ):
            await producer.send_and_wait(topic, value=value, key=key, headers=headers)
    finally:
        await producer.stop()

    name = f"replay-{uuid.uuid4().hex[:6]}"
    db = Database(url, pool_size=2)
    runner = ConsumerRunner(
        name=name,
        db=db,
        bootstrap_servers=infra.bootstrap,
        handlers={HarnessTick.event_type: handler},
        topics=[topic],
        retry_backoff=0.01,
    )
    stop = asyncio.Event()
    task = asyncio.create_task(runner.run(stop))
    conn = await asyncpg.connect(url)
    group = f"replay-tool-{uuid.uuid4().hex[:6]}"
    try:

        async def dead_lettered_two() -> bool:
            assert not task.done(), task.exception()
            return sum((await end_offsets(infra.bootstrap, dlq_topic)).values()) == 2

        await wait_for("the poison and the invalid payload were not dead-lettered", dead_lettered_two)
        assert await conn.fetchval("SELECT count(*) FROM effects WHERE seq IN (1, 2)") == 2
        topic_before = await end_offsets(infra.bootstrap, topic)

        # A dry run lists both with their reason and error, produces nothing and commits nothing.
        listing = io.StringIO()
        dry = await replay_dead_letters(
            bootstrap=infra.bootstrap, dlq_topic=dlq_topic, group=group, dry_run=True, out=listing
        )
        assert (dry.read, dict(dry.replayed), dict(dry.skipped)) == (2, {topic: 2}, {})
        lines = listing.getvalue().splitlines()
        assert len(lines) == 2
        poison_line = next(line for line in lines if " handler-error " in line)
        assert f"ce_id={poison_id.decode()}" in poison_line
        assert f"consumer={name}" in poison_line
        assert "RuntimeError: a bug in the handler, fixed later" in poison_line
        assert any(" invalid-payload " in line for line in lines)
        assert await end_offsets(infra.bootstrap, topic) == topic_before
        later = DeadLetterFilter(since=parse_instant("2999-01-01"))
        none = await replay_dead_letters(
            bootstrap=infra.bootstrap, dlq_topic=dlq_topic, group=group, only=later, dry_run=True
        )
        assert (none.read, sum(none.replayed.values()), dict(none.skipped)) == (2, 0, {"since": 2})

        # The fix is deployed; only the handler's failures are replayed (the invalid payload would fail again).
        bug["present"] = False
        only = DeadLetterFilter(reasons=frozenset({"handler-error"}), consumers=frozenset({name}))
        done = await replay_dead_letters(bootstrap=infra.bootstrap, dlq_topic=dlq_topic, group=group, only=only)
        assert (done.read, dict(done.replayed), dict(done.skipped)) == (2, {topic: 1}, {"reason": 1})

        async def poison_applied() -> bool:
            assert not task.done(), task.exception()
            return bool(await conn.fetchval("SELECT count FROM effects WHERE seq = $1", POISON_SEQ) == 1)

        await wait_for("the replayed event was never applied", poison_applied)

        # Back on its topic as first published: the same key, value and headers (ce_id among them).
        records = await read_all(infra.bootstrap, topic, sum(topic_before.values()) + 1)
        copies = [r for r in records if dict(r[4]).get("ce_id") == poison_id]
        assert len(copies) == 2
        assert copies[0][0] == copies[1][0], "the replay landed on another partition than the original"
        for _, _, copy_key, copy_value, copy_headers in copies:
            assert (copy_key, copy_value, copy_headers) == (poison_key, poison_value, poison_headers)

        # The group's offsets were committed: running again finds nothing new.
        again = await replay_dead_letters(bootstrap=infra.bootstrap, dlq_topic=dlq_topic, group=group, only=only)
        assert (again.read, sum(again.replayed.values())) == (0, 0)

        # Replayed once more from the start, the event reaches the consumer and changes nothing.
        duplicates = consumed(name, "duplicate")
        twice = await replay_dead_letters(
            bootstrap=infra.bootstrap, dlq_topic=dlq_topic, group=group, only=only, from_beginning=True
        )
        assert dict(twice.replayed) == {topic: 1}

        async def seen_as_duplicate() -> bool:
            assert not task.done(), task.exception()
            return consumed(name, "duplicate") > duplicates

        await wait_for("the second replay never reached the consumer", seen_as_duplicate)
        counts = await conn.fetch("SELECT seq, count FROM effects ORDER BY seq")
        assert [(r["seq"], r["count"]) for r in counts] == [(1, 1), (2, 1), (POISON_SEQ, 1)]
        assert await conn.fetchval("SELECT count(*) FROM inbox WHERE event_id = $1", uuid.UUID(poison_id.decode())) == 1
        assert sum((await end_offsets(infra.bootstrap, dlq_topic)).values()) == 2, "nothing was dead-lettered again"
    finally:
        stop.set()
        await task
        await conn.close()
        await db.dispose()


async def test_offsets_are_committed_only_past_what_was_produced(infra: Stack) -> None:
    """One record a read: the two before a record the tool cannot produce are replayed and
    committed; that record stops the run, is not committed, and stops the next run again."""
    target = f"harness.resume-{uuid.uuid4().hex[:6]}"
    dlq_topic = f"{target}.dlq"
    await ensure_topics(infra.bootstrap, partitions=1, replication_factor=1, topics=[target, dlq_topic])

    def dead_letter(seq: int, topic: str) -> tuple[bytes, bytes, list[tuple[str, bytes]]]:
        key, value, headers = encode(Event.new(HarnessTick(partition_key="k", seq=seq), source="/tests"))
        consumer = b"fixed" if topic == target else b"other"
        return (
            key,
            value,
            [*headers, ("dlq_reason", b"handler-error"), ("dlq_consumer", consumer), ("dlq_topic", topic.encode())],
        )

    producer = AIOKafkaProducer(bootstrap_servers=infra.bootstrap)
    await producer.start()
    try:
        for seq, topic in ((1, target), (2, target), (3, "harness.no-such-topic"), (4, target)):
            key, value, headers = dead_letter(seq, topic)
            await producer.send_and_wait(dlq_topic, value=value, key=key, headers=headers)
    finally:
        await producer.stop()
    group = f"replay-tool-{uuid.uuid4().hex[:6]}"
    for _ in range(2):
        with pytest.raises(ReplayError, match=r"names topic 'harness\.no-such-topic', not on the broker"):
            await replay_dead_letters(bootstrap=infra.bootstrap, dlq_topic=dlq_topic, group=group, batch_size=1)
    # The first two went once (the second run began at the third), the fourth never.
    replayed = await read_all(infra.bootstrap, target, 2)
    assert [json.loads(value or b"null")["seq"] for _, _, _, value, _ in replayed] == [1, 2]
    # Left out by a filter, the bad record is committed past and the fourth goes.
    only = DeadLetterFilter(consumers=frozenset({"fixed"}))
    rest = await replay_dead_letters(bootstrap=infra.bootstrap, dlq_topic=dlq_topic, group=group, only=only)
    assert (rest.read, dict(rest.replayed), dict(rest.skipped)) == (2, {target: 1}, {"consumer": 1})
    replayed = await read_all(infra.bootstrap, target, 3)
    assert [json.loads(value or b"null")["seq"] for _, _, _, value, _ in replayed] == [1, 2, 4]
    with pytest.raises(ReplayError, match=r"no topic 'harness\.never-made\.dlq'"):
        await replay_dead_letters(bootstrap=infra.bootstrap, dlq_topic="harness.never-made.dlq")


OUTBOX_ROWS = 10


async def test_the_outbox_replay_republishes_the_selected_rows_as_the_relay_did_and_leaves_them(
    infra: Stack, fresh_database: FreshDatabase
) -> None:
    topic = f"harness.outbox-replay-{uuid.uuid4().hex[:6]}"
    await ensure_topics(infra.bootstrap, partitions=2, replication_factor=1, topics=[topic, f"{topic}.dlq"])
    url = await fresh_database("replay_outbox")
    db = Database(url, pool_size=2)
    conn = await asyncpg.connect(url)
    producer = reliable_producer(infra.bootstrap, client_id="test-replay-relay")
    await producer.start()
    try:
        async with db.transaction() as session:
            for seq in range(OUTBOX_ROWS):
                await publish(session, HarnessTick(partition_key=f"K{seq % 3}", seq=seq), source="/tests")
        # This test's own topic; row n created n hours after 2026-11-01 00:00 Shanghai time.
        await conn.execute(
            "UPDATE outbox SET topic = $1, created_at = timestamptz '2026-11-01 00:00+08' + id * interval '1 hour'",
            topic,
        )
        relay = OutboxRelay(db, producer, service="harness")
        while await relay.publish_batch():
            pass
        # One row still pending: the relay's business, never the replay's.
        async with db.transaction() as session:
            await publish(session, HarnessTick(partition_key="K0", seq=100), source="/tests")
        await conn.execute("UPDATE outbox SET topic = $1 WHERE published_at IS NULL", topic)
        ids = [r["id"] for r in await conn.fetch("SELECT id FROM outbox ORDER BY id")]
        assert len(ids) == OUTBOX_ROWS + 1
        before = [dict(r) for r in await conn.fetch("SELECT * FROM outbox ORDER BY id")]
        relayed = await read_all(infra.bootstrap, topic, OUTBOX_ROWS)
        ends = await end_offsets(infra.bootstrap, topic)

        # Dry runs count what would go and send nothing: ids[2..5] were created 03:00..06:00 Shanghai.
        window = OutboxSelection(
            since=parse_instant(f"2026-11-01T{ids[2]:02d}:00:00+08:00"),
            until=parse_instant(f"2026-11-01T{ids[5] + 1:02d}:00:00+08:00"),
        )
        counted = await replay_outbox(database_url=url, bootstrap=infra.bootstrap, selection=window, dry_run=True)
        assert (dict(counted.by_type), counted.first_id, counted.last_id) == ({"harness.tick": 4}, ids[2], ids[5])
        other_type = OutboxSelection(event_types=("claim.settled",))
        none = await replay_outbox(database_url=url, bootstrap=infra.bootstrap, selection=other_type, dry_run=True)
        assert sum(none.by_type.values()) == 0
        assert await end_offsets(infra.bootstrap, topic) == ends

        # From the fifth row on, two rows a batch: the five published ones after it, not the pending one.
        from_fifth = OutboxSelection(event_types=(HarnessTick.event_type,), from_id=ids[4])
        progress = io.StringIO()
        sent = await replay_outbox(
            database_url=url, bootstrap=infra.bootstrap, selection=from_fifth, batch_size=2, out=progress
        )
        assert (dict(sent.by_type), sent.first_id, sent.last_id) == ({"harness.tick": 6}, ids[4], ids[9])
        assert len(progress.getvalue().splitlines()) == 3

        records = await read_all(infra.bootstrap, topic, OUTBOX_ROWS + 6)
        after_ids = {str(r["event_id"]) for r in before[4:OUTBOX_ROWS]}
        first = defaultdict(list)  # per partition: what the relay sent of the selected rows, in its order
        again = defaultdict(list)  # per partition: what the replay sent
        for partition, _, key, value, headers in relayed:
            if dict(headers)["ce_id"].decode() in after_ids:
                first[partition].append((key, value, headers))
        for partition, offset, key, value, headers in records:
            if offset >= ends[partition]:
                again[partition].append((key, value, headers))
        assert again == first
        seqs = [json.loads(value or b"null")["seq"] for batch in again.values() for _, value, _ in batch]
        assert sorted(seqs) == list(range(4, OUTBOX_ROWS))

        after = [dict(r) for r in await conn.fetch("SELECT * FROM outbox ORDER BY id")]
        assert after == before, "the replay changed the outbox"
        assert after[-1]["published_at"] is None
        # The relay carries on where it was: the pending row, and nothing the replay sent.
        assert await relay.publish_batch() == 1
        assert await conn.fetchval("SELECT count(*) FROM outbox WHERE published_at IS NULL") == 0
    finally:
        await producer.stop()
        await conn.close()
        await db.dispose()


def run_cli(infra: Stack, *argv: str, **env: str) -> subprocess.CompletedProcess[str]:
    environment = {**os.environ, "DATABASE_URL": infra.database_url, "KAFKA_BOOTSTRAP_SERVERS": infra.bootstrap, **env}
    return subprocess.run(
        [sys.executable, "-m", "shared.events.replay", *argv],
        cwd=REPO_ROOT,
        env=environment,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_the_command_finds_a_service_database_and_topics_from_the_environment(infra: Stack) -> None:
    # The migrated settlement database (yibao_settlement on DATABASE_URL's server) and the platform's topics.
    counted = run_cli(infra, "outbox", "settlement", "--type", "claim.settled", "--since", "2026-11-01", "--dry-run")
    assert (counted.returncode, counted.stderr) == (0, "")
    assert counted.stdout == "would re-publish 0 events: no published outbox row matches\n"
    listed = run_cli(infra, "dlq", "claim.settled.dlq", "--reason", "handler-error", "--dry-run")
    assert (listed.returncode, listed.stderr) == (0, "")
    assert listed.stdout == "read 0; would replay 0; skipped by filter none\n"

    unknown = run_cli(infra, "dlq", "claim.setled.dlq")
    assert (unknown.returncode, unknown.stdout) == (2, "")
    assert unknown.stderr == f"replay: no topic 'claim.setled.dlq' on {infra.bootstrap}\n"
    missing = run_cli(
        infra, "outbox", "ltc", "--dry-run", LTC_DATABASE_URL=infra.database_url.rsplit("/", 1)[0] + "/yibao_nowhere"
    )
    assert missing.returncode == 1
    assert missing.stderr.startswith("replay: database ")
    assert "Traceback" not in missing.stderr
