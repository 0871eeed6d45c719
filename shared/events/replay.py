"""Operators' replay tools: `python -m shared.events.replay dlq|outbox ...` (`make replay ARGS=...`).

dlq     reads a dead-letter topic (`claim.settled.dlq`) from a consumer group of its own and produces
        each record, optionally filtered, back to its `dlq_topic` with its original key, value and
        CloudEvents headers (the dlq_* headers stripped, `ce_id` kept: a consumer that applied the
        event already finds it in its inbox and does nothing). The group's offsets are committed
        only after the broker acknowledged the produce, so a crash mid-way replays again (harmless,
        for the same reason) instead of losing records.
outbox  re-publishes a service's already published outbox rows, selected by type, creation time
        and/or id, in the relay's order and exactly as the relay sends them (the relay's own
        `send_rows`). Read-only on the outbox: it never touches `published_at` and takes none of the
        relay's locks.

A user's mistake (an unknown topic, service or type, a bad date) is a one-line error and exit
status 2; the broker or the database out of reach is exit status 1. See docs/operations.md and
decision 0018.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import sys
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time
from typing import Any, TextIO
from zoneinfo import ZoneInfo

import asyncpg
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, ConsumerRecord, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.errors import KafkaConnectionError, KafkaError
from pydantic_settings import SettingsConfigDict
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError

from shared.db import Database
from shared.events.contracts import platform_event_types
from shared.events.kafka import reliable_producer
from shared.events.outbox import RECORD_COLUMNS, send_rows
from shared.settings import DEFAULT_KAFKA_BOOTSTRAP_SERVERS, ServiceSettings

# Business dates are Shanghai dates (DOMAIN.md): an operator's "2026-11-24" means that day there.
SHANGHAI = ZoneInfo("Asia/Shanghai")
DLQ_SUFFIX = ".dlq"
DLQ_HEADER_PREFIX = "dlq_"
# The reasons the consumer runner writes (shared/events/consumer.py and envelope.MalformedEvent).
DEAD_LETTER_REASONS = (
    "not-json",
    "unknown-type",
    "invalid-payload",
    "missing-attribute",
    "invalid-attribute",
    "unexpected-type",
    "rejected",
    "handler-error",
)
# How long a read may bring nothing while the end offsets taken at the start are not reached.
_STALL_TIMEOUT_S = 30.0


class ReplayError(Exception):
    """A user's mistake (or a state the tool refuses): printed as one line, exit status 2."""

    exit_status = 2


class ReplayUnavailable(ReplayError):
    """The broker or the database is out of reach: exit status 1."""

    exit_status = 1


# ---- parsing and filtering (pure) ----


def parse_instant(value: str) -> datetime:
    """An ISO 8601 date (`2026-11-24`, midnight in Shanghai) or instant (`2026-11-24T08:00:00+08:00`;
    without a zone, Shanghai time); returned in UTC. For argparse: a bad value is its error."""
    raw = value.strip()
    try:
        if len(raw) == 10:
            return datetime.combine(date.fromisoformat(raw), time(0), SHANGHAI).astimezone(UTC)
        parsed = datetime.fromisoformat(raw)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"{value!r} is not an ISO 8601 date or instant (2026-11-24, 2026-11-24T08:00:00+08:00)"
        ) from None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=SHANGHAI)
    return parsed.astimezone(UTC)


def header_text(headers: Sequence[tuple[str, bytes]]) -> dict[str, str]:
    """A record's headers as text (the last one wins, as CloudEvents readers take it)."""
    return {key: value.decode("utf-8", "replace") for key, value in headers}


def restored_headers(headers: Sequence[tuple[str, bytes]]) -> list[tuple[str, bytes]]:
    """The record's headers as first published: the consumer runner's dlq_* ones taken off."""
    return [(key, value) for key, value in headers if not key.startswith(DLQ_HEADER_PREFIX)]


def failed_at(fields: Mapping[str, str], record_timestamp_ms: int) -> datetime:
    """When the record was dead-lettered: its dlq_failed_at header, else the record's own timestamp."""
    stamp = fields.get("dlq_failed_at")
    if stamp:
        try:
            parsed = datetime.fromisoformat(stamp)
            return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)
        except ValueError:
            pass
    return datetime.fromtimestamp(record_timestamp_ms / 1000, UTC)


