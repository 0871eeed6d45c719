"""The `events` bench: outbox -> relay -> Kafka -> inbox consumer, end to end, against plain aiokafka.

ours:  N events written into a fresh database's outbox (transactions of `TXN_EVENTS`, through
       `shared.events.outbox.publish`), while an `OutboxRelay` and a `ConsumerRunner` run in
       the same process, as `shared.worker` wires them; the handler upserts one row per event
       in `bench_effects`. Timed from the first outbox write until `bench_effects` holds N rows.
plain: the same N records (same keys, same value bytes) through an idempotent `acks=all`
       AIOKafkaProducer, consumed by a plain auto-commit AIOKafkaConsumer, concurrently.
       Timed from the first send until the last record is consumed.
Rounds alternate (ours, plain, ours, plain, ...) so both see the same machine; the medians
give the ratio. A last, staged round of ours times the stages apart (outbox writes alone,
then relay + consumer on the full outbox) and accounts CPU to Python, PostgreSQL and Kafka.
"""

from __future__ import annotations

import asyncio
import json
import os
import sys
import time
from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar, cast

import asyncpg
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from aiokafka.errors import KafkaError
from sqlalchemy import event, text
from sqlalchemy.ext.asyncio import AsyncSession

from bench.harness import BenchContext, BenchResult, cpu_seconds, median, register
from devstack.infra import REPO_ROOT
from shared.db import Database
from shared.events.consumer import BatchHandler, ConsumerRunner, Record
from shared.events.contracts import EVENT_TYPES, EventPayload
from shared.events.contracts import register as register_event
from shared.events.envelope import Event
from shared.events.kafka import ensure_topics, reliable_producer
from shared.events.outbox import OutboxRelay
from shared.settings import plain_url
from shared.tracing import configure_tracing

PARTITIONS = 3  # as devstack creates the platform's topics
KEYS = 1000  # distinct keys (persons)
PAD = "x" * 150  # a value of ~200 bytes
TXN_EVENTS = 100  # outbox events per writing transaction
WRITERS = 4  # concurrent writing transactions, as an API serves concurrent requests
RELAY_BATCH = 1000  # OutboxRelay's default
CONSUMER_BATCH = 1000  # ConsumerRunner's default
POLL_S = 0.02  # how often the effect table is counted
WARMUP_EVENTS = 5000  # enough for the broker's JIT and the database to warm up before round 1
STAGED_EVENTS = 5000
DEFAULT_BUDGET_S = 150.0  # rounds after the first are skipped past this (env BENCH_BUDGET_S)

EFFECTS_DDL = "CREATE TABLE bench_effects (seq integer PRIMARY KEY, count integer NOT NULL)"
# The whole batch in one statement, as BatchHandler is meant for: the sequence numbers travel as one array.
UPSERT = text(
    "INSERT INTO bench_effects (seq, count) SELECT seq, 1 FROM unnest(CAST(:seqs AS integer[])) AS batch(seq) "
    "ON CONFLICT (seq) DO UPDATE SET count = bench_effects.count + 1"
)


class BenchTick(EventPayload):
    """Bench-only event: a sequence number under a key, padded to a realistic size."""

    event_type: ClassVar[str] = "bench.tick"
    publisher: ClassVar[str] = "bench"
    key_field: ClassVar[str] = "partition_key"

    partition_key: str
    seq: int
    pad: str


if BenchTick.event_type not in EVENT_TYPES:
    register_event(BenchTick)


def tick_type(run: str) -> type[BenchTick]:
    """A BenchTick type of its own, hence a fresh topic: an event's type is its topic."""
    cls = cast(
        "type[BenchTick]",
        type(f"BenchTick_{run}", (BenchTick,), {"__module__": __name__, "event_type": f"bench.tick.{run}"}),
    )
    register_event(cls)
    return cls


def tick(cls: type[BenchTick], seq: int) -> BenchTick:
    return cls(partition_key=f"p{seq % KEYS:04d}", seq=seq, pad=PAD)


