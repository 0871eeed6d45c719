"""Supervision's post-event audit on the real database (and, for redelivery, the real Kafka).

Events reach the handlers the way the consumer runner delivers them: an inbox row under
(consumer, event id) and the handler in one transaction, committed at the boundary.
"""

from __future__ import annotations

import asyncio
import json
import random
import time
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, date, datetime
from decimal import Decimal

import asyncpg
import pytest
from sqlalchemy import text

from devstack.stack import Stack
from services.supervision import repository
from services.supervision.handlers import HANDLERS
from shared.db import CopyRefused, Database
from shared.events.consumer import BatchHandler, ConsumerRunner
from shared.events.contracts import (
    ClaimLine,
    ClaimReversed,
    ClaimSettled,
    EventPayload,
    LtcServiceRecorded,
    PersonDeceased,
    PersonRegistered,
)
from shared.events.envelope import Event, decode, encode
from shared.events.kafka import reliable_producer
from shared.settings import database_url_for
from tests.claims import ZERO_BREAKDOWN

CONSUMER = "supervision-it"


def person_no() -> str:
    return f"P{random.randrange(10**11):011d}"


def code(prefix: str) -> str:
    return f"{prefix}{uuid.uuid4().hex[:10].upper()}"


def settled(
    person: str,
    lines: list[tuple[str, int, str]],
    *,
    practitioner: str = "D-IT-0001",
    institution: str = "H-IT-0001",
    visit_type: str = "outpatient",
    admitted_on: date = date(2026, 11, 2),
    discharged_on: date | None = None,
    diagnoses: tuple[str, ...] = ("J18.9",),
    traceability: tuple[str, ...] = (),
) -> ClaimSettled:
    claim_lines = [
        ClaimLine(
            line_no=number,
            item_code=item,
            quantity=quantity,
            unit_price=Decimal(price),
            amount=Decimal(price) * quantity,
            traceability_codes=list(traceability),
        )
        for number, (item, quantity, price) in enumerate(lines, start=1)
    ]
    return ClaimSettled(
        settlement_id=uuid.uuid4(),
        person_no=person,
        institution_code=institution,
        practitioner_code=practitioner,
        visit_type=visit_type,
        admitted_on=admitted_on,
        discharged_on=discharged_on or admitted_on,
        diagnoses=list(diagnoses),
        lines=claim_lines,
        breakdown=ZERO_BREAKDOWN,
        settled_at=datetime(2026, 1, 15, 2, 0, tzinfo=UTC),  # not "today": e2e backtests read today
        institution_level=2,
    )


@pytest.fixture
async def db(infra: Stack) -> AsyncIterator[Database]:
    database = Database(database_url_for("supervision", infra.database_url), pool_size=2)
    yield database
    await database.dispose()


@pytest.fixture
async def conn(infra: Stack) -> AsyncIterator[asyncpg.Connection]:
    connection = await asyncpg.connect(database_url_for("supervision", infra.database_url))
    yield connection
    await connection.close()


async def deliver(db: Database, event: Event) -> bool:
    """As the consumer runner applies one event: the inbox row and the handler in one transaction."""
    async with db.transaction() as session:
        fresh = await session.execute(
            text(
                "INSERT INTO inbox (consumer, event_id, event_type) VALUES (:c, :id, :t) "
                "ON CONFLICT DO NOTHING RETURNING event_id"
            ),
            {"c": CONSUMER, "id": event.id, "t": event.type},
        )
        if fresh.first() is None:
            return False
        handler = HANDLERS[event.type]
        if isinstance(handler, BatchHandler):
            await handler.apply(session, [event])
        else:
            await handler(session, event)
    return True


async def send(db: Database, payload: EventPayload) -> Event:
    event = Event.new(payload, source="/tests")
    assert await deliver(db, event)
    return event


async def register(db: Database, person: str, *, sex: str = "M", birth: date = date(1970, 5, 1)) -> None:
    await send(
        db,
        PersonRegistered(
            person_no=person,
            id_number_masked="350582********001X",
            birth_date=birth,
            sex=sex,
            hukou_region_code="350582",
            residence_region_code="350582",
            registered_at=datetime.now(UTC),
        ),
    )


async def flags_of(conn: asyncpg.Connection, settlement_id: uuid.UUID) -> list[asyncpg.Record]:
    return await conn.fetch(
        "SELECT rule_id, status, amount_at_stake FROM flags WHERE settlement_id = $1 ORDER BY rule_id", settlement_id
    )