@dataclass(frozen=True)
class DeadLetterFilter:
    """Which dead letters to replay; every given criterion must hold (none given: all)."""

    reasons: frozenset[str] = frozenset()
    consumers: frozenset[str] = frozenset()
    since: datetime | None = None

    def skip_reason(self, fields: Mapping[str, str], failed: datetime) -> str | None:
        """Why the record is left alone (`reason`, `consumer`, `since`), or None to replay it."""
        if self.reasons and fields.get("dlq_reason") not in self.reasons:
            return "reason"
        if self.consumers and fields.get("dlq_consumer") not in self.consumers:
            return "consumer"
        if self.since is not None and failed < self.since:
            return "since"
        return None


@dataclass(frozen=True)
class OutboxSelection:
    """Which published outbox rows to re-publish: creation time in [since, until), id from `from_id`."""

    event_types: tuple[str, ...] = ()
    since: datetime | None = None
    until: datetime | None = None
    from_id: int | None = None

    def __post_init__(self) -> None:
        if self.since is not None and self.until is not None and self.since >= self.until:
            raise ReplayError(f"--since ({self.since.isoformat()}) must be before --until ({self.until.isoformat()})")
        if self.from_id is not None and self.from_id < 1:
            raise ReplayError("--from-id must be a positive outbox id")

    def where(self) -> tuple[str, dict[str, Any]]:
        """The WHERE clause (published rows only: pending ones are the relay's) and its parameters."""
        clauses = ["published_at IS NOT NULL"]
        params: dict[str, Any] = {}
        if self.event_types:
            clauses.append("event_type = ANY(CAST(:event_types AS varchar[]))")
            params["event_types"] = list(self.event_types)
        if self.since is not None:
            clauses.append("created_at >= :since")
            params["since"] = self.since
        if self.until is not None:
            clauses.append("created_at < :until")
            params["until"] = self.until
        if self.from_id is not None:
            clauses.append("id >= :from_id")
            params["from_id"] = self.from_id
        return " AND ".join(clauses), params


def publishing_services() -> dict[str, list[str]]:
    """Each service that publishes events, with the types it publishes (from the contracts)."""
    services: dict[str, list[str]] = {}
    for event_type, contract in sorted(platform_event_types().items()):
        services.setdefault(contract.publisher, []).append(event_type)
    return services


def check_types(service: str, event_types: Sequence[str]) -> None:
    """Refuse a service that publishes nothing, or a type the service does not publish."""
    services = publishing_services()
    if service not in services:
        raise ReplayError(f"unknown service {service!r}: services with an outbox are {', '.join(sorted(services))}")
    for event_type in event_types:
        if event_type not in services[service]:
            raise ReplayError(f"{service} does not publish {event_type!r}; it publishes {', '.join(services[service])}")


def service_settings(service: str) -> ServiceSettings:
    """The service's own settings as its processes read them (`<SVC>_DATABASE_URL`, else database
    `yibao_<svc>` on DATABASE_URL's server; KAFKA_BOOTSTRAP_SERVERS), without importing the service."""
    settings_class = type(
        f"{service.title()}ReplaySettings",
        (ServiceSettings,),
        {"model_config": SettingsConfigDict(env_prefix=f"{service.upper()}_", extra="ignore", populate_by_name=True)},
    )
    # The replay signs no tokens: the production check on the JWT secret does not concern it.
    settings: ServiceSettings = settings_class(service_name=service, env="test")
    return settings


# ---- dlq ----


@dataclass
class DeadLetterSummary:
    read: int = 0
    replayed: Counter[str] = field(default_factory=Counter)  # by target topic
    skipped: Counter[str] = field(default_factory=Counter)  # by criterion

    def line(self, *, dry_run: bool) -> str:
        matched = sum(self.replayed.values())
        verb = "would replay" if dry_run else "replayed"
        targets = ", ".join(f"{topic}: {n}" for topic, n in sorted(self.replayed.items()))
        skipped = ", ".join(f"{why}: {n}" for why, n in sorted(self.skipped.items())) or "none"
        return f"read {self.read}; {verb} {matched}{f' ({targets})' if targets else ''}; skipped by filter {skipped}"


def describe_dead_letter(record: ConsumerRecord[bytes, bytes], fields: Mapping[str, str]) -> str:
    error = fields.get("dlq_error", "").strip().splitlines()
    return (
        f"{record.partition}:{record.offset} {fields.get('dlq_reason', '?')} "
        f"consumer={fields.get('dlq_consumer', '?')} topic={fields.get('dlq_topic', '?')} "
        f"ce_id={fields.get('ce_id', '?')} type={fields.get('ce_type', '?')} "
        f"failed_at={fields.get('dlq_failed_at', '?')} error={(error[0] if error else '')[:300]}"
    )


