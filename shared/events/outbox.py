"""Write events into the outbox in the caller's transaction, and relay them to Kafka."""

from __future__ import annotations

import asyncio
import contextlib
import functools
import json
import logging
import operator
import zlib
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any, NamedTuple

from aiokafka import AIOKafkaProducer
from aiokafka.partitioner import DefaultPartitioner
from aiokafka.producer.message_accumulator import BatchBuilder
from sqlalchemy import Row, text
from sqlalchemy.ext.asyncio import AsyncSession

from shared.db import Database, copy_records
from shared.events.contracts import EventPayload
from shared.events.envelope import Event, ce_headers
from shared.metrics import OUTBOX_PENDING, OUTBOX_PUBLISHED
from shared.tracing import current_trace_headers
from shared.uuids import time_ordered_uuids

logger = logging.getLogger("yibao.outbox")

# Fixed on purpose: a key must always map to the same shard, or ordering would break.
OUTBOX_SHARDS = 16
_PARTITIONER = DefaultPartitioner()
# Namespace of the advisory locks one relay holds per shard while it publishes.
_RELAY_LOCK_NAMESPACE = 0x7962


@functools.lru_cache(maxsize=65536)
def partition_for(key: bytes, partitions: tuple[int, ...]) -> int:
    """The partition Kafka's default partitioner gives a key (murmur2, pure Python, so cached)."""
    return int(_PARTITIONER(key, list(partitions), list(partitions)))


def shard_of(key: str) -> int:
    return zlib.crc32(key.encode()) % OUTBOX_SHARDS


_EMPTY_HEADERS = "{}"
_BY_ID = operator.attrgetter("id")

# One statement for any number of events: the rows travel as ten arrays, so a batch of N costs
# one round trip and one parse of a cached statement, not N binds (as executemany would).
INSERT_SQL = (
    "INSERT INTO outbox (event_id, event_type, topic, key, shard, source, subject, occurred_at, payload, headers) "
    "SELECT e, t, t, k, sh, src, sub, ts, p, CAST(h AS jsonb) FROM unnest("
    "CAST(:event_ids AS uuid[]), CAST(:types AS varchar[]), CAST(:keys AS varchar[]), CAST(:shards AS smallint[]), "
    "CAST(:sources AS varchar[]), CAST(:subjects AS varchar[]), CAST(:times AS timestamptz[]), "
    "CAST(:payloads AS bytea[]), CAST(:headers AS text[])) WITH ORDINALITY AS batch(e, t, k, sh, src, sub, ts, p, h, n) "
    "ORDER BY n"  # ids follow the given order: the relay publishes by id
)
_INSERT_OUTBOX = text(INSERT_SQL)


def _insert_params(events: Sequence[Event]) -> dict[str, list[object]]:
    return {
        "event_ids": [e.id for e in events],
        "types": [e.type for e in events],  # an event's type is its topic
        "keys": [e.key for e in events],
        "shards": [shard_of(e.key) for e in events],
        "sources": [e.source for e in events],
        "subjects": [e.subject for e in events],
        "times": [e.time for e in events],
        "payloads": [e.payload.model_dump_json().encode() for e in events],
        "headers": [json.dumps(e.trace_headers) if e.trace_headers else _EMPTY_HEADERS for e in events],
    }


async def publish(session: AsyncSession, payload: EventPayload, *, source: str) -> Event:
    """Record an event to be published once the caller's transaction commits."""
    event = Event.new(payload, source=source, trace_headers=current_trace_headers())
    await session.execute(_INSERT_OUTBOX, _insert_params([event]))
    return event


async def publish_many(session: AsyncSession, payloads: Sequence[EventPayload], *, source: str) -> list[Event]:
    """Record several events in one statement (a batch import, a fan-out), in the given order."""
    events, params = stage(payloads, source=source)
    if events:
        await session.execute(_INSERT_OUTBOX, params)
    return events


def stage(payloads: Sequence[EventPayload], *, source: str) -> tuple[list[Event], dict[str, list[object]]]:
    """The events for these payloads and the parameters of `INSERT_SQL` that record them, in order.

    For a caller that folds the outbox insert into a larger statement of its transaction (a
    data-modifying CTE beside its own writes) to save round trips; publish_many is the plain form.
    The parameter names are those of `INSERT_SQL` (event_ids, types, keys, shards, sources,
    subjects, times, payloads, headers): the caller's own must differ.
    """
    trace = current_trace_headers()
    now = datetime.now(UTC)
    # One instant and ids made together (shared.uuids): uuid7() one by one would move its clock a
    # millisecond ahead per id, stamping a fan-out of thousands seconds into the future.
    events = [
        Event(
            id=event_id,
            type=payload.event_type,
            source=source,
            time=now,
            subject=payload.key(),
            payload=payload,
            trace_headers=dict(trace),
        )
        for event_id, payload in zip(time_ordered_uuids(len(payloads), now), payloads, strict=True)
    ]
    return events, _insert_params(events)


