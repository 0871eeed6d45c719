"""The audit bench's pipeline floor: consume, decode and store each claim exactly once, no rules.

What issue 6 fixes about the post audit, and nothing more: each `claim.settled` is read from
Kafka (aiokafka, as ours and the plain consume), decoded, kept in supervision's own history
(item 3: claims by person, practitioner and traceability code, indexed for the windows) and
given an audit result (item 4), exactly once. Here that is done as cheaply as we know how:

- the value is `json.loads`-ed, without pydantic and without the rules or any history read;
- fetching and decoding the next batch overlaps the database's writing of the last ones, one
  connection per partition, so the partitions' commits overlap too;
- per partition's batch, one transaction: three binary COPYs (claims with their whole JSON, traceability
  codes, audit results, none of them conflict-checked) and the partition's next offset, stored in
  the same transaction: exactly once with no inbox and no commit to Kafka;
- its tables carry only the indexes the windowed rules need (person and practitioner by date,
  codes), fewer rows and columns than ours store.

So it does less than any audit that keeps the issue's history can. Beside the plain consume in
the same round, its ratio says how far a rules-free pipeline gets on this stack and machine: a
reference for what is left for the rules, not a proof (a cleverer pipeline might beat it). A
single writer reached 0.15-0.17 here at 100,000 events; a writer per partition 0.22-0.26.
"""

from __future__ import annotations

import asyncio
import json
import time
from dataclasses import dataclass
from datetime import date
from typing import Any

import asyncpg
from aiokafka import AIOKafkaConsumer, TopicPartition

from bench.events import PARTITIONS, cpu_now, cpu_used
from bench.harness import BenchContext
from shared.settings import plain_url

BATCH = 5000  # five times ConsumerRunner's default: fewer commits, each waiting for its WAL flush

FLOOR_DDL = (
    """CREATE TABLE floor_claims (
        settlement_id uuid PRIMARY KEY, person_no text NOT NULL, practitioner_code text NOT NULL,
        institution_code text NOT NULL, admitted_on date NOT NULL, discharged_on date NOT NULL,
        claim jsonb NOT NULL)""",
    "CREATE INDEX ON floor_claims (person_no, discharged_on)",
    "CREATE INDEX ON floor_claims (practitioner_code, discharged_on)",
    "CREATE TABLE floor_codes (code text NOT NULL, settlement_id uuid NOT NULL)",
    "CREATE INDEX ON floor_codes (code)",
    "CREATE TABLE floor_audit_results (settlement_id uuid PRIMARY KEY, outcome text NOT NULL)",
    """CREATE TABLE floor_offsets (
        topic text NOT NULL, partition integer NOT NULL, next_offset bigint NOT NULL,
        PRIMARY KEY (topic, partition))""",
)
_STORE_OFFSETS = """
INSERT INTO floor_offsets (topic, partition, next_offset) SELECT $1, p, o FROM unnest($2::int[], $3::bigint[]) AS t(p, o)
ON CONFLICT (topic, partition) DO UPDATE SET next_offset = excluded.next_offset
"""


@dataclass(frozen=True, slots=True)
class _Batch:
    claims: list[tuple[Any, ...]]
    codes: list[tuple[str, str]]
    results: list[tuple[str, str]]
    next_offset: int


def rows_of(value: bytes) -> tuple[tuple[Any, ...], list[tuple[str, str]]]:
    """One claim's history row and its traceability codes, from the event's JSON."""
    claim = json.loads(value)
    settlement_id = claim["settlement_id"]
    row = (
        settlement_id,
        claim["person_no"],
        claim["practitioner_code"],
        claim["institution_code"],
        date.fromisoformat(claim["admitted_on"]),
        date.fromisoformat(claim["discharged_on"]),
        value.decode(),
    )
    codes = [(code, settlement_id) for line in claim["lines"] for code in line.get("traceability_codes", ())]
    return row, codes


