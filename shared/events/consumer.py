"""The consumer runner: exactly-once effects on top of at-least-once delivery.

For each poll's records (from every assigned partition, each partition's in order):
  1. records that can never be processed (not JSON, unknown type, invalid payload) go
     straight to `<topic>.dlq` with the reason in headers, so they never block the partition;
  2. the valid events are applied in one database transaction: an inbox row per
     (consumer, event id) under a unique key, then the handler, for the new ones only;
  3. if that transaction fails, each event is retried alone with backoff, and one that
     still fails goes to the dead-letter topic with its error;
  4. only after the database commit are the offsets committed to Kafka.
A crash anywhere redelivers from the last committed offset, and the inbox turns the
redelivery into a no-op.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import traceback
from collections import Counter
from collections.abc import Awaitable, Callable, Mapping, Sequence
from datetime import UTC, datetime
from typing import TypeAlias
from uuid import UUID

import asyncpg
from aiokafka import AIOKafkaConsumer, ConsumerRebalanceListener, ConsumerRecord, TopicPartition
from aiokafka.errors import CommitFailedError, IllegalStateError
from aiokafka.structs import OffsetAndMetadata
from opentelemetry import trace
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncSession

from shared.bulk import fewer_gc_passes
from shared.db import Database
from shared.events.envelope import Event, MalformedEvent, decode
from shared.events.kafka import reliable_producer
from shared.metrics import CONSUMER_LAG, EVENTS_CONSUMED, EVENTS_DEAD_LETTERED
from shared.tracing import context_from_headers

logger = logging.getLogger("yibao.consumer")
_tracer = trace.get_tracer("yibao.consumer")

Handler = Callable[[AsyncSession, Event], Awaitable[None]]
BatchHandlerFn = Callable[[AsyncSession, Sequence[Event]], Awaitable[None]]


class BatchHandler:
    """Wraps a handler that applies all of a batch's new events of one type at once, in order.

    A partition carries one event type, so a batch from it is homogeneous; a projection can
    then apply the whole batch in one statement instead of one statement per event.
    """

    def __init__(self, apply: BatchHandlerFn) -> None:
        self.apply = apply


AnyHandler = Handler | BatchHandler
Record: TypeAlias = ConsumerRecord[bytes, bytes]


# One cached statement for any batch size: the batch travels as two arrays, not N rows of binds.
_INSERT_INBOX = text(
    "INSERT INTO inbox (consumer, event_id, event_type) "
    "SELECT :consumer, id, type FROM unnest(CAST(:ids AS uuid[]), CAST(:types AS varchar[])) AS batch(id, type) "
    "ON CONFLICT DO NOTHING RETURNING event_id"
)


class PermanentEventError(Exception):
    """Raised by a handler for an event that retrying cannot fix; it is dead-lettered at once."""


def is_infrastructure_failure(exc: BaseException) -> bool:
    """The database or the network failed, not the event: wait and retry, never dead-letter."""
    if isinstance(exc, DBAPIError) and (exc.connection_invalidated or isinstance(exc.orig, OSError)):
        return True
    return isinstance(exc, OSError | TimeoutError | asyncpg.PostgresConnectionError | asyncpg.InterfaceError)


class _InfrastructureDown(Exception):
    """Raised out of a partition's batch so the runner can pause and re-read it."""


class _Revocation(ConsumerRebalanceListener):  # type: ignore[misc]
    def __init__(self, runner: ConsumerRunner) -> None:
        self.runner = runner

    async def on_partitions_revoked(self, revoked: list[TopicPartition]) -> None:
        # Wait for the batch in flight, so its offsets are committed before we lose the partitions.
        async with self.runner.batch_lock:
            pass

    async def on_partitions_assigned(self, assigned: list[TopicPartition]) -> None:
        logger.info("partitions assigned", extra={"partitions": [f"{tp.topic}/{tp.partition}" for tp in assigned]})


