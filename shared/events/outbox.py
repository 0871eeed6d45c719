"""Write events into the outbox in the caller's transaction, and relay them to Kafka."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import zlib
from collections.abc import Sequence
from datetime import UTC, datetime

from aiokafka import AIOKafkaProducer
from sqlalchemy import func, insert, select, text
from sqlalchemy.ext.asyncio import AsyncSession

from shared.db import Database
from shared.events.contracts import EventPayload
from shared.events.envelope import Event, kafka_headers
from shared.metrics import OUTBOX_PENDING, OUTBOX_PUBLISHED
from shared.tables import outbox
from shared.tracing import current_trace_headers

logger = logging.getLogger("yibao.outbox")

# Fixed on purpose: a key must always map to the same shard, or ordering would break.
OUTBOX_SHARDS = 16
# Namespace of the advisory locks one relay holds per shard while it publishes.
_RELAY_LOCK_NAMESPACE = 0x7962


def shard_of(key: str) -> int:
    return zlib.crc32(key.encode()) % OUTBOX_SHARDS


def _outbox_row(payload: EventPayload, source: str, trace: dict[str, str]) -> tuple[Event, dict[str, object]]:
    event = Event.new(payload, source=source, trace_headers=trace)
    return event, {
        "event_id": event.id,
        "event_type": event.type,
        "topic": event.type,
        "key": event.key,
        "shard": shard_of(event.key),
        "source": event.source,
        "subject": event.subject,
        "occurred_at": event.time,
        "payload": payload.model_dump_json().encode(),
        "headers": event.trace_headers,
    }


_MARK_PUBLISHED = text("UPDATE outbox SET published_at = :now WHERE id = ANY(CAST(:ids AS bigint[]))")
# The core INSERT (not the PostgreSQL dialect's, which SQLAlchemy cannot cache) compiles once.
_INSERT_OUTBOX = insert(outbox)


async def publish(session: AsyncSession, payload: EventPayload, *, source: str) -> Event:
    """Record an event to be published once the caller's transaction commits."""
    event, row = _outbox_row(payload, source, current_trace_headers())
    await session.execute(_INSERT_OUTBOX, row)
    return event


async def publish_many(session: AsyncSession, payloads: Sequence[EventPayload], *, source: str) -> list[Event]:
    """Record several events in one statement (a batch import, a fan-out), in the given order."""
    trace = current_trace_headers()
    rows = [_outbox_row(p, source, trace) for p in payloads]
    if rows:
        await session.execute(_INSERT_OUTBOX, [row for _, row in rows])
    return [event for event, _ in rows]


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
        batch_size: int = 500,
        poll_interval: float = 0.05,
    ) -> None:
        self.db = db
        self.producer = producer
        self.service = service
        self.batch_size = batch_size
        self.poll_interval = poll_interval

    async def publish_batch(self) -> int:
        """Publish at most one batch; returns how many rows it published."""
        async with self.db.transaction() as session:
            rows = (
                await session.execute(
                    select(
                        outbox.c.id,
                        outbox.c.event_id,
                        outbox.c.event_type,
                        outbox.c.topic,
                        outbox.c.key,
                        outbox.c.source,
                        outbox.c.subject,
                        outbox.c.occurred_at,
                        outbox.c.payload,
                        outbox.c.headers,
                    )
                    .where(
                        outbox.c.published_at.is_(None),
                        func.pg_try_advisory_xact_lock(_RELAY_LOCK_NAMESPACE, outbox.c.shard),
                    )
                    .order_by(outbox.c.id)
                    .limit(self.batch_size)
                    .with_for_update(skip_locked=True)
                )
            ).all()
            if not rows:
                return 0
            pending = []
            for row in rows:
                headers = kafka_headers(
                    event_id=row.event_id,
                    event_type=row.event_type,
                    source=row.source,
                    time=row.occurred_at,
                    subject=row.subject,
                    trace=dict(row.headers or {}),
                )
                # send() enqueues in order and returns a future for the broker's ack.
                pending.append(
                    await self.producer.send(row.topic, value=row.payload, key=row.key.encode(), headers=headers)
                )
            await asyncio.gather(*pending)
            await session.execute(_MARK_PUBLISHED, {"ids": [r.id for r in rows], "now": datetime.now(UTC)})
        OUTBOX_PUBLISHED.labels(self.service).inc(len(rows))
        return len(rows)

    async def pending_count(self) -> int:
        async with self.db.transaction() as session:
            count = await session.scalar(text("SELECT count(*) FROM outbox WHERE published_at IS NULL"))
        return int(count or 0)

    async def run(self, stop: asyncio.Event) -> None:
        logger.info("outbox relay started", extra={"batch_size": self.batch_size})
        failures = 0
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
            if published < self.batch_size:
                await _sleep_or_stop(stop, self.poll_interval)
        logger.info("outbox relay stopped")


async def _sleep_or_stop(stop: asyncio.Event, seconds: float) -> None:
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(stop.wait(), timeout=seconds)