async def count_effects(session: AsyncSession, events: Sequence[Event]) -> None:
    """The effect of a batch of ticks in one statement, as a projection would apply it."""
    seqs = []
    for item in events:
        assert isinstance(item.payload, BenchTick)
        seqs.append(item.payload.seq)
    await session.execute(UPSERT, {"seqs": seqs})


# -- instruments ------------------------------------------------------------------------------
@dataclass
class Meter:
    """Items through a stage: how many, in how many calls, and when the first and last ended."""

    items: int = 0
    calls: int = 0
    busy_s: float = 0.0
    first_at: float | None = None
    last_at: float | None = None

    def add(self, items: int, started: float) -> None:
        now = time.perf_counter()
        self.items += items
        self.calls += 1
        self.busy_s += now - started
        self.first_at = self.first_at or now
        self.last_at = now


class TimedRelay(OutboxRelay):
    meter: Meter

    async def publish_batch(self) -> int:
        started = time.perf_counter()
        published = await super().publish_batch()
        if published:
            self.meter.add(published, started)
        return published


class TimedRunner(ConsumerRunner):
    meter: Meter

    async def process_records(self, records: Sequence[Record]) -> None:
        started = time.perf_counter()
        await super().process_records(records)
        self.meter.add(len(records), started)


@dataclass
class SqlTimer:
    """Wall time per kind of statement, from SQLAlchemy's cursor events (asyncpg underneath)."""

    seconds: dict[str, float] = field(default_factory=lambda: defaultdict(float))
    counts: dict[str, int] = field(default_factory=lambda: defaultdict(int))

    def attach(self, db: Database) -> None:
        engine = db.engine.sync_engine

        @event.listens_for(engine, "before_cursor_execute")
        def before(conn: Any, cursor: Any, statement: str, params: Any, context: Any, executemany: bool) -> None:
            conn.info["bench_t"] = time.perf_counter()

        @event.listens_for(engine, "after_cursor_execute")
        def after(conn: Any, cursor: Any, statement: str, params: Any, context: Any, executemany: bool) -> None:
            kind = _statement_kind(statement)
            self.seconds[kind] += time.perf_counter() - conn.info.pop("bench_t", time.perf_counter())
            self.counts[kind] += 1

    def report(self) -> dict[str, dict[str, float]]:
        return {
            kind: {"statements": self.counts[kind], "total_s": round(s, 3)}
            for kind, s in sorted(self.seconds.items(), key=lambda kv: -kv[1])
        }


def _statement_kind(statement: str) -> str:
    words = statement.split()
    verb = words[0].upper() if words else "?"
    for table in ("outbox", "inbox", "bench_effects"):
        if f" {table}" in statement:
            return f"{verb} {table}"
    return verb


def cpu_now(ctx: BenchContext) -> dict[str, float | None]:
    return {
        "python": time.process_time(),
        "postgres": cpu_seconds(ctx.postgres_pid(), children=True),
        "kafka": cpu_seconds(ctx.kafka_pid()),
    }


def cpu_used(before: dict[str, float | None], after: dict[str, float | None]) -> dict[str, float | None]:
    used: dict[str, float | None] = {}
    for name, start in before.items():
        end = after[name]
        used[name] = None if start is None or end is None else round(end - start, 2)
    return used


async def wait_assigned(consumer: AIOKafkaConsumer, tasks: Sequence[asyncio.Task[Any]], limit_s: float = 60) -> None:
    """Until the consumer owns every partition (the group has joined), so joining is not timed."""
    deadline = time.perf_counter() + limit_s
    while len(consumer.assignment()) < PARTITIONS:
        for task in tasks:
            if task.done():
                task.result()
                raise RuntimeError(f"{task.get_name()} ended before the consumer was assigned")
        if time.perf_counter() > deadline:
            raise TimeoutError(f"the consumer got no partitions within {limit_s:.0f}s")
        await asyncio.sleep(0.01)


