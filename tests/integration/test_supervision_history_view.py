"""Supervision's history view in one statement (decision 0009), on the real database: a draft
claim gets its institution's profile and every projection the rules read in one round trip, and
the read-only session runs its statements outside a transaction."""

from __future__ import annotations

import asyncio
import random
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import pytest
from sqlalchemy import event, text

from devstack.stack import Stack
from services.supervision import repository
from services.supervision.audit_batch import RecordedClaim
from services.supervision.service import (
    LIBRARY,
    PRIOR_CLAIM_RULES,
    DraftLine,
    draft_claim,
    phantom_bed_days,
    projection_lookback_days,
)
from shared.db import Database
from shared.events.contracts import ClaimLine, ClaimSettled
from shared.settings import database_url_for
from tests.claims import ZERO_BREAKDOWN

PARACETAMOL = "XN02BE0010301"  # knowledge base (migration 0002): drug group N02BE


@pytest.fixture
async def db(infra: Stack) -> AsyncIterator[Database]:
    database = Database(database_url_for("supervision", infra.database_url), pool_size=2)
    yield database
    await database.dispose()


def prior_claim(person: str, institution: str, trace: str) -> ClaimSettled:
    return ClaimSettled(
        settlement_id=uuid.uuid4(),
        person_no=person,
        institution_code=institution,
        practitioner_code="D-HV-0001",
        visit_type="outpatient",
        admitted_on=date(2026, 11, 2),
        discharged_on=date(2026, 11, 2),
        diagnoses=["J18.9"],
        lines=[
            ClaimLine(
                line_no=1,
                item_code=PARACETAMOL,
                quantity=2,
                unit_price=Decimal("3.00"),
                amount=Decimal("6.00"),
                traceability_codes=[trace],
            )
        ],
        breakdown=ZERO_BREAKDOWN,
        settled_at=datetime(2026, 11, 2, 3, 0, tzinfo=UTC),
        institution_level=3,
        institution_type="hospital",
        region_code="350582",
    )


def draft(person: str, institution: str, trace: str, *, level: int | None) -> ClaimSettled:
    return draft_claim(
        person_no=person,
        practitioner_code="D-HV-0002",
        institution_code=institution,
        visit_type="outpatient",
        admitted_on=date(2026, 11, 20),
        discharged_on=date(2026, 11, 20),
        diagnoses=["J18.9"],
        lines=[DraftLine(PARACETAMOL, 1, Decimal("3.00"), (trace,))],
        institution_level=level,
        institution_type=None,
        region_code=None,
        scheme=None,
        now=datetime.now(UTC),
    )


async def test_a_draft_gets_its_profile_and_every_projection_in_one_statement(db: Database) -> None:
    person = f"P{random.randrange(10**11):011d}"
    institution = f"H-HV-{uuid.uuid4().hex[:8]}"
    trace = f"TRHV{uuid.uuid4().hex[:12]}"
    # On the draft's day: the pre-stage rules that read claims look back no further (the test below).
    prior = _dated(prior_claim(person, institution, trace), date(2026, 11, 20))
    async with db.transaction() as session:
        await repository.record_person(session, person, sex="F", birth_date=date(1960, 3, 1))
        catalogue = await repository.knowledge_base(session)
        await repository.record_claim(session, prior, [catalogue[PARACETAMOL]])
    rules = [rule for rule in LIBRARY if "pre" in rule.stages]

    statements: list[str] = []

    def count(conn: object, cursor: object, statement: str, *args: object) -> None:
        statements.append(statement)

    # The view goes past SQLAlchemy (shared.db.fetch_row): its engine events and the plain pool's listeners.
    event.listen(db.reader_engine.sync_engine, "before_cursor_execute", count)
    stop_listening = db.listen_plain_statements(statements.append)
    try:
        async with db.reading() as session:
            claim, history = await repository.load_draft_history(
                session, draft(person, institution, trace, level=None), rules, catalogue
            )
    finally:
        stop_listening()
        event.remove(db.reader_engine.sync_engine, "before_cursor_execute", count)

    assert len(statements) == 1  # the profile and the whole view: one statement
    assert "= ANY(" in statements[0]
    assert " IN (" not in statements[0]  # no IN-list expanded per call
    assert (claim.institution_level, claim.institution_type, claim.region_code) == (3, "hospital", "350582")
    assert (history.sex, history.birth_date) == ("F", date(1960, 3, 1))
    assert [p.settlement_id for p in history.prior_claims] == [prior.settlement_id]
    assert [(p.drug_group, p.settlement_id) for p in history.drug_purchases] == [("N02BE", prior.settlement_id)]
    assert [(s.code, s.settlement_id) for s in history.sold_codes] == [(trace, prior.settlement_id)]
    assert [item.item_code for item in history.catalogue] == [PARACETAMOL]

    # What the claim says of its institution wins over the profile; an unknown person has no facts.
    async with db.reading() as session:
        stated, _ = await repository.load_draft_history(
            session, draft(person, institution, trace, level=1), rules, catalogue
        )
        stranger, nothing = await repository.load_draft_history(
            session, draft("P00000000000", f"H-HV-{uuid.uuid4().hex[:8]}", "TR-none", level=None), rules, catalogue
        )
    assert stated.institution_level == 1
    assert stranger.institution_level is None
    assert (nothing.sex, nothing.prior_claims, nothing.sold_codes, nothing.drug_purchases) == (None, (), (), ())