class ConsumerRunner:
    def __init__(
        self,
        *,
        name: str,
        db: Database,
        bootstrap_servers: str,
        handlers: Mapping[str, AnyHandler],
        batch_size: int = 1000,
        max_retries: int = 3,
        retry_backoff: float = 0.2,
        group_id: str | None = None,
        topics: Sequence[str] | None = None,
        fetch_min_bytes: int = 65536,
        fetch_max_wait_ms: int = 500,
    ) -> None:
        """`handlers` maps event types to handlers; `topics` defaults to those types (one topic per type).

        The broker answers a fetch once it has `fetch_min_bytes` for us or `fetch_max_wait_ms` passed:
        under a trickle a batch (one transaction, one offset commit) carries what came in the wait,
        not a record or two, and a lone event waits at most `fetch_max_wait_ms` (decision 0020).
        """
        self.name = name
        self.topics = sorted(topics) if topics else sorted(handlers)
        self.db = db
        self.bootstrap_servers = bootstrap_servers
        self.handlers = dict(handlers)
        self.batch_size = batch_size
        self.max_retries = max_retries
        self.retry_backoff = retry_backoff
        self.group_id = group_id or name
        self.batch_lock = asyncio.Lock()
        self.consumer = AIOKafkaConsumer(
            bootstrap_servers=bootstrap_servers,
            group_id=self.group_id,
            client_id=f"yibao-{name}",
            enable_auto_commit=False,
            auto_offset_reset="earliest",
            isolation_level="read_committed",
            max_poll_records=batch_size,
            fetch_min_bytes=fetch_min_bytes,
            fetch_max_wait_ms=fetch_max_wait_ms,
        )
        # How long one getmany waits for records: about one fetch's wait, so an idle loop turns
        # once per fetch, and a stop is noticed within it (never 0: that would spin).
        self.poll_timeout_ms = max(fetch_max_wait_ms, 100)
        self.dlq_producer = reliable_producer(bootstrap_servers, client_id=f"yibao-{name}-dlq")

    async def run(self, stop: asyncio.Event) -> None:
        await self.dlq_producer.start()
        await self.consumer.start()
        self.consumer.subscribe(topics=self.topics, listener=_Revocation(self))
        logger.info("consumer started", extra={"consumer": self.name, "topics": self.topics})
        outage = 0
        try:
            while not stop.is_set():
                batches = await self.consumer.getmany(timeout_ms=self.poll_timeout_ms, max_records=self.batch_size)
                if not batches:
                    continue
                async with self.batch_lock:
                    offsets: dict[TopicPartition, OffsetAndMetadata] = {}
                    try:
                        # Every partition's records of this poll in one transaction, each
                        # partition's in its order: one commit per poll, not one per partition.
                        await self.process_records([record for records in batches.values() for record in records])
                        offsets = {tp: OffsetAndMetadata(records[-1].offset + 1, "") for tp, records in batches.items()}
                        outage = 0
                    except _InfrastructureDown:
                        # Re-read it all once the database or network is back, in order.
                        for tp, records in batches.items():
                            self.consumer.seek(tp, records[0].offset)
                        outage += 1
                    await self._commit(offsets)
                if outage:
                    delay = min(30.0, self.retry_backoff * 2**outage)
                    logger.warning(
                        "infrastructure unavailable; pausing", extra={"consumer": self.name, "retry_in_s": delay}
                    )
                    with contextlib.suppress(TimeoutError):
                        await asyncio.wait_for(stop.wait(), timeout=delay)
                    continue
                await self._record_lag(list(batches))
        finally:
            await self.consumer.stop()
            await self.dlq_producer.stop()
            logger.info("consumer stopped", extra={"consumer": self.name})

    async def _commit(self, offsets: dict[TopicPartition, OffsetAndMetadata]) -> None:
        if not offsets:
            return
        try:
            await self.consumer.commit(offsets)
        except (CommitFailedError, IllegalStateError) as exc:
            # A rebalance took the partitions: their new owner re-reads these records and the
            # inbox turns them into no-ops.
            logger.warning("offset commit lost to a rebalance", extra={"consumer": self.name, "error": str(exc)})

    async def _record_lag(self, partitions: Sequence[TopicPartition]) -> None:
        for tp in partitions:
            highwater = self.consumer.highwater(tp)
            if highwater is None or tp not in self.consumer.assignment():
                continue
            position = await self.consumer.position(tp)
            CONSUMER_LAG.labels(self.name, tp.topic, str(tp.partition)).set(max(0, highwater - position))

    async def process_records(self, records: Sequence[Record]) -> None:
        """Apply records in order (per partition); never raises for a bad record."""
        # A poll's batch is bulk work: up to `batch_size` decoded payloads and what handlers build
        # from them live together, and the collector's default passes re-scan them again and again
        # (decision 0013).
        with fewer_gc_passes():
            await self._process_records(records)

    async def _process_records(self, records: Sequence[Record]) -> None:
        events: list[tuple[Record, Event]] = []
        for record in records:
            try:
                event = decode(record.value, record.headers)
            except MalformedEvent as bad:
                await self.dead_letter(record, bad.reason, bad.detail)
                continue
            if event.type not in self.handlers:
                await self.dead_letter(record, "unexpected-type", f"{self.name} has no handler for {event.type}")
                continue
            events.append((record, event))
        if not events:
            return
        try:
            await self._apply(events)
        except Exception as exc:
            if is_infrastructure_failure(exc):
                raise _InfrastructureDown from exc
            logger.warning(
                "batch failed; retrying event by event",
                exc_info=True,
                extra={"consumer": self.name, "size": len(events)},
            )
            for record, event in events:
                await self._apply_one_with_retries(record, event)

    async def _apply(self, events: Sequence[tuple[Record, Event]]) -> None:
        # Keyed by the UUID itself (asyncpg's UUIDs compare and hash as uuid.UUID), not its text:
        # formatting two strings an event (~1-2 µs each) bought nothing.
        unique: dict[UUID, Event] = {}
        for _, event in events:
            unique.setdefault(event.id, event)
        async with self.db.transaction() as session:
            inserted = await session.execute(
                _INSERT_INBOX,
                {
                    "consumer": self.name,
                    "ids": list(unique),
                    "types": [e.type for e in unique.values()],
                },
            )
            new_ids: set[UUID] = {row.event_id for row in inserted}
            fresh = [event for key, event in unique.items() if key in new_ids]
            # Runs of one type, in delivery order (a topic is one type, so usually one run per topic).
            runs: list[list[Event]] = []
            for event in fresh:
                if runs and runs[-1][0].type == event.type:
                    runs[-1].append(event)
                else:
                    runs.append([event])
            for run in runs:
                await self._handle(session, run)
        duplicates = Counter(e.type for key, e in unique.items() if key not in new_ids)
        applied = Counter(e.type for e in fresh)
        for event_type, count in applied.items():
            EVENTS_CONSUMED.labels(self.name, event_type, "applied").inc(count)
        for event_type, count in duplicates.items():
            EVENTS_CONSUMED.labels(self.name, event_type, "duplicate").inc(count)

    async def _handle(self, session: AsyncSession, run: Sequence[Event]) -> None:
        handler = self.handlers[run[0].type]
        if isinstance(handler, BatchHandler):
            attributes: dict[str, str | int] = {"messaging.system": "kafka", "messaging.batch.message_count": len(run)}
            links = [trace.Link(_span_context(e)) for e in run if e.trace_headers]
            with _tracer.start_as_current_span(
                f"process {run[0].type}", kind=trace.SpanKind.CONSUMER, links=links, attributes=attributes
            ):
                await handler.apply(session, run)
            return
        for event in run:
            with _tracer.start_as_current_span(
                f"process {event.type}",
                context=context_from_headers(event.trace_headers),
                kind=trace.SpanKind.CONSUMER,
                attributes={"messaging.system": "kafka", "messaging.message.id": str(event.id)},
            ):
                await handler(session, event)

    async def _apply_one_with_retries(self, record: Record, event: Event) -> None:
        for attempt in range(1, self.max_retries + 1):
            try:
                await self._apply([(record, event)])
                return
            except PermanentEventError as exc:
                await self.dead_letter(record, "rejected", str(exc))
                return
            except Exception as exc:
                if is_infrastructure_failure(exc):
                    raise _InfrastructureDown from exc
                if attempt == self.max_retries:
                    detail = "".join(traceback.format_exception_only(type(exc), exc)).strip()
                    await self.dead_letter(record, "handler-error", detail)
                    return
                await asyncio.sleep(self.retry_backoff * 2 ** (attempt - 1))

    async def dead_letter(self, record: Record, reason: str, detail: str) -> None:
        topic = f"{record.topic}.dlq"
        headers = [(k, v) for k, v in record.headers if not k.startswith("dlq_")]
        headers += [
            ("dlq_reason", reason.encode()),
            ("dlq_error", detail[:4000].encode("utf-8", "replace")),
            ("dlq_consumer", self.name.encode()),
            ("dlq_topic", record.topic.encode()),
            ("dlq_partition", str(record.partition).encode()),
            ("dlq_offset", str(record.offset).encode()),
            ("dlq_failed_at", datetime.now(UTC).isoformat().encode()),
        ]
        await self.dlq_producer.send_and_wait(topic, value=record.value, key=record.key, headers=headers)
        EVENTS_DEAD_LETTERED.labels(self.name, record.topic, reason).inc()
        logger.warning(
            "event dead-lettered",
            extra={"consumer": self.name, "topic": record.topic, "offset": record.offset, "reason": reason},
        )


def _span_context(event: Event) -> trace.SpanContext:
    return trace.get_current_span(context_from_headers(event.trace_headers)).get_span_context()