async def outbox_count(conn: asyncpg.Connection, event_type: str, subject: str) -> int:
    return int(
        await conn.fetchval("SELECT count(*) FROM outbox WHERE event_type = $1 AND subject = $2", event_type, subject)
    )


async def test_a_claim_breaking_a_rule_is_flagged_once_though_delivered_twice_through_kafka(
    infra: Stack, db: Database, conn: asyncpg.Connection
) -> None:
    person = person_no()
    claim = settled(person, [("XA01AAA001", 45, "12.50"), ("250101001", 1, "36.80")], practitioner=code("D"))
    event = Event.new(claim, source="/tests")
    again_later = Event.new(claim, source="/tests")  # settlement re-publishing the same claim: a new event id
    sentinel = Event.new(settled(person, [("250101001", 1, "36.80")], admitted_on=date(2026, 11, 20)), source="/tests")
    producer = reliable_producer(infra.bootstrap, client_id="it-supervision")
    await producer.start()
    try:
        for each in (event, event, again_later, sentinel):  # one key: one partition, in this order
            key, value, headers = encode(each)
            await producer.send_and_wait(ClaimSettled.event_type, value=value, key=key, headers=headers)
    finally:
        await producer.stop()

    runner = ConsumerRunner(
        name=f"supervision-kafka-{uuid.uuid4().hex[:6]}",
        db=db,
        bootstrap_servers=infra.bootstrap,
        handlers=HANDLERS,
        batch_size=1,  # one record a batch: the duplicate arrives after the original committed
    )
    stop = asyncio.Event()
    job = asyncio.create_task(runner.run(stop))
    try:
        sentinel_id = sentinel.payload.settlement_id  # type: ignore[attr-defined]
        deadline = time.monotonic() + 90
        while await conn.fetchval("SELECT count(*) FROM audit_results WHERE settlement_id = $1", sentinel_id) == 0:
            assert not job.done(), job
            assert time.monotonic() < deadline, "the sentinel claim was never audited"
            await asyncio.sleep(0.2)
    finally:
        stop.set()
        await job

    rows = await flags_of(conn, claim.settlement_id)
    assert [(r["rule_id"], r["status"], r["amount_at_stake"]) for r in rows] == [
        ("QTY-MAX-LINE", "active", Decimal("187.50"))
    ]
    flagged = await conn.fetchval(
        "SELECT count(*) FROM outbox WHERE event_type = 'audit.flagged' AND convert_from(payload, 'UTF8')::jsonb->>'settlement_id' = $1",
        str(claim.settlement_id),
    )
    assert flagged == 1
    assert await conn.fetchval("SELECT count(*) FROM inbox WHERE consumer = $1", runner.name) >= 3
    assert await conn.fetchval("SELECT outcome FROM audit_results WHERE settlement_id = $1", sentinel_id) == "clean"


async def test_a_reversal_withdraws_the_flags_and_forgets_the_claim(db: Database, conn: asyncpg.Connection) -> None:
    person, doctor = person_no(), code("D")
    await register(db, person, sex="M")
    claim = settled(person, [("XG03DA0010101", 1, "20.00")], practitioner=doctor)  # women only: SEX-CONFLICT
    await send(db, claim)
    assert [r["status"] for r in await flags_of(conn, claim.settlement_id)] == ["active"]
    assert await conn.fetchval("SELECT points FROM practitioners WHERE practitioner_code = $1", doctor) == 3
    assert await conn.fetchval("SELECT count(*) FROM claim_history WHERE settlement_id = $1", claim.settlement_id) == 1

    reversal = ClaimReversed(
        settlement_id=claim.settlement_id,
        person_no=person,
        institution_code=claim.institution_code,
        breakdown=ZERO_BREAKDOWN,
        reversed_at=datetime.now(UTC),
    )
    await send(db, reversal)
    await send(db, reversal)  # settlement may publish it again: nothing changes twice
    assert [r["status"] for r in await flags_of(conn, claim.settlement_id)] == ["withdrawn"]
    assert await conn.fetchval("SELECT count(*) FROM claim_history WHERE settlement_id = $1", claim.settlement_id) == 0
    assert await conn.fetchval("SELECT points FROM practitioners WHERE practitioner_code = $1", doctor) == 0
    ledger = await conn.fetch(
        "SELECT points FROM practitioner_points WHERE practitioner_code = $1 ORDER BY recorded_at", doctor
    )
    assert [r["points"] for r in ledger] == [3, -3]

    # A reversal that overtakes its claim: the claim, arriving later, is never audited or remembered.
    early = settled(person, [("XG03DA0010101", 1, "20.00")], practitioner=doctor, admitted_on=date(2026, 11, 9))
    await send(
        db,
        ClaimReversed(
            settlement_id=early.settlement_id,
            person_no=person,
            institution_code=early.institution_code,
            breakdown=ZERO_BREAKDOWN,
            reversed_at=datetime.now(UTC),
        ),
    )
    await send(db, early)
    assert await flags_of(conn, early.settlement_id) == []
    assert await conn.fetchval("SELECT outcome FROM audit_results WHERE settlement_id = $1", early.settlement_id) == (
        "reversed"
    )
    assert await conn.fetchval("SELECT count(*) FROM claim_history WHERE settlement_id = $1", early.settlement_id) == 0


