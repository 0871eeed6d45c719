"""The `audit` bench: supervision's post-event audit of `claim.settled`, against a plain consume.

N realistic `ClaimSettled` events (CloudEvents binary mode, `shared.events.envelope.encode`) are
produced once, untimed, into a fresh 3-partition topic by a plain producer: thousands of persons,
hundreds of practitioners, tens of institutions, several lines a claim, a few percent planted
violations (a quantity past the line maximum, a price past the limit, a traceability code sold
twice, the same item billed twice on one day), and one institution (`UPCODER`) billing an extra
800.00 service on every claim, far above its peers.

PEER-OUTLIER judges claims only against a frozen peer baseline of an earlier month (decision
0017), so each fresh database first gets, untimed, a December 2025 of claims from the same
factory (another seed, their own traceability codes) written into the history projections as
the audit writes them (`repository.record_claims`), and December's baseline taken as ops would
(`repository.take_peer_baseline`); every produced claim (January-October 2026) is then judged
against it, and the upcoder's claims are the planted `peer_outlier` count.

ours:  a `ConsumerRunner` with supervision's real `HANDLERS` (what `services/supervision/worker.py`
       runs) on a fresh database migrated by supervision's own Alembic migrations (which seed the
       rule library, the knowledge base and the points table), timed from its first fetched
       record until `audit_results` holds N rows.
plain: an auto-commit `AIOKafkaConsumer` in a group of its own reading the same topic to the end,
       timed from its first fetched record until it has N records.
pipeline floor: `bench/audit_floor.py`: the same topic consumed, decoded and stored exactly once
       with no rules, as cheaply as we know how; a bound on any audit, not a contender.
Rounds alternate (ours, database floor, plain, pipeline floor, ...); ratio = median ours
events/s / median plain events/s.
"""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import Sequence
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any
from uuid import UUID

import asyncpg
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer

from bench.audit_floor import measure_pipeline_floor
from bench.events import PARTITIONS, SqlTimer, cpu_now, cpu_used, topic_ready
from bench.harness import BenchContext, BenchResult, database_floor, median, register
from services.supervision import repository
from services.supervision.audit_batch import RecordedClaim
from services.supervision.handlers import HANDLERS
from services.supervision.service import drug_groups, traceability_codes
from shared.db import Database
from shared.events.consumer import ConsumerRunner, Record
from shared.events.contracts import ClaimLine, ClaimSettled, SettlementBreakdown
from shared.events.envelope import Event, encode
from shared.events.kafka import ensure_topics
from shared.settings import plain_url

SEED = 2026
PERSONS = 5000  # at least; more for big runs, so a person has ~20 claims a year as in a city
CLAIMS_PER_PERSON = 20
INSTITUTIONS = 40
PRACTITIONERS_PER_INSTITUTION = 8  # 320 doctors
PLANTED = 0.03  # share of claims carrying one planted violation
CONSUMER_BATCH = 1000  # ConsumerRunner's default, as the worker runs it
PRODUCE_CHUNK = 5000
SOURCE = "/yibao/settlement"
YEAR_START = date(2026, 1, 1)
BASELINE_MONTH = date(2025, 12, 1)  # the month before the claims: their peer baseline
BASELINE_CLAIMS_MIN = 2000  # December's claims: at least this many, else a tenth of N (a month of ten)
UPCODER = "H00007"  # level 2 (of 13 at that level): bills an extra 800.00 service on every claim
ZERO = Decimal("0.00")

# Items without restrictions in supervision's knowledge base (the bulk of real bills), and the
# seeded ones at prices and quantities inside their limits.
PLAIN_ITEMS = [(f"Y{n:08d}", Decimal(f"{5 + n % 90}.{n % 100:02d}")) for n in range(300)]
SEEDED_ITEMS = [("250101001", Decimal("40.00")), ("XN05BA0010101", Decimal("1.50"))]


def _topic(run: str) -> str:
    return f"claim.settled.{run}"