async def replay_dead_letters(
    *,
    bootstrap: str,
    dlq_topic: str,
    group: str | None = None,
    only: DeadLetterFilter | None = None,
    dry_run: bool = False,
    from_beginning: bool = False,
    batch_size: int = 500,
    out: TextIO = sys.stdout,
) -> DeadLetterSummary:
    """Produce the dead letters of `dlq_topic` back to their topics; see the module's docstring.

    Reads each partition up to its end at the start (a record dead-lettered again by this very
    replay waits for the next run, so a cause not yet fixed cannot make it loop). A dry run lists
    the records and commits nothing.
    """
    if not dlq_topic.endswith(DLQ_SUFFIX):
        raise ReplayError(f"{dlq_topic!r} is not a dead-letter topic (they end in {DLQ_SUFFIX})")
    only = only or DeadLetterFilter()
    consumer = AIOKafkaConsumer(
        bootstrap_servers=bootstrap,
        group_id=group or f"yibao-replay.{dlq_topic}",
        client_id="yibao-replay",
        enable_auto_commit=False,
        auto_offset_reset="earliest",
        isolation_level="read_committed",
    )
    producer = None if dry_run else reliable_producer(bootstrap, client_id="yibao-replay-dlq")
    summary = DeadLetterSummary()
    try:
        on_broker = await _broker_partitions(bootstrap)
        if dlq_topic not in on_broker:
            raise ReplayError(f"no topic {dlq_topic!r} on {bootstrap}")
        topics = set(on_broker)
        await _start(consumer, bootstrap)
        # Assigned, not subscribed: the group only keeps this tool's offsets; no rebalance to wait for.
        partitions = [TopicPartition(dlq_topic, p) for p in on_broker[dlq_topic]]
        consumer.assign(partitions)
        if from_beginning:
            await consumer.seek_to_beginning(*partitions)
        ends: dict[TopicPartition, int] = await consumer.end_offsets(partitions)
        if producer is not None:
            await _start(producer, bootstrap)
        remaining = {tp for tp in partitions if await consumer.position(tp) < ends[tp]}
        idle_since = asyncio.get_running_loop().time()
        while remaining:
            batches = await consumer.getmany(*remaining, timeout_ms=1000, max_records=batch_size)
            records = [r for tp, batch in batches.items() for r in batch if r.offset < ends[tp]]
            if records:
                idle_since = asyncio.get_running_loop().time()
                await _replay_batch(consumer, producer, records, topics, only, summary, out)
            elif asyncio.get_running_loop().time() - idle_since > _STALL_TIMEOUT_S:
                raise ReplayUnavailable(f"no records from {dlq_topic} for {_STALL_TIMEOUT_S:.0f}s before its end")
            remaining = {tp for tp in remaining if await consumer.position(tp) < ends[tp]}
    except KafkaError as exc:
        raise ReplayUnavailable(f"Kafka at {bootstrap}: {exc}") from exc
    finally:
        await _stop(producer, consumer)
    return summary


async def _replay_batch(
    consumer: AIOKafkaConsumer,
    producer: AIOKafkaProducer | None,
    records: Sequence[ConsumerRecord[bytes, bytes]],
    topics: set[str],
    only: DeadLetterFilter,
    summary: DeadLetterSummary,
    out: TextIO,
) -> None:
    """Replay one read's records, then commit past them; without a producer (a dry run), list them."""
    chosen: list[tuple[str, ConsumerRecord[bytes, bytes]]] = []
    for record in records:
        fields = header_text(record.headers)
        summary.read += 1
        skip = only.skip_reason(fields, failed_at(fields, record.timestamp))
        if skip is not None:
            summary.skipped[skip] += 1
            continue
        target = fields.get("dlq_topic")
        if not target:
            raise ReplayError(f"record {record.partition}:{record.offset} has no dlq_topic header: not a dead letter")
        if target not in topics:
            raise ReplayError(f"record {record.partition}:{record.offset} names topic {target!r}, not on the broker")
        chosen.append((target, record))
        if producer is None:
            print(describe_dead_letter(record, fields), file=out)
    if producer is None:
        summary.replayed.update(target for target, _ in chosen)
        return
    acks = [
        await producer.send(target, value=record.value, key=record.key, headers=restored_headers(record.headers))
        for target, record in chosen
    ]
    await asyncio.gather(*acks)
    # Only now, every produce acknowledged: past the skipped records too (they stay on the topic
    # for --from-beginning or another group).
    last: dict[TopicPartition, int] = {}
    for record in records:
        last[TopicPartition(record.topic, record.partition)] = record.offset + 1
    await consumer.commit(last)
    summary.replayed.update(target for target, _ in chosen)