async def test_the_same_traceability_code_in_two_claims_is_flagged(db: Database, conn: asyncpg.Connection) -> None:
    trace = code("TRC")
    first = settled(person_no(), [("XN05BA0010101", 1, "1.20")], traceability=(trace,))
    second = settled(person_no(), [("XN05BA0010101", 1, "1.20")], traceability=(trace,), admitted_on=date(2026, 11, 5))
    await send(db, first)
    await send(db, second)
    assert await flags_of(conn, first.settlement_id) == []
    rows = await flags_of(conn, second.settlement_id)
    assert [(r["rule_id"], r["amount_at_stake"]) for r in rows] == [("TRACE-RESOLD", Decimal("1.20"))]
    assert await conn.fetchval("SELECT settlement_id FROM traceability_codes WHERE code = $1", trace) == (
        first.settlement_id
    )


async def test_points_reach_suspension_and_publish_it_exactly_once(db: Database, conn: asyncpg.Connection) -> None:
    doctor = code("D")
    points = []
    for day in range(1, 7):  # SEX-CONFLICT is medical/refuse: 3 points a claim
        person = person_no()
        await register(db, person, sex="M")
        await send(
            db, settled(person, [("XG03DA0010101", 1, "20.00")], practitioner=doctor, admitted_on=date(2026, 11, day))
        )
        points.append(await conn.fetchval("SELECT points FROM practitioners WHERE practitioner_code = $1", doctor))
        suspended = await outbox_count(conn, "practitioner.suspended", doctor)
        assert suspended == (1 if points[-1] >= 12 else 0)
    assert points == [3, 6, 9, 12, 15, 18]
    row = await conn.fetchrow(
        "SELECT status, reached, suspended_from FROM practitioners WHERE practitioner_code = $1", doctor
    )
    assert row is not None
    assert row["status"] == "suspended"
    assert sorted(row["reached"]) == ["suspension", "training", "warning"]
    points_at_suspension = await conn.fetchval(
        "SELECT (convert_from(payload, 'UTF8')::jsonb->>'points')::int FROM outbox "
        "WHERE event_type = 'practitioner.suspended' AND subject = $1",
        doctor,
    )
    assert points_at_suspension == 12


async def test_death_and_ltc_projections_feed_the_rules(db: Database, conn: asyncpg.Connection) -> None:
    person = person_no()
    await register(db, person, sex="F", birth=date(1940, 1, 1))
    await send(db, PersonDeceased(person_no=person, died_on=date(2026, 11, 3), recorded_at=datetime.now(UTC)))
    after = settled(person, [("250101001", 1, "36.80")], admitted_on=date(2026, 11, 6))
    await send(db, after)
    assert [(r["rule_id"], r["amount_at_stake"]) for r in await flags_of(conn, after.settlement_id)] == [
        ("AFTER-DEATH", Decimal("36.80"))
    ]

    other = person_no()
    for day in (10, 11):
        await send(
            db,
            LtcServiceRecorded(
                visit_id=uuid.uuid4(),
                person_no=other,
                agency_code="A1",
                service_date=date(2026, 10, day),
                minutes=60,
                amount=Decimal("45.00"),
                recorded_at=datetime.now(UTC),
            ),
        )
    stay = settled(
        other,
        [("250101001", 1, "36.80")],
        visit_type="inpatient",
        admitted_on=date(2026, 10, 9),
        discharged_on=date(2026, 10, 14),
    )
    await send(db, stay)
    assert [(r["rule_id"], r["amount_at_stake"]) for r in await flags_of(conn, stay.settlement_id)] == [
        ("LTC-DURING-STAY", Decimal("90.00"))
    ]