class _PartitionWriter:
    """One connection per partition, writing that partition's batches in order: its stored offset
    only moves forward, and the partitions' commits (each waiting for its WAL flush) overlap."""

    def __init__(self, conn: asyncpg.Connection, topic: str, partition: int) -> None:
        self.conn, self.topic, self.partition = conn, topic, partition
        self.queue: asyncio.Queue[_Batch | None] = asyncio.Queue(maxsize=2)
        self.stored = 0
        self.task = asyncio.create_task(self._write(), name=f"floor-writer-{partition}")

    async def _write(self) -> None:
        while (batch := await self.queue.get()) is not None:
            async with self.conn.transaction():
                await self.conn.copy_records_to_table("floor_claims", records=batch.claims)
                if batch.codes:
                    await self.conn.copy_records_to_table("floor_codes", records=batch.codes)
                await self.conn.copy_records_to_table("floor_audit_results", records=batch.results)
                await self.conn.execute(_STORE_OFFSETS, self.topic, [self.partition], [batch.next_offset])
            self.stored += len(batch.claims)

    async def hand_over(self, batch: _Batch | None) -> None:
        put = asyncio.create_task(self.queue.put(batch))
        await asyncio.wait({put, self.task}, return_when=asyncio.FIRST_COMPLETED)
        if not put.done():  # the writer failed while its queue was full
            put.cancel()
            self.task.result()


def _batch_of(records: list[Any]) -> _Batch:
    claims: list[tuple[Any, ...]] = []
    codes: list[tuple[str, str]] = []
    for record in records:
        row, row_codes = rows_of(record.value)
        claims.append(row)
        codes.extend(row_codes)
    return _Batch(claims, codes, [(row[0], "clean") for row in claims], records[-1].offset + 1)


async def measure_pipeline_floor(ctx: BenchContext, topic: str, n: int, limit_s: float) -> dict[str, Any]:
    url = await ctx.empty_database(ctx.unique("auditfloor"))
    conns = [await asyncpg.connect(plain_url(url)) for _ in range(PARTITIONS)]
    for ddl in FLOOR_DDL:
        await conns[0].execute(ddl)
    consumer = AIOKafkaConsumer(
        topic,
        bootstrap_servers=ctx.bootstrap,
        group_id=ctx.unique("audit-floor"),
        auto_offset_reset="earliest",
        enable_auto_commit=False,
        max_poll_records=BATCH,
    )
    await consumer.start()
    # Fetching and decoding the next batch overlaps the database writing the last ones.
    writers = {partition: _PartitionWriter(conns[partition], topic, partition) for partition in range(PARTITIONS)}
    try:
        cpu_before = cpu_now(ctx)
        first_at: float | None = None
        fetched = 0
        deadline = time.perf_counter() + limit_s
        while fetched < n:
            for writer in writers.values():
                if writer.task.done():
                    writer.task.result()
            batches: dict[TopicPartition, list[Any]] = await consumer.getmany(timeout_ms=200, max_records=BATCH)
            if not any(batches.values()):
                if time.perf_counter() > deadline:
                    stored = sum(w.stored for w in writers.values())
                    raise TimeoutError(f"the pipeline floor stored {stored} of {n} within {limit_s:.0f}s")
                continue
            if first_at is None:
                first_at = time.perf_counter()
            for tp, records in batches.items():
                if records:
                    await writers[tp.partition].hand_over(_batch_of(records))
                    fetched += len(records)
        for writer in writers.values():
            await writer.hand_over(None)
        await asyncio.gather(*(writer.task for writer in writers.values()))
        done_at = time.perf_counter()
        cpu = cpu_used(cpu_before, cpu_now(ctx))
        audited = await conns[0].fetchval("SELECT count(*) FROM floor_audit_results")
    finally:
        for writer in writers.values():
            writer.task.cancel()
        await consumer.stop()
        for conn in conns:
            await conn.close()
    if audited != n:
        raise RuntimeError(f"the pipeline floor stored {audited} audit results for {n} events")
    assert first_at is not None
    elapsed = done_at - first_at
    return {
        "events_per_s": n / elapsed,
        "elapsed_s": round(elapsed, 2),
        "cpu_s": cpu,
        "python_cpu_us_per_claim": None if cpu["python"] is None else round(cpu["python"] / n * 1e6, 1),
        "postgres_cpu_us_per_claim": None if cpu["postgres"] is None else round(cpu["postgres"] / n * 1e6, 1),
    }