async def test_the_read_only_session_runs_each_statement_outside_a_transaction(db: Database) -> None:
    # now() is the transaction's start: equal across statements in a transaction, not without one.
    async with db.transaction() as session:
        first = await session.scalar(text("SELECT now()"))
        await asyncio.sleep(0.02)
        assert await session.scalar(text("SELECT now()")) == first
    async with db.reading() as session:
        first = await session.scalar(text("SELECT now()"))
        await asyncio.sleep(0.02)
        assert await session.scalar(text("SELECT now()")) != first


def _dated(claim: ClaimSettled, day: date) -> ClaimSettled:
    return claim.model_copy(update={"settlement_id": uuid.uuid4(), "admitted_on": day, "discharged_on": day})


async def test_a_batch_reads_each_persons_own_window_not_the_whole_span(db: Database) -> None:
    # A backlog batch: one person's claim in January, another's in December. Each person's history
    # is read over their own window only; the span of the batch (January to December) is not.
    early, late = f"P{random.randrange(10**11):011d}", f"P{random.randrange(10**11):011d}"
    institution = f"H-HV-{uuid.uuid4().hex[:8]}"
    base = prior_claim(early, institution, f"TRHV{uuid.uuid4().hex[:12]}")
    early_in_window = _dated(base, date(2026, 1, 5))
    early_after_window = _dated(base, date(2026, 6, 1))  # after the January claim: no rule of it reads this
    async with db.reading() as session:
        rules = [rule for rule in await repository.active_rules(session) if "post" in rule.stages]
    late_day = date(2026, 12, 20)
    days = projection_lookback_days(rules, PRIOR_CLAIM_RULES)  # SPLIT-ADMISSION's 15 (migration 0008)
    before_late_window = late_day - timedelta(days=days + 1)  # inside the batch's span
    late_before_window = _dated(base.model_copy(update={"person_no": late}), max(before_late_window, date(2026, 2, 1)))
    late_in_window = _dated(base.model_copy(update={"person_no": late}), date(2026, 12, 10))
    assert date(2026, 1, 20) < late_before_window.admitted_on < late_day - timedelta(days=days)
    async with db.transaction() as session:
        catalogue = await repository.knowledge_base(session)
        for stored in (early_in_window, early_after_window, late_before_window, late_in_window):
            await repository.record_claim(session, stored.model_copy(update={"lines": []}), [])
    batch = [_dated(base, date(2026, 1, 20)), _dated(base.model_copy(update={"person_no": late}), late_day)]

    async with db.reading() as session:
        loaded = await repository.load_batch_history(session, batch, rules, catalogue)

    read = {person: {p.settlement_id for p in claims} for person, claims in loaded.prior_claims.items()}
    assert read == {early: {early_in_window.settlement_id}, late: {late_in_window.settlement_id}}