async def wait_applied(poll: asyncpg.Connection, n: int, tasks: Sequence[asyncio.Task[Any]], limit_s: float) -> float:
    """Count the effect table until it holds N rows; returns when (perf_counter)."""
    deadline = time.perf_counter() + limit_s
    while True:
        count = await poll.fetchval("SELECT count(*) FROM bench_effects")
        if count >= n:
            return time.perf_counter()
        for task in tasks:
            if task.done():
                task.result()
                raise RuntimeError(f"{task.get_name()} ended with {count} of {n} events applied")
        if time.perf_counter() > deadline:
            raise TimeoutError(f"only {count} of {n} events applied within {limit_s:.0f}s")
        await asyncio.sleep(POLL_S)


async def topic_ready(producer: AIOKafkaProducer, topic: str, limit_s: float = 60) -> None:
    """Until the broker serves the new topic's metadata: a consumer subscribing earlier could
    join the group with no partitions, and only notice them at its next metadata refresh."""
    deadline = time.perf_counter() + limit_s
    while True:
        try:
            if len(await producer.partitions_for(topic)) >= PARTITIONS:
                return
        except KafkaError:
            pass
        if time.perf_counter() > deadline:
            raise TimeoutError(f"topic {topic} has no metadata after {limit_s:.0f}s")
        await asyncio.sleep(0.05)


def _timeout(n: int) -> float:
    return max(120.0, n / 100)


# -- ours -------------------------------------------------------------------------------------
class OutboxWriter:
    """`bench.outbox_writer` in a process of its own, connected and waiting for `go`."""

    def __init__(self, process: asyncio.subprocess.Process) -> None:
        self.process = process

    @classmethod
    async def start(cls, url: str, run: str, n: int, txn_events: int, writers: int) -> OutboxWriter:
        process = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "bench.outbox_writer",
            url,
            run,
            str(n),
            str(txn_events),
            str(writers),
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
            cwd=REPO_ROOT,
        )
        writer = cls(process)
        if (await writer._line()).strip() != "ready":
            raise RuntimeError("the outbox writer did not start")
        return writer

    async def _line(self) -> str:
        assert self.process.stdout is not None
        line = await asyncio.wait_for(self.process.stdout.readline(), timeout=120)
        if not line:
            raise RuntimeError(f"the outbox writer ended (exit {await self.process.wait()})")
        return line.decode()

    async def go(self) -> None:
        assert self.process.stdin is not None
        self.process.stdin.write(b"go\n")
        await self.process.stdin.drain()

    async def finished(self) -> dict[str, float]:
        """Waits until every event is written; the writer's own figures."""
        report: dict[str, float] = json.loads(await self._line())
        await self.process.wait()
        return report

    async def stop(self) -> None:
        if self.process.returncode is None:
            self.process.kill()
            await self.process.wait()


RunnerClass = Callable[..., "TimedRunner"]