_COPY_COLUMNS = (
    "event_id",
    "event_type",
    "topic",
    "key",
    "shard",
    "source",
    "subject",
    "occurred_at",
    "payload",
    "headers",
)


class EncodedEvent(NamedTuple):
    """An event whose payload is already its contract's JSON (a bulk writer's, e.g. the enrollment import's
    services/enrollment/import_events.py): its type, its Kafka key (the person number) and the payload bytes."""

    event_type: str
    key: str
    payload: bytes


async def publish_copied(session: AsyncSession, payloads: Sequence[EventPayload], *, source: str) -> int:
    """Record many events (a batch import's thousands) by COPY, in the given order; how many were recorded.

    What publish_many records, at a fraction of the cost per event: one instant and one trace header for the
    batch, ids made in bulk, no Event objects, and COPY instead of ten parameter arrays. The caller's
    transaction must already be begun (shared.db.copy_records); a refusal raises shared.db.CopyRefused.
    """
    encoded = [EncodedEvent(p.event_type, p.key(), p.model_dump_json().encode()) for p in payloads]
    return await publish_encoded(session, encoded, source=source)


async def publish_encoded(session: AsyncSession, events: Sequence[EncodedEvent], *, source: str) -> int:
    """publish_copied for events whose payload JSON the caller wrote (and is answerable for: the contract's
    exact JSON, as tests/unit/test_enrollment_import_events.py proves for the import's writers).

    Binary COPY (copy_records), not text: for these rows text cost more on both sides (bytea as hex, the instant
    parsed per row; measured in decision 0014)."""
    if not events:
        return 0
    trace = current_trace_headers()
    headers = json.dumps(trace) if trace else _EMPTY_HEADERS
    now = datetime.now(UTC)
    shards: dict[str, int] = {}  # a person's events come together: one CRC per key
    records = []
    for event_id, (kind, key, payload) in zip(time_ordered_uuids(len(events), now), events, strict=True):
        shard = shards.get(key)
        if shard is None:
            shard = shards[key] = shard_of(key)
        records.append((event_id, kind, kind, key, shard, source, key, now, payload, headers))
    await copy_records(session, "outbox", _COPY_COLUMNS, records)
    return len(records)


# The columns `send_rows` builds a record from, as the relay reads them (and the replay,
# shared.events.replay): the CloudEvents id and time come back already formatted (C in the
# server, not Python per row).
RECORD_COLUMNS = (
    "id, CAST(event_id AS text) AS event_id, event_type, topic, key, source, subject,"
    " to_char(occurred_at AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.US\"+00:00\"') AS occurred_at,"
    " payload, CAST(headers AS text) AS headers"
)

# Claims a batch and marks it published in one statement: the rows stay locked (FOR UPDATE
# SKIP LOCKED) until the transaction ends, and the transaction commits only after the broker
# acknowledged every record, so a failed send rolls the mark back. The claim walks the pending
# index in id order and stops after `limit` rows, so its cost does not grow with the backlog;
# `= ANY(ARRAY(...))` makes the update find them by primary key.
_CLAIM_BATCH = text(
    "UPDATE outbox SET published_at = clock_timestamp() WHERE id = ANY(ARRAY("  # noqa: S608 - constant columns
    " SELECT id FROM outbox"
    " WHERE published_at IS NULL AND pg_try_advisory_xact_lock(:namespace, shard)"
    " ORDER BY id LIMIT :limit FOR UPDATE SKIP LOCKED))"
    " RETURNING " + RECORD_COLUMNS
)


async def send_rows(producer: AIOKafkaProducer, rows: Sequence[Row[Any]]) -> list[asyncio.Future[Any]]:
    """Hand outbox rows (read as `RECORD_COLUMNS`, in id order) to the producer as one record batch
    per partition, in order; returns the futures of the broker's acknowledgements.

    The one place an outbox row becomes a Kafka record: the relay and the replay
    (shared.events.replay) both send through it, so a replayed event is the relayed one (same key,
    value, headers, ce_id). `send_batch` costs one future per batch, where `send` costs one per
    record; the partition is the one `send` would choose (the default partitioner, on the key).
    """
    builders: dict[tuple[str, int], BatchBuilder] = {}
    acks: list[asyncio.Future[Any]] = []
    partitions: dict[str, list[int]] = {}
    for row in rows:
        topic: str = row.topic
        if topic not in partitions:
            partitions[topic] = sorted(await producer.partitions_for(topic))
        key = row.key.encode()
        target = (topic, partition_for(key, tuple(partitions[topic])))
        headers = ce_headers(
            event_id=row.event_id,
            event_type=row.event_type,
            source=row.source,
            time=row.occurred_at,
            subject=row.subject,
            trace=json.loads(row.headers) if row.headers != _EMPTY_HEADERS else {},
        )
        builder = builders.get(target)
        if builder is None or builder.append(timestamp=None, key=key, value=row.payload, headers=headers) is None:
            if builder is not None:  # full: it goes now, and the partition's next records follow it
                acks.append(await _send_batch(producer, builder, target))
            builder = builders[target] = producer.create_batch()
            if builder.append(timestamp=None, key=key, value=row.payload, headers=headers) is None:
                raise ValueError(f"outbox row {row.id} does not fit in a record batch")
    for target, builder in builders.items():
        acks.append(await _send_batch(producer, builder, target))
    return acks