async def deliver_batch(db: Database, events: list[Event]) -> None:
    """As the consumer runner applies one poll: the inbox rows and the batch handler in one transaction."""
    async with db.transaction() as session:
        await session.execute(
            text(
                "INSERT INTO inbox (consumer, event_id, event_type) "
                "SELECT :c, id, :t FROM unnest(CAST(:ids AS uuid[])) AS batch(id)"
            ),
            {"c": CONSUMER, "t": ClaimSettled.event_type, "ids": [e.id for e in events]},
        )
        handler = HANDLERS[ClaimSettled.event_type]
        assert isinstance(handler, BatchHandler)
        await handler.apply(session, events)


async def batch_scenario(db: Database) -> tuple[list[ClaimSettled], str]:
    """Claims that only break rules against claims before them: the same day billed twice, a
    traceability code sold again, a readmission and an overlapping stay, a doctor reaching 12 points."""
    same_day, stays = person_no(), person_no()
    doctor, trace = code("D"), code("TRC")
    women = [person_no() for _ in range(5)]
    for woman in women:
        await register(db, woman, sex="F")
    men = [person_no() for _ in range(5)]
    for man in men:
        await register(db, man, sex="M")

    def claim(*args: object, **kwargs: object) -> ClaimSettled:
        # No level: the peer rule reads every test's institution costs, which differ between the runs.
        return settled(*args, **kwargs).model_copy(update={"institution_level": None})  # type: ignore[arg-type]

    claims = [
        claim(same_day, [("250101001", 1, "36.80")], admitted_on=date(2026, 11, 3)),
        claim(same_day, [("250101001", 1, "36.80")], admitted_on=date(2026, 11, 3), institution="H-IT-0002"),
        claim(women[0], [("XN05BA0010101", 1, "1.20")], traceability=(trace,)),
        claim(women[1], [("XN05BA0010101", 1, "1.20")], traceability=(trace,), admitted_on=date(2026, 11, 4)),
        claim(
            stays,
            [("250101001", 1, "36.80")],
            visit_type="inpatient",
            admitted_on=date(2026, 10, 1),
            discharged_on=date(2026, 10, 8),
        ),
        claim(
            stays,
            [("250101001", 1, "36.80")],
            visit_type="inpatient",
            admitted_on=date(2026, 10, 12),
            discharged_on=date(2026, 10, 20),
        ),
        claim(
            stays,
            [("250101001", 1, "36.80")],
            visit_type="inpatient",
            admitted_on=date(2026, 10, 15),
            discharged_on=date(2026, 10, 18),
            institution="H-IT-0002",
        ),
    ]
    # SEX-CONFLICT (medical, refuse): 3 points a claim, so the fourth crosses 12.
    claims += [
        claim(man, [("XG03DA0010101", 1, "20.00")], practitioner=doctor, admitted_on=date(2026, 11, n + 1))
        for n, man in enumerate(men)
    ]
    return claims, doctor


async def rule_ids_by_claim(conn: asyncpg.Connection, claims: list[ClaimSettled]) -> list[list[str]]:
    return [[r["rule_id"] for r in await flags_of(conn, c.settlement_id)] for c in claims]


async def test_a_batch_judges_each_claim_against_those_before_it_as_one_by_one(
    db: Database, conn: asyncpg.Connection
) -> None:
    one_by_one, one_doctor = await batch_scenario(db)
    for claim in one_by_one:
        await send(db, claim)
    batched, batch_doctor = await batch_scenario(db)
    events = [Event.new(claim, source="/tests") for claim in batched]
    events.insert(3, Event.new(batched[2], source="/tests"))  # settlement published one claim twice
    await deliver_batch(db, events)

    expected = await rule_ids_by_claim(conn, one_by_one)
    assert expected[1] == ["DUP-CHARGE"]
    assert expected[3] == ["TRACE-RESOLD"]
    assert "SPLIT-ADMISSION" in expected[5]
    assert "PHANTOM-BED" in expected[6]
    assert await rule_ids_by_claim(conn, batched) == expected
    for claim in batched:
        assert await conn.fetchval("SELECT count(*) FROM claim_history WHERE settlement_id = $1", claim.settlement_id)
        audit = await conn.fetchrow(
            "SELECT outcome, rules_run FROM audit_results WHERE settlement_id = $1", claim.settlement_id
        )
        assert audit is not None
        assert audit["outcome"] == ("flagged" if await flags_of(conn, claim.settlement_id) else "clean")
        assert audit["rules_run"] > 0
    trace = batched[2].lines[0].traceability_codes[0]
    assert await conn.fetchval("SELECT settlement_id FROM traceability_codes WHERE code = $1", trace) == (
        batched[2].settlement_id
    )
    flagged = sum(len(ids) for ids in expected)
    for claims in (one_by_one, batched):
        assert (
            await conn.fetchval(
                "SELECT count(*) FROM outbox WHERE event_type = 'audit.flagged' "
                "AND (convert_from(payload, 'UTF8')::jsonb->>'settlement_id')::uuid = ANY($1::uuid[])",
                [c.settlement_id for c in claims],
            )
            == flagged
        )
    for doctor in (one_doctor, batch_doctor):
        assert await conn.fetchval("SELECT points FROM practitioners WHERE practitioner_code = $1", doctor) == 15
        assert await outbox_count(conn, "practitioner.suspended", doctor) == 1