async def measure_ours(
    ctx: BenchContext,
    n: int,
    *,
    staged: bool = False,
    relay_batch: int = RELAY_BATCH,
    consumer_batch: int = CONSUMER_BATCH,
    txn_events: int = TXN_EVENTS,
    writers: int = WRITERS,
    runner_class: RunnerClass | None = None,
) -> dict[str, Any]:
    """One end-to-end run on a fresh database and a fresh topic.

    The events are written by `bench.outbox_writer` in a process of its own (a service's API),
    and relayed and consumed here (its worker). Concurrent (the default): writer, relay and
    consumer run together; timed from the first outbox write until N effects are applied.
    Staged: the writer runs alone first, then the relay is started on the full outbox; the
    stages are timed apart. `runner_class` swaps in a variant for a diagnosis.
    """
    run = ctx.unique("ev")
    cls = tick_type(run)
    topic = cls.event_type
    url = await ctx.fresh_database(run, extra_ddl=(EFFECTS_DDL,))
    await ensure_topics(ctx.bootstrap, partitions=PARTITIONS, replication_factor=1, topics=[topic])
    worker_db = Database(url, pre_ping=False)  # the worker relays and consumes, as shared.worker wires them
    sql = SqlTimer()
    if staged:
        sql.attach(worker_db)
    producer = reliable_producer(ctx.bootstrap, client_id=f"bench-relay-{run}")
    relay = TimedRelay(worker_db, producer, service="bench", batch_size=relay_batch)
    relay.meter = Meter()
    runner = (runner_class or TimedRunner)(
        name=f"bench-{run}",
        db=worker_db,
        bootstrap_servers=ctx.bootstrap,
        handlers={topic: BatchHandler(count_effects)},
        batch_size=consumer_batch,
    )
    runner.meter = Meter()
    stop = asyncio.Event()
    poll = await asyncpg.connect(plain_url(url))
    tasks: list[asyncio.Task[None]] = []
    out: dict[str, Any] = {}
    writer: OutboxWriter | None = None
    try:
        writer = await OutboxWriter.start(url, run, n, txn_events, writers)
        await producer.start()
        await topic_ready(producer, topic)
        await worker_db.ping()
        tasks.append(asyncio.create_task(runner.run(stop), name="consumer"))
        if not staged:
            tasks.append(asyncio.create_task(relay.run(stop), name="relay"))
        await wait_assigned(runner.consumer, tasks)
        cpu0 = cpu_now(ctx)
        t0 = time.perf_counter()
        await writer.go()
        written_by = await writer.finished()
        written = time.perf_counter()
        cpu1 = cpu_now(ctx)
        writer_cpu = round(written_by["cpu_s"], 2)
        if staged:
            tasks.append(asyncio.create_task(relay.run(stop), name="relay"))
        applied = await wait_applied(poll, n, tasks, _timeout(n))
        cpu2 = cpu_now(ctx)
        relayed = relay.meter.last_at or applied
        out = {
            "events_per_s": n / (applied - t0),
            "elapsed_s": applied - t0,
            "write_s": written - t0,
            "write_events_per_s": n / (written - t0),
            "relay_done_s": relayed - t0,
            "applied_s": applied - t0,
            "relay_batches": relay.meter.calls,
            "relay_mean_batch": relay.meter.items / max(1, relay.meter.calls),
            "relay_busy_s": relay.meter.busy_s,
            "consumer_batches": runner.meter.calls,
            "consumer_mean_batch": runner.meter.items / max(1, runner.meter.calls),
            "consumer_busy_s": runner.meter.busy_s,
            "cpu_s": {**cpu_used(cpu0, cpu2), "writer": writer_cpu},
        }
        if staged:
            out["relay_consume_s"] = applied - written
            out["relay_consume_events_per_s"] = n / (applied - written)
            out["relay_events_per_s"] = n / (relayed - written)
            out["cpu_s_write"] = {**cpu_used(cpu0, cpu1), "writer": writer_cpu}
            out["cpu_s_relay_consume"] = cpu_used(cpu1, cpu2)
            out["sql"] = sql.report()
    finally:
        stop.set()
        if writer is not None:
            await writer.stop()
        results = await asyncio.gather(*tasks, return_exceptions=True)
        await producer.stop()
        await worker_db.dispose()
        rows, total = await poll.fetchrow("SELECT count(*), coalesce(sum(count), 0) FROM bench_effects") or (0, 0)
        await poll.close()
    errors = [r for r in results if isinstance(r, BaseException)]
    if errors:
        raise errors[0]
    if rows != n or total != n:
        raise AssertionError(f"expected each of {n} events applied once; got {rows} rows, {total} applications")
    return out