async def _start(client: Any, bootstrap: str) -> None:
    try:
        await client.start()
    except KafkaConnectionError as exc:
        raise ReplayUnavailable(f"cannot reach Kafka at {bootstrap}: {exc}") from exc


async def _stop(*clients: Any) -> None:
    """Stop each client made, started or not (a start that failed still holds a connection)."""
    for client in clients:
        if client is not None:
            with contextlib.suppress(Exception):
                await client.stop()


# ---- outbox ----


@dataclass
class OutboxSummary:
    by_type: Counter[str] = field(default_factory=Counter)
    first_id: int | None = None
    last_id: int | None = None

    def line(self, *, dry_run: bool) -> str:
        total = sum(self.by_type.values())
        verb = "would re-publish" if dry_run else "re-published"
        if not total:
            return f"{verb} 0 events: no published outbox row matches"
        types = ", ".join(f"{t}: {n}" for t, n in sorted(self.by_type.items()))
        return f"{verb} {total} events ({types}), outbox ids {self.first_id}..{self.last_id}"


_COUNT_SQL = "SELECT event_type, count(*) AS n, min(id) AS first_id, max(id) AS last_id FROM outbox WHERE {where} GROUP BY event_type"
# Built from constants: the WHERE clause is OutboxSelection.where's, every value in it is bound.
_PAGE_SQL = "SELECT " + RECORD_COLUMNS + " FROM outbox WHERE {where} AND id > :after ORDER BY id LIMIT :limit"  # noqa: S608


async def replay_outbox(
    *,
    database_url: str,
    bootstrap: str,
    selection: OutboxSelection,
    batch_size: int = 1000,
    dry_run: bool = False,
    out: TextIO = sys.stdout,
) -> OutboxSummary:
    """Re-publish the selected published rows in id order (the relay's), a batch at a time.

    Each batch is read in a READ ONLY transaction (the server refuses any write) and sent only
    after that transaction ends, through the relay's `send_rows`; the next batch is read once the
    broker acknowledged this one.
    """
    where, params = selection.where()
    db = Database(database_url, pool_size=1, max_overflow=0, pre_ping=False)
    try:
        if dry_run:
            return await _count_rows(db, where, params)
        return await _republish(db, bootstrap, where, params, batch_size, out)
    except (OSError, asyncpg.PostgresError, DBAPIError) as exc:
        reason = exc.orig if isinstance(exc, DBAPIError) else exc  # the driver's words, not SQLAlchemy's wrapping
        raise ReplayUnavailable(f"database {database_url.split('@')[-1]}: {reason}") from exc
    except KafkaError as exc:
        raise ReplayUnavailable(f"Kafka at {bootstrap}: {exc}") from exc
    finally:
        await db.dispose()


async def _count_rows(db: Database, where: str, params: dict[str, Any]) -> OutboxSummary:
    summary = OutboxSummary()
    async with db.transaction() as session:
        await session.execute(text("SET TRANSACTION READ ONLY"))
        for row in await session.execute(text(_COUNT_SQL.format(where=where)), params):
            summary.by_type[row.event_type] = row.n
            summary.first_id = min(summary.first_id or row.first_id, row.first_id)
            summary.last_id = max(summary.last_id or row.last_id, row.last_id)
    return summary


async def _republish(
    db: Database, bootstrap: str, where: str, params: dict[str, Any], batch_size: int, out: TextIO
) -> OutboxSummary:
    summary = OutboxSummary()
    producer = reliable_producer(bootstrap, client_id="yibao-replay-outbox")
    try:
        await _start(producer, bootstrap)
        topics = set(await _broker_partitions(bootstrap))
        page = text(_PAGE_SQL.format(where=where))
        after = 0
        while True:
            async with db.transaction() as session:
                await session.execute(text("SET TRANSACTION READ ONLY"))
                rows = (await session.execute(page, {**params, "after": after, "limit": batch_size})).all()
            if not rows:
                return summary
            missing = sorted({row.topic for row in rows} - topics)
            if missing:
                raise ReplayError(f"topic {', '.join(missing)} is not on the broker (outbox id {rows[0].id} onwards)")
            await asyncio.gather(*await send_rows(producer, rows))
            after = rows[-1].id
            summary.first_id = summary.first_id or rows[0].id
            summary.last_id = after
            summary.by_type.update(row.event_type for row in rows)
            print(f"  ... {sum(summary.by_type.values())} events, up to outbox id {after}", file=out)
    finally:
        await _stop(producer)