async def test_the_claim_column_keeps_the_received_json_and_reads_back_as_the_claim(
    db: Database, conn: asyncpg.Connection
) -> None:
    """The audit stores a claim's JSON as the record carried it (not dumped again); backtests read
    it back through the contract, so a received claim and one built here read back alike."""
    received = settled(person_no(), [("250101001", 1, "40.00")], practitioner=code("D"))
    document = json.loads(received.model_dump_json())
    document["lines"][0]["unit_price"] = "40.0"  # valid, though not as our publisher writes it
    document["added_later"] = {"by": "a newer publisher"}  # extra fields are ignored by the contract
    event = Event.new(received, source="/tests")
    _, _, headers = encode(event)
    delivered = decode(json.dumps(document).encode(), headers)
    assert delivered.payload_json is not None
    assert await deliver(db, delivered)
    built_here = await send(db, settled(person_no(), [("250101001", 1, "40.00")], practitioner=code("D")))

    stored = await conn.fetchval("SELECT claim FROM claim_history WHERE settlement_id = $1", received.settlement_id)
    assert json.loads(stored) == document  # the bytes received, as PostgreSQL's jsonb holds them
    async with db.transaction() as session:
        claims = await repository.stored_claims(session, start=date(2026, 1, 15), end=date(2026, 1, 15), limit=100_000)
    by_id = {claim.settlement_id: claim for claim in claims}
    assert by_id[received.settlement_id] == delivered.payload == received
    assert by_id[built_here.payload.settlement_id] == built_here.payload  # type: ignore[attr-defined]


async def test_a_reversal_marked_while_its_claim_is_audited_refuses_the_batch_and_the_replay_skips_it(
    db: Database, conn: asyncpg.Connection
) -> None:
    # The audit asks which settlements have an audit row, then COPYs the finished rows: a reversal
    # consumed meanwhile (another topic, maybe another worker) marks the settlement in between. The
    # primary key then refuses the whole batch; the runner's replay sees the marker and skips it.
    claim = settled(person_no(), [("Y00000011", 40, "2.10")])  # past QTY-MAX-LINE's 30: a flag if audited
    event = Event.new(claim, source="/tests")
    marker = conn.transaction()
    await marker.start()
    await conn.execute(
        "INSERT INTO audit_results (settlement_id, person_no, institution_code, outcome, rules_run, withdrawn_at)"
        " VALUES ($1, $2, $3, 'reversed', 0, now())",
        claim.settlement_id,
        claim.person_no,
        claim.institution_code,
    )
    audit = asyncio.create_task(deliver(db, event))
    deadline = time.monotonic() + 15
    while True:
        await conn.execute("SELECT pg_stat_clear_snapshot()")  # the activity view is a snapshot per transaction
        if await conn.fetchval("SELECT count(*) FROM pg_stat_activity WHERE wait_event = 'transactionid'"):
            break  # the audit's COPY waits for the marker's transaction
        assert not audit.done(), "the audit did not wait for the uncommitted marker"
        assert time.monotonic() < deadline
        await asyncio.sleep(0.02)
    await marker.commit()
    with pytest.raises(CopyRefused):
        await audit

    async def stored() -> tuple[object, ...]:
        return (
            await conn.fetchval("SELECT outcome FROM audit_results WHERE settlement_id = $1", claim.settlement_id),
            await flags_of(conn, claim.settlement_id),
            await conn.fetchval("SELECT count(*) FROM claim_history WHERE settlement_id = $1", claim.settlement_id),
            await conn.fetchval("SELECT count(*) FROM inbox WHERE event_id = $1", event.id),
        )

    assert await stored() == ("reversed", [], 0, 0)  # nothing of the refused batch stayed
    assert await deliver(db, event)  # the replay, event by event
    assert await stored() == ("reversed", [], 0, 1)