# -- the events -------------------------------------------------------------------------------
class ClaimFactory:
    """Deterministic claims; `planted` counts the violations put in on purpose, by kind."""

    def __init__(
        self, n: int, seed: int = SEED, *, start: date = YEAR_START, days: int = 300, code_prefix: str = "TR"
    ) -> None:
        self.rng = random.Random(seed)
        self.persons = max(PERSONS, n // CLAIMS_PER_PERSON)
        self.start, self.days, self.code_prefix = start, days, code_prefix
        self.planted: dict[str, int] = {
            "quantity": 0,
            "price": 0,
            "trace_resold": 0,
            "duplicate": 0,
            "peer_outlier": 0,
        }
        self.sold_codes: list[str] = []
        self.last_outpatient: dict[str, tuple[date, str, str, str]] = {}  # person -> (day, item, inst, doctor)
        self.serial = 0

    def person(self) -> str:
        return f"P{self.rng.randrange(self.persons):011d}"

    def institution(self) -> tuple[str, int]:
        n = self.rng.randrange(INSTITUTIONS)
        return f"H{n:05d}", 1 + n % 3

    def claim(self) -> ClaimSettled:
        rng = self.rng
        self.serial += 1
        person = self.person()
        institution, level = self.institution()
        practitioner = f"D{institution[1:]}{rng.randrange(PRACTITIONERS_PER_INSTITUTION):02d}"
        inpatient = rng.random() < 0.15
        admitted = self.start + timedelta(days=rng.randrange(self.days))
        discharged = admitted + timedelta(days=rng.randrange(2, 12)) if inpatient else admitted
        lines: list[tuple[str, int, Decimal, list[str]]] = []
        for _ in range(rng.randrange(2, 7)):
            item, price = rng.choice(SEEDED_ITEMS) if rng.random() < 0.1 else rng.choice(PLAIN_ITEMS)
            lines.append((item, rng.randrange(1, 4), price, []))
        if rng.random() < 0.2:  # a drug with its traceability codes (药品追溯码)
            codes = [f"{self.code_prefix}{self.serial:09d}{k}" for k in range(rng.randrange(1, 3))]
            self.sold_codes.extend(codes)
            lines.append(("Y00000007", len(codes), Decimal("12.50"), codes))
        if rng.random() < PLANTED:
            kind = rng.choice(["quantity", "price", "trace_resold", "duplicate"])
            if kind == "quantity":
                lines.append(("Y00000011", 40, Decimal("2.10"), []))  # past QTY-MAX-LINE's 30
            elif kind == "price":
                lines.append(("250101001", 1, Decimal("55.00"), []))  # 血常规 above its 40.00 limit
            elif kind == "trace_resold" and self.sold_codes:
                lines.append(("Y00000007", 1, Decimal("12.50"), [rng.choice(self.sold_codes)]))
            elif kind == "duplicate" and person in self.last_outpatient and not inpatient:
                day, item, institution, practitioner = self.last_outpatient[person]
                admitted = discharged = day
                lines.append((item, 1, Decimal("20.00"), []))  # billed again for the same day
            else:
                kind = ""
            if kind:
                self.planted[kind] += 1
        if institution == UPCODER:  # an unrestricted item: no other rule's business
            lines.append(("Y00000299", 1, Decimal("800.00"), []))
            self.planted["peer_outlier"] += 1
        if not inpatient:
            self.last_outpatient[person] = (admitted, lines[0][0], institution, practitioner)
        claim_lines = [
            ClaimLine(
                line_no=number,
                item_code=item,
                quantity=quantity,
                unit_price=price,
                amount=price * quantity,
                traceability_codes=codes,
            )
            for number, (item, quantity, price, codes) in enumerate(lines, start=1)
        ]
        total = sum((line.amount for line in claim_lines), ZERO)
        fund = (total * Decimal("0.7")).quantize(Decimal("0.01"))
        return ClaimSettled(
            settlement_id=UUID(int=rng.getrandbits(128), version=4),
            person_no=person,
            institution_code=institution,
            practitioner_code=practitioner,
            visit_type="inpatient" if inpatient else "outpatient",
            admitted_on=admitted,
            discharged_on=discharged,
            diagnoses=[rng.choice(["J18.9", "I10", "E11.9", "K80.2", "M54.5"])],
            lines=claim_lines,
            breakdown=SettlementBreakdown(
                medfee_sumamt=total,
                fulamt_ownpay_amt=ZERO,
                overlmt_selfpay=ZERO,
                preselfpay_amt=ZERO,
                inscp_scp_amt=total,
                hifp_pay=fund,
                hifmi_pay=ZERO,
                hifob_pay=ZERO,
                maf_pay=ZERO,
                acct_pay=ZERO,
                psn_cash_pay=total - fund,
                fund_pay_sumamt=fund,
            ),
            settled_at=datetime.combine(discharged, datetime.min.time(), tzinfo=UTC) + timedelta(hours=3),
            institution_level=level,
            institution_type="hospital",
            region_code="350582",
            insured_region_code="350582",
        )


async def produce(bootstrap: str, topic: str, n: int) -> dict[str, int]:
    """N claims into the topic, keyed by person as settlement's relay keys them; not timed."""
    factory = ClaimFactory(n)
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all", linger_ms=20, max_batch_size=512 * 1024)
    await producer.start()
    try:
        await topic_ready(producer, topic)
        sent = 0
        while sent < n:
            futures = []
            for _ in range(min(PRODUCE_CHUNK, n - sent)):
                key, value, headers = encode(Event.new(factory.claim(), source=SOURCE))
                futures.append(await producer.send(topic, value=value, key=key, headers=headers))
            await asyncio.gather(*futures)
            sent += len(futures)
    finally:
        await producer.stop()
    return factory.planted


# -- ours -------------------------------------------------------------------------------------
class FirstFetchRunner(ConsumerRunner):
    """The worker's runner, noting when its first records arrived (the clock starts there)."""

    first_at: float | None = None
    batches: int = 0

    async def process_records(self, records: Sequence[Record]) -> None:
        if self.first_at is None:
            self.first_at = time.perf_counter()
        self.batches += 1
        await super().process_records(records)


BASELINE_TABLES = ("peer_baselines", "peer_baseline_costs")  # only the untimed priming writes them


def _limit_s(n: int) -> float:
    return max(300.0, n / 20)


def december_claims(n: int) -> list[ClaimSettled]:
    """A month of claims before the produced ones (settled December 1-30, 2025), for the baseline."""
    factory = ClaimFactory(n, SEED + 1, start=BASELINE_MONTH, days=19, code_prefix="TD")  # discharged by the 30th
    return [factory.claim() for _ in range(max(BASELINE_CLAIMS_MIN, n // 10))]


async def take_december_baseline(db: Database, n: int) -> dict[str, Any]:
    """December's claims into the history, as the audit records them, and its peer baseline; untimed."""
    async with db.transaction() as session:
        catalogue = list((await repository.knowledge_base(session)).values())
        recorded = [
            RecordedClaim(
                claim, frozenset(drug_groups(claim, catalogue)), tuple(sorted(set(traceability_codes(claim))))
            )
            for claim in december_claims(n)
        ]
        await repository.record_claims(session, recorded)
        baseline = await repository.take_peer_baseline(session, BASELINE_MONTH, "bench")
    return {
        "claims": len(recorded),
        "period": f"{baseline.period:%Y-%m}",
        "institutions": baseline.institutions,
        "diagnosis_groups": baseline.diagnosis_groups,
        "cases": baseline.cases,
    }


async def measure_ours(ctx: BenchContext, topic: str, n: int) -> dict[str, Any]:
    run = ctx.unique("audit")
    url = await ctx.migrated_database("supervision", run)
    db = Database(url, pre_ping=False)
    baseline = await take_december_baseline(db, n)
    sql = SqlTimer()
    sql.attach(db)
    runner = FirstFetchRunner(
        name=f"supervision-{run}",
        db=db,
        bootstrap_servers=ctx.bootstrap,
        handlers=HANDLERS,
        topics=[topic],
        batch_size=CONSUMER_BATCH,
    )
    stop = asyncio.Event()
    poll = await asyncpg.connect(plain_url(url))
    interval = max(0.05, n / 1_000_000)  # count(*) itself costs more as the table grows
    try:
        cpu_before = cpu_now(ctx)
        task = asyncio.create_task(runner.run(stop), name="consumer")
        deadline = time.perf_counter() + _limit_s(n)
        while True:
            audited = await poll.fetchval("SELECT count(*) FROM audit_results")
            if audited >= n:
                done_at = time.perf_counter()
                break
            if task.done():
                task.result()
                raise RuntimeError(f"the consumer ended with {audited} of {n} claims audited")
            if time.perf_counter() > deadline:
                raise TimeoutError(f"only {audited} of {n} claims audited within {_limit_s(n):.0f}s")
            await asyncio.sleep(interval)
        cpu = cpu_used(cpu_before, cpu_now(ctx))
        stop.set()
        await task
        assert runner.first_at is not None
        elapsed = done_at - runner.first_at
        outcomes: dict[str, int] = {
            row[0]: row[1]
            for row in await poll.fetch("SELECT outcome, count(*) FROM audit_results GROUP BY outcome ORDER BY outcome")
        }
        flags = await poll.fetchval("SELECT count(*) FROM flags")
        flagged_events = await poll.fetchval("SELECT count(*) FROM outbox WHERE event_type = 'audit.flagged'")
        inbox = await poll.fetchval("SELECT count(*) FROM inbox")
        by_rule: dict[str, int] = {
            row[0]: row[1]
            for row in await poll.fetch("SELECT rule_id, count(*) FROM flags GROUP BY rule_id ORDER BY count(*) DESC")
        }
    finally:
        stop.set()
        await poll.close()
        await db.dispose()
    if inbox != n or sum(outcomes.values()) != n or "pending" in outcomes:
        raise RuntimeError(f"not audited exactly once: inbox {inbox}, outcomes {outcomes} for {n} events")
    statements = sum(sql.counts.values())
    return {
        "events_per_s": n / elapsed,
        "elapsed_s": round(elapsed, 2),
        "outcomes": outcomes,
        "flags": flags,
        "flags_by_rule": by_rule,
        "audit_flagged_outbox_events": flagged_events,
        "statements_per_claim": round(statements / n, 2),
        "statements": sql.report(),
        "mean_batch_events": round(n / max(1, runner.batches), 1),
        "cpu_s": cpu,
        "peer_baseline": baseline,
        "database_url": url,
    }


# -- plain ------------------------------------------------------------------------------------
async def measure_plain(ctx: BenchContext, topic: str, n: int) -> dict[str, Any]:
    consumer = AIOKafkaConsumer(
        topic,
        bootstrap_servers=ctx.bootstrap,
        group_id=ctx.unique("plain-audit"),
        auto_offset_reset="earliest",
        enable_auto_commit=True,
        max_poll_records=CONSUMER_BATCH,
    )
    await consumer.start()
    try:
        cpu_before = cpu_now(ctx)
        first_at: float | None = None
        seen = 0
        deadline = time.perf_counter() + _limit_s(n)
        while seen < n:
            batches = await consumer.getmany(timeout_ms=200, max_records=CONSUMER_BATCH)
            for records in batches.values():
                if records and first_at is None:
                    first_at = time.perf_counter()
                seen += len(records)
            if time.perf_counter() > deadline:
                raise TimeoutError(f"plain consumed {seen} of {n} within {_limit_s(n):.0f}s")
        done_at = time.perf_counter()
        cpu = cpu_used(cpu_before, cpu_now(ctx))
    finally:
        await consumer.stop()
    assert first_at is not None
    elapsed = done_at - first_at
    return {"events_per_s": n / elapsed, "elapsed_s": round(elapsed, 3), "cpu_s": cpu}


# -- the bench --------------------------------------------------------------------------------
@register("audit", ratio_min=0.2, default=False)
async def audit_bench(ctx: BenchContext) -> BenchResult:
    n = ctx.events
    topic = _topic(ctx.unique("b"))
    await ensure_topics(ctx.bootstrap, partitions=PARTITIONS, replication_factor=1, topics=[topic])
    started = time.perf_counter()
    planted = await produce(ctx.bootstrap, topic, n)
    produce_s = time.perf_counter() - started
    ours_runs: list[dict[str, Any]] = []
    plain_runs: list[dict[str, Any]] = []
    floor_runs: list[dict[str, Any]] = []
    pipeline_floor_runs: list[dict[str, Any]] = []
    for _ in range(ctx.repeat):
        ours_runs.append(await measure_ours(ctx, topic, n))
        # The floor also re-writes December's primed claims (untimed, decision 0017): counting them as
        # units keeps it a bound, since each stored no more rows than an audited claim; the baseline
        # itself is copied before the clock starts.
        primed = ours_runs[-1]["peer_baseline"]["claims"]
        floor_runs.append(
            await database_floor(
                ctx, "supervision", ours_runs[-1].pop("database_url"), n + primed, untimed=BASELINE_TABLES
            )
        )
        plain_runs.append(await measure_plain(ctx, topic, n))
        pipeline_floor_runs.append(await measure_pipeline_floor(ctx, topic, n, _limit_s(n)))
    ours = median([r["events_per_s"] for r in ours_runs])
    plain = median([r["events_per_s"] for r in plain_runs])
    first = ours_runs[0]
    figures: dict[str, Any] = {
        "events": n,
        "ours_events_per_s": round(ours, 1),
        "plain_events_per_s": round(plain, 1),
        "ours_runs_events_per_s": [round(r["events_per_s"], 1) for r in ours_runs],
        "plain_runs_events_per_s": [round(r["events_per_s"], 1) for r in plain_runs],
        "round_ratios": [
            round(o["events_per_s"] / p["events_per_s"], 4) for o, p in zip(ours_runs, plain_runs, strict=True)
        ],
        "ours_elapsed_s": [r["elapsed_s"] for r in ours_runs],
        "plain_elapsed_s": [r["elapsed_s"] for r in plain_runs],
        "ours_statements_per_claim": first["statements_per_claim"],
        "ours_mean_batch_events": first["mean_batch_events"],
        "ours_outcomes": first["outcomes"],
        "ours_flags": first["flags"],
        "ours_flags_by_rule": first["flags_by_rule"],
        "ours_peer_baseline": first["peer_baseline"],
        "ours_audit_flagged_outbox_events": first["audit_flagged_outbox_events"],
        "ours_sql_wall_s": first["statements"],
        "ours_cpu_s": first["cpu_s"],
        "plain_cpu_s": plain_runs[0]["cpu_s"],
        # PostgreSQL alone storing what the audit stored (harness.database_floor): the best ratio any
        # audit that keeps those rows could reach on this machine.
        "floor_events_per_s": round(median([f["units_per_s"] for f in floor_runs]), 1),
        "floor_ratio": round(median([f["units_per_s"] for f in floor_runs]) / plain, 4),
        "floor_runs": floor_runs,
        # Consume, decode and store each claim exactly once with no rules (bench/audit_floor.py): the
        # best ratio any audit that keeps the history could reach on this stack and machine.
        "pipeline_floor_events_per_s": round(median([r["events_per_s"] for r in pipeline_floor_runs]), 1),
        "pipeline_floor_ratio": round(median([r["events_per_s"] for r in pipeline_floor_runs]) / plain, 4),
        "pipeline_floor_round_ratios": [
            round(f["events_per_s"] / p["events_per_s"], 4)
            for f, p in zip(pipeline_floor_runs, plain_runs, strict=True)
        ],
        "pipeline_floor_runs": pipeline_floor_runs,
        "planted_violations": planted,
        "produce_untimed_s": round(produce_s, 1),
    }
    return BenchResult(figures=figures, ratio=ours / plain)