async def _broker_partitions(bootstrap: str) -> dict[str, list[int]]:
    """Every topic on the broker with its partitions (from the admin client: a consumer's own
    metadata cache knows only the topics it was told about)."""
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap, client_id="yibao-replay")
    try:
        await _start(admin, bootstrap)
        described = await admin.describe_topics()
    finally:
        with contextlib.suppress(Exception):
            await admin.close()
    return {t["topic"]: sorted(p["partition"] for p in t["partitions"]) for t in described}


# ---- command line ----


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m shared.events.replay", description="Replay dead letters or published outbox rows to Kafka."
    )
    parser.add_argument(
        "--bootstrap",
        default=None,
        help="Kafka bootstrap servers (default: KAFKA_BOOTSTRAP_SERVERS, else " + DEFAULT_KAFKA_BOOTSTRAP_SERVERS + ")",
    )
    commands = parser.add_subparsers(dest="command", required=True)

    dlq = commands.add_parser("dlq", help="produce a dead-letter topic's records back to their topics")
    dlq.add_argument("topic", help="the dead-letter topic, e.g. claim.settled.dlq")
    dlq.add_argument("--reason", action="append", choices=DEAD_LETTER_REASONS, help="only this dlq_reason (repeatable)")
    dlq.add_argument("--consumer", action="append", help="only records this consumer dead-lettered (repeatable)")
    dlq.add_argument("--since", type=parse_instant, help="only records dead-lettered at or after this date or instant")
    dlq.add_argument("--group", help="the replay's consumer group (default yibao-replay.<topic>)")
    dlq.add_argument(
        "--from-beginning", action="store_true", help="read from the topic's start, not the group's offset"
    )
    dlq.add_argument(
        "--dry-run", action="store_true", help="list the records with their reason and error; send nothing"
    )

    outbox = commands.add_parser("outbox", help="re-publish a service's already published outbox rows")
    outbox.add_argument("service", help="the publishing service, e.g. settlement")
    outbox.add_argument("--type", action="append", dest="types", default=[], help="only this event type (repeatable)")
    outbox.add_argument("--since", type=parse_instant, help="rows created at or after this date or instant")
    outbox.add_argument("--until", type=parse_instant, help="rows created before this date or instant")
    outbox.add_argument("--from-id", type=int, help="rows from this outbox id on")
    outbox.add_argument("--batch-size", type=int, default=1000, help="rows per read and per send (1000)")
    outbox.add_argument("--database-url", help="the service's database (default: its own <SVC>_DATABASE_URL setting)")
    outbox.add_argument("--dry-run", action="store_true", help="count what would go, per type; send nothing")
    return parser


async def _run(args: argparse.Namespace, out: TextIO) -> None:
    bootstrap = args.bootstrap or os.environ.get("KAFKA_BOOTSTRAP_SERVERS", DEFAULT_KAFKA_BOOTSTRAP_SERVERS)
    if args.command == "dlq":
        only = DeadLetterFilter(
            reasons=frozenset(args.reason or ()), consumers=frozenset(args.consumer or ()), since=args.since
        )
        dlq_summary = await replay_dead_letters(
            bootstrap=bootstrap,
            dlq_topic=args.topic,
            group=args.group,
            only=only,
            dry_run=args.dry_run,
            from_beginning=args.from_beginning,
            out=out,
        )
        print(dlq_summary.line(dry_run=args.dry_run), file=out)
        return
    check_types(args.service, args.types)
    if args.batch_size < 1:
        raise ReplayError("--batch-size must be at least 1")
    selection = OutboxSelection(event_types=tuple(args.types), since=args.since, until=args.until, from_id=args.from_id)
    settings = service_settings(args.service)
    outbox_summary = await replay_outbox(
        database_url=args.database_url or settings.database_url,
        bootstrap=args.bootstrap or settings.kafka_bootstrap_servers,
        selection=selection,
        batch_size=args.batch_size,
        dry_run=args.dry_run,
        out=out,
    )
    print(outbox_summary.line(dry_run=args.dry_run), file=out)


def main(argv: Sequence[str] | None = None, *, out: TextIO = sys.stdout, err: TextIO = sys.stderr) -> int:
    """The exit status: 0 done, 1 the broker or database out of reach, 2 a user's mistake."""
    args = _parser().parse_args(argv)  # argparse itself exits 2 with usage on a bad argument
    try:
        asyncio.run(_run(args, out))
    except ReplayError as exc:
        print(f"replay: {exc}", file=err)
        return exc.exit_status
    return 0


if __name__ == "__main__":
    sys.exit(main())