# -- plain ------------------------------------------------------------------------------------
async def measure_plain(ctx: BenchContext, n: int) -> dict[str, Any]:
    run = ctx.unique("plain")
    cls = tick_type(run)
    topic = cls.event_type
    await ensure_topics(ctx.bootstrap, partitions=PARTITIONS, replication_factor=1, topics=[topic])
    # The same producer settings as shared.events.kafka.reliable_producer: only the machinery differs.
    producer = AIOKafkaProducer(
        bootstrap_servers=ctx.bootstrap,
        client_id=f"bench-plain-{run}",
        enable_idempotence=True,
        acks="all",
        linger_ms=5,
        max_batch_size=256 * 1024,
    )
    consumer = AIOKafkaConsumer(
        topic,
        bootstrap_servers=ctx.bootstrap,
        group_id=f"bench-plain-{run}",
        enable_auto_commit=True,
        auto_offset_reset="earliest",
    )
    received = 0
    value_bytes = 0

    async def consume() -> float:
        nonlocal received
        while received < n:
            batches = await consumer.getmany(timeout_ms=200)
            for records in batches.values():
                received += len(records)
        return time.perf_counter()

    await producer.start()
    await topic_ready(producer, topic)
    await consumer.start()
    task: asyncio.Task[float] | None = None
    try:
        task = asyncio.create_task(consume(), name="plain-consumer")
        await wait_assigned(consumer, [task])
        cpu0 = cpu_now(ctx)
        t0 = time.perf_counter()
        acks = []
        for seq in range(n):
            payload = tick(cls, seq)
            value = payload.model_dump_json().encode()
            value_bytes += len(value)
            acks.append(await producer.send(topic, value=value, key=payload.key().encode()))
        await asyncio.gather(*acks)
        produced = time.perf_counter()
        consumed = await asyncio.wait_for(task, timeout=_timeout(n))
        cpu1 = cpu_now(ctx)
    finally:
        if task is not None and not task.done():
            task.cancel()
        await producer.stop()
        await consumer.stop()
    return {
        "events_per_s": n / (consumed - t0),
        "elapsed_s": consumed - t0,
        "produce_s": produced - t0,
        "produce_events_per_s": n / (produced - t0),
        "value_bytes": value_bytes / n,
        "cpu_s": cpu_used(cpu0, cpu1),
    }


async def postgres_latency_ms(ctx: BenchContext, samples: int = 50) -> dict[str, float]:
    """Medians of a bare round trip and of a one-row commit (with fsync, as the stack is durable):
    the floor under every per-event statement and every per-batch transaction."""
    url = await ctx.fresh_database(
        ctx.unique("latency"), extra_ddl=("CREATE TABLE bench_commit (id serial PRIMARY KEY)",)
    )
    conn = await asyncpg.connect(plain_url(url))
    try:
        trips, commits = [], []
        for _ in range(samples):
            started = time.perf_counter()
            await conn.fetchval("SELECT 1")
            trips.append(time.perf_counter() - started)
            started = time.perf_counter()
            async with conn.transaction():
                await conn.execute("INSERT INTO bench_commit DEFAULT VALUES")
            commits.append(time.perf_counter() - started)
    finally:
        await conn.close()
    return {"round_trip_ms": round(median(trips) * 1000, 3), "commit_ms": round(median(commits) * 1000, 3)}


# -- the bench --------------------------------------------------------------------------------
def _r(value: float, digits: int = 1) -> float:
    return round(value, digits)


def say_run(label: str, m: dict[str, Any]) -> None:
    print(f"    {label}: {m['events_per_s']:,.0f} events/s ({m['elapsed_s']:.2f}s), cpu {m['cpu_s']}", flush=True)


def budget_s() -> float:
    return float(os.environ.get("BENCH_BUDGET_S", DEFAULT_BUDGET_S))