async def test_a_stay_begun_long_before_is_still_read_by_the_phantom_bed_window(db: Database) -> None:
    # PHANTOM-BED's window is one day (migration 0008), and the history is filtered on the day of
    # discharge: a stay admitted 200 days before this one's first night and still open is read.
    person = f"P{random.randrange(10**11):011d}"
    institution = f"H-HV-{uuid.uuid4().hex[:8]}"
    base = prior_claim(person, institution, f"TRHV{uuid.uuid4().hex[:12]}").model_copy(
        update={"visit_type": "inpatient", "lines": []}
    )
    long_stay = base.model_copy(
        update={"settlement_id": uuid.uuid4(), "admitted_on": date(2026, 3, 1), "discharged_on": date(2026, 9, 20)}
    )
    claim = base.model_copy(
        update={"settlement_id": uuid.uuid4(), "admitted_on": date(2026, 9, 17), "discharged_on": date(2026, 9, 25)}
    )
    async with db.transaction() as session:
        await repository.record_claim(session, long_stay, [])
        rules = await repository.active_rules(session)
        catalogue = await repository.knowledge_base(session)
    assert projection_lookback_days(rules, PRIOR_CLAIM_RULES) == 15
    async with db.reading() as session:
        history = await repository.load_history(session, claim, rules, catalogue)

    assert [p.settlement_id for p in history.prior_claims] == [long_stay.settlement_id]
    assert [f.rule_id for f in phantom_bed_days(claim, history, {})] == ["PHANTOM-BED"]


async def test_the_in_stage_check_reads_drug_purchases_over_90_days_and_claims_over_one(db: Database) -> None:
    # The in-stage rules that read claims look back a day at most (duplicate charges, unbundling,
    # phantom beds); DOCTOR-SHOPPING reads 90 days of drug purchases. A visit 18 days before the
    # draft is read as a purchase, not as a claim: no in-stage rule could find anything in it.
    person = f"P{random.randrange(10**11):011d}"
    institution = f"H-HV-{uuid.uuid4().hex[:8]}"
    prior = prior_claim(person, institution, f"TRHV{uuid.uuid4().hex[:12]}")  # November 2
    same_day = prior.model_copy(
        update={"settlement_id": uuid.uuid4(), "admitted_on": date(2026, 11, 20), "discharged_on": date(2026, 11, 20)}
    )
    async with db.transaction() as session:
        catalogue = await repository.knowledge_base(session)
        rules = [rule for rule in await repository.active_rules(session) if "in" in rule.stages]
        for stored in (prior, same_day.model_copy(update={"lines": []})):
            await repository.record_claim(session, stored, [catalogue[PARACETAMOL]])
    async with db.reading() as session:
        _, history = await repository.load_draft_history(
            session, draft(person, institution, "TR-none", level=3), rules, catalogue
        )

    assert [p.settlement_id for p in history.prior_claims] == [same_day.settlement_id]
    assert [(p.drug_group, p.settlement_id) for p in history.drug_purchases] == [("N02BE", prior.settlement_id)]


async def test_a_claim_with_quotes_backslashes_tabs_and_braces_is_stored_as_it_came(db: Database) -> None:
    # The history is written by COPY (repository.record_claims), not by statements with parameters:
    # codes and diagnoses are free text in the contract and must come back as they came.
    odd = ['A"1', "B\\2", "C\t3", "D,4 {x}", "NULL", "\\N"]
    claim = prior_claim(f"P{random.randrange(10**11):011d}", "H\t\\x", "TR\\t\n1").model_copy(
        update={"diagnoses": odd, "region_code": 'R"\\N\t', "practitioner_code": "D\r\n"}
    )
    claim = claim.model_copy(
        update={"lines": [claim.lines[0].model_copy(update={"item_code": 'I"\\\t,{}'})], "settlement_id": uuid.uuid4()}
    )
    async with db.transaction() as session:
        await repository.record_claims(session, [RecordedClaim(claim, frozenset(), ())])
        row = (
            await session.execute(
                text(
                    "SELECT institution_code, practitioner_code, diagnoses, item_codes, region_code, claim"
                    " FROM claim_history WHERE settlement_id = :id"
                ),
                {"id": claim.settlement_id},
            )
        ).one()
    assert tuple(row) == (
        "H\t\\x",
        "D\r\n",
        odd,
        ['I"\\\t,{}'],
        'R"\\N\t',
        claim.model_dump(mode="json"),
    )
