"""The audit bench's pipeline floor: consume, decode and store each claim exactly once, no rules.

What issue 6 fixes about the post audit, and nothing more: each `claim.settled` is read from
Kafka (aiokafka, as ours and the plain consume), decoded, kept in supervision's own history
(item 3: claims by person, practitioner and traceability code, indexed for the windows) and
given an audit result (item 4), exactly once. Here that is done as cheaply as we know how:

- the value is `json.loads`-ed, without pydantic and without the rules or any history read;
- per batch, one transaction: three binary COPYs (claims with their whole JSON, traceability
  codes, audit results, none of them conflict-checked) and the batch's next offsets per partition,
  stored in the same transaction: exactly once with no inbox and no commit to Kafka;
- its tables carry only the indexes the windowed rules need (person and practitioner by date,
  codes), fewer rows and columns than ours store.

So it does less than any audit that keeps the issue's history can, and its rate bounds ours from
above; beside the plain consume in the same round, its ratio is the most any audit built on this
stack reaches on this machine.
"""

from __future__ import annotations

import json
import time
from datetime import date
from typing import Any

import asyncpg
from aiokafka import AIOKafkaConsumer, TopicPartition

from bench.events import cpu_now, cpu_used
from bench.harness import BenchContext
from shared.settings import plain_url

BATCH = 1000  # as ConsumerRunner's default and the plain consume's

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


async def measure_pipeline_floor(ctx: BenchContext, topic: str, n: int, limit_s: float) -> dict[str, Any]:
    url = await ctx.empty_database(ctx.unique("auditfloor"))
    conn = await asyncpg.connect(plain_url(url))
    for ddl in FLOOR_DDL:
        await conn.execute(ddl)
    consumer = AIOKafkaConsumer(
        topic,
        bootstrap_servers=ctx.bootstrap,
        group_id=ctx.unique("audit-floor"),
        auto_offset_reset="earliest",
        enable_auto_commit=False,
        max_poll_records=BATCH,
    )
    await consumer.start()
    try:
        cpu_before = cpu_now(ctx)
        first_at: float | None = None
        stored = 0
        deadline = time.perf_counter() + limit_s
        while stored < n:
            batches: dict[TopicPartition, list[Any]] = await consumer.getmany(timeout_ms=200, max_records=BATCH)
            records = [record for part in batches.values() for record in part]
            if not records:
                if time.perf_counter() > deadline:
                    raise TimeoutError(f"the pipeline floor stored {stored} of {n} within {limit_s:.0f}s")
                continue
            if first_at is None:
                first_at = time.perf_counter()
            claims: list[tuple[Any, ...]] = []
            codes: list[tuple[str, str]] = []
            for record in records:
                row, row_codes = rows_of(record.value)
                claims.append(row)
                codes.extend(row_codes)
            results = [(row[0], "clean") for row in claims]
            partitions = [tp.partition for tp, part in batches.items() if part]
            offsets = [part[-1].offset + 1 for part in batches.values() if part]
            async with conn.transaction():
                await conn.copy_records_to_table("floor_claims", records=claims)
                if codes:
                    await conn.copy_records_to_table("floor_codes", records=codes)
                await conn.copy_records_to_table("floor_audit_results", records=results)
                await conn.execute(_STORE_OFFSETS, topic, partitions, offsets)
            stored += len(records)
        done_at = time.perf_counter()
        cpu = cpu_used(cpu_before, cpu_now(ctx))
        audited = await conn.fetchval("SELECT count(*) FROM floor_audit_results")
    finally:
        await consumer.stop()
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