@register("events", ratio_min=0.3)
async def events_bench(ctx: BenchContext) -> BenchResult:
    configure_tracing("bench")  # as a worker does: the consumer's spans are real
    started = time.perf_counter()
    n = ctx.events
    notes: list[str] = []
    ours: list[dict[str, Any]] = []
    plain: list[dict[str, Any]] = []
    # Warm-up, not reported: the broker creates __consumer_offsets, pools connect, imports settle.
    await measure_ours(ctx, min(n, WARMUP_EVENTS))
    await measure_plain(ctx, min(n, WARMUP_EVENTS))
    latency = await postgres_latency_ms(ctx)
    staged: dict[str, Any] | None = None
    for i in range(ctx.repeat):
        round_started = time.perf_counter()
        ours.append(await measure_ours(ctx, n))
        say_run(f"round {i + 1} ours ", ours[-1])
        plain.append(await measure_plain(ctx, n))
        say_run(f"round {i + 1} plain", plain[-1])
        if staged is None:
            # The stages apart, once, on fewer events: it is the profile, not the figure.
            staged = await measure_ours(ctx, min(n, STAGED_EVENTS), staged=True)
            print(
                f"    staged ours ({min(n, STAGED_EVENTS)} events): outbox writes "
                f"{staged['write_events_per_s']:,.0f}/s, then relay+consume {staged['relay_consume_events_per_s']:,.0f}/s",
                flush=True,
            )
        last_round = time.perf_counter() - round_started
        used = time.perf_counter() - started
        if i + 1 < ctx.repeat and used + last_round > budget_s():
            notes.append(
                f"ran {i + 1} of {ctx.repeat} rounds: another round (~{last_round:.0f}s) would pass "
                f"the {budget_s():.0f}s budget (BENCH_BUDGET_S); lower --events or raise the budget"
            )
            print(f"    {notes[-1]}", flush=True)
            break
    assert staged is not None
    ours_rate = median([m["events_per_s"] for m in ours])
    plain_rate = median([m["events_per_s"] for m in plain])
    figures: dict[str, Any] = {
        "events": n,
        "rounds": len(ours),
        "partitions": PARTITIONS,
        "keys": KEYS,
        "value_bytes": _r(plain[0]["value_bytes"]),
        "outbox_txn_events": TXN_EVENTS,
        "outbox_writers": WRITERS,
        "relay_batch_size": RELAY_BATCH,
        "consumer_batch_size": CONSUMER_BATCH,
        "postgres_round_trip_ms": latency["round_trip_ms"],
        "postgres_commit_ms": latency["commit_ms"],
        "ours_events_per_s": _r(ours_rate),
        "plain_events_per_s": _r(plain_rate),
        "ours_runs_events_per_s": [_r(m["events_per_s"]) for m in ours],
        "plain_runs_events_per_s": [_r(m["events_per_s"]) for m in plain],
        "round_ratios": [round(o["events_per_s"] / p["events_per_s"], 4) for o, p in zip(ours, plain, strict=True)],
        # Inside the concurrent ours runs (medians):
        "ours_outbox_write_events_per_s": _r(median([m["write_events_per_s"] for m in ours])),
        "ours_applied_after_last_write_s": _r(median([m["applied_s"] - m["write_s"] for m in ours]), 2),
        "ours_relay_mean_batch_events": _r(median([m["relay_mean_batch"] for m in ours])),
        "ours_consumer_mean_batch_events": _r(median([m["consumer_mean_batch"] for m in ours])),
        # Share of the run each loop spent inside a batch (its wall clock, waits included): the
        # loop near 1.0 is the one the others wait for.
        "ours_relay_busy_share": round(median([m["relay_busy_s"] / m["elapsed_s"] for m in ours]), 2),
        "ours_consumer_busy_share": round(median([m["consumer_busy_s"] / m["elapsed_s"] for m in ours]), 2),
        "ours_cpu_s": ours[0]["cpu_s"],
        "plain_produce_acked_events_per_s": _r(median([m["produce_events_per_s"] for m in plain])),
        "plain_cpu_s": plain[0]["cpu_s"],
        # The staged ours run: outbox writes alone, then relay + consumer on the full outbox.
        "staged_events": min(n, STAGED_EVENTS),
        "staged_outbox_write_events_per_s": _r(staged["write_events_per_s"]),
        "staged_relay_consume_events_per_s": _r(staged["relay_consume_events_per_s"]),
        "staged_relay_events_per_s": _r(staged["relay_events_per_s"]),
        "staged_relay_mean_batch_events": _r(staged["relay_mean_batch"]),
        "staged_consumer_mean_batch_events": _r(staged["consumer_mean_batch"]),
        "staged_cpu_s_write": staged["cpu_s_write"],
        "staged_cpu_s_relay_consume": staged["cpu_s_relay_consume"],
        "staged_sql_wall_s": staged["sql"],
    }
    return BenchResult(figures=figures, ratio=ours_rate / plain_rate, notes=notes)