async def _send_batch(
    producer: AIOKafkaProducer, builder: BatchBuilder, target: tuple[str, int]
) -> asyncio.Future[Any]:
    # Closed, the batch is complete: the producer sends it at once instead of lingering
    # (`linger_ms`) for records that will never come.
    builder.close()
    ack: asyncio.Future[Any] = await producer.send_batch(builder, target[0], partition=target[1])
    return ack


class PollBackoff:
    """How long the relay waits before its next claim, from what the last claim published.

    A full batch: claim again at once (a backlog). A partial one: `busy` seconds (the traffic is a
    trickle; wait for a few more rows). Nothing: `busy`, then twice as long after each further empty
    claim, up to `idle_cap`, so an idle relay claims about once per `idle_cap` instead of every
    `busy` seconds; the first batch found brings it back to `busy` (decision 0020). A row written
    while the relay is idle is therefore published within about `idle_cap`.
    """

    def __init__(self, busy: float, idle_cap: float) -> None:
        self.busy = busy
        self.idle_cap = max(busy, idle_cap)
        self._idle_wait = busy

    def after(self, published: int, batch_size: int) -> float:
        """Seconds to wait after a claim that published `published` rows of at most `batch_size`."""
        if published:
            self._idle_wait = self.busy
            return 0.0 if published >= batch_size else self.busy
        wait = self._idle_wait
        self._idle_wait = min(self.idle_cap, wait * 2)
        return wait


class OutboxRelay:
    """Publishes outbox rows in order, batch by batch, then marks them published.

    Ordering per key: rows of one key share a shard, and a relay publishes a shard only
    while holding that shard's transaction-scoped advisory lock, so two relay replicas
    never publish the same key's rows concurrently. `FOR UPDATE SKIP LOCKED` keeps
    replicas from waiting on each other's rows. A crash after the broker acknowledged a
    batch but before the commit republishes it: consumers deduplicate by event id.
    """

    def __init__(
        self,
        db: Database,
        producer: AIOKafkaProducer,
        *,
        service: str,
        batch_size: int = 1000,
        poll_interval: float = 0.05,
        idle_poll_cap: float = 1.0,
    ) -> None:
        """`poll_interval` is the wait between claims while rows keep coming; `idle_poll_cap` the
        longest wait once they stop (PollBackoff), hence the worst delay of a row written after a lull."""
        self.db = db
        self.producer = producer
        self.service = service
        self.batch_size = batch_size
        self.poll_interval = poll_interval
        self.idle_poll_cap = idle_poll_cap

    async def publish_batch(self) -> int:
        """Publish at most one batch; returns how many rows it published."""
        async with self.db.transaction() as session:
            claimed = await session.execute(
                _CLAIM_BATCH, {"namespace": _RELAY_LOCK_NAMESPACE, "limit": self.batch_size}
            )
            rows = sorted(claimed.all(), key=_BY_ID)  # RETURNING has no order; the log has
            if not rows:
                return 0
            await asyncio.gather(*await send_rows(self.producer, rows))
        OUTBOX_PUBLISHED.labels(self.service).inc(len(rows))
        return len(rows)

    async def pending_count(self) -> int:
        async with self.db.transaction() as session:
            count = await session.scalar(text("SELECT count(*) FROM outbox WHERE published_at IS NULL"))
        return int(count or 0)

    async def run(self, stop: asyncio.Event) -> None:
        logger.info(
            "outbox relay started",
            extra={"batch_size": self.batch_size, "poll_s": self.poll_interval, "idle_poll_cap_s": self.idle_poll_cap},
        )
        failures = 0
        backoff = PollBackoff(self.poll_interval, self.idle_poll_cap)
        loop = asyncio.get_running_loop()
        next_gauge = 0.0
        while not stop.is_set():
            if loop.time() >= next_gauge:
                next_gauge = loop.time() + 5.0
                try:
                    OUTBOX_PENDING.labels(self.service).set(await self.pending_count())
                except Exception:
                    logger.warning("could not count pending outbox rows", exc_info=True)
            try:
                published = await self.publish_batch()
                failures = 0
            except Exception:
                failures += 1
                delay = min(5.0, 0.2 * 2**failures)
                logger.exception("outbox relay batch failed; retrying", extra={"retry_in_s": delay})
                await _sleep_or_stop(stop, delay)
                continue
            wait = backoff.after(published, self.batch_size)
            if wait:
                await _sleep_or_stop(stop, wait)
        logger.info("outbox relay stopped")


async def _sleep_or_stop(stop: asyncio.Event, seconds: float) -> None:
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(stop.wait(), timeout=seconds)
