"""Peer baselines on the real database (decision 0017): a month's figures counted in one statement
from the claim history, and a batch spanning months reads, for each claim, the latest baseline of
a month before its own, in the history view's one statement."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from datetime import date
from decimal import Decimal

import pytest

from devstack.stack import Stack
from services.supervision import repository
from services.supervision.audit_batch import BatchHistory
from services.supervision.service import LIBRARY, InstitutionCost
from shared.db import Database
from shared.events.contracts import ClaimSettled
from shared.settings import database_url_for
from tests.claims import one_line_claim

# Months and a diagnosis group (Q86, level 1) no other test settles claims in.
JANUARY, FEBRUARY, MARCH = date(2024, 1, 1), date(2024, 2, 1), date(2024, 3, 1)
DIAGNOSIS = "Q86.0"


@pytest.fixture
async def db(infra: Stack) -> AsyncIterator[Database]:
    database = Database(database_url_for("supervision", infra.database_url), pool_size=2)
    yield database
    await database.dispose()


def settled(institution: str, cost: str, on: date, *, level: int = 1) -> ClaimSettled:
    # 17:00 UTC is the next day in Asia/Shanghai: the month is the business one.
    return one_line_claim(institution, cost, on, diagnosis=DIAGNOSIS, level=level, settled_hour_utc=17)


async def test_a_batch_spanning_months_reads_the_baseline_before_each_claims_month(db: Database) -> None:
    tag = uuid.uuid4().hex[:6].upper()
    a, b = f"HPB{tag}A", f"HPB{tag}B"
    january = [
        settled(a, "10.00", date(2024, 1, 5)),
        settled(a, "30.00", date(2024, 1, 9)),
        settled(b, "7.00", JANUARY),
    ]
    february = [settled(a, "50.00", date(2024, 2, 3)), settled(b, "8.00", date(2024, 2, 3), level=2)]
    # Settled on Jan 31 at 17:00 UTC: February 1 in Asia/Shanghai, so February's.
    turn_of_month = settled(b, "9.00", date(2024, 1, 31))
    async with db.transaction() as session:
        for claim in [*january, *february, turn_of_month]:
            await repository.record_claim(session, claim, [])
    async with db.transaction() as session:
        jan = await repository.take_peer_baseline(session, JANUARY, "ops-it")
        feb = await repository.take_peer_baseline(session, FEBRUARY, "ops-it")
    # January: A's two cases (40.00), B's one; the Jan 31 claim is February's. February: A and B at
    # level 1, B at level 2 as well.
    assert (jan.period, jan.taken_by, jan.institutions, jan.diagnosis_groups, jan.cases) == (JANUARY, "ops-it", 2, 1, 3)
    assert (feb.institutions, feb.diagnosis_groups, feb.cases) == (2, 2, 3)

    batch_claims = [
        settled(a, "1.00", date(2024, 2, 20)),  # judged by January
        settled(a, "1.00", date(2024, 3, 20)),  # judged by February
        settled(b, "1.00", date(2024, 3, 21), level=2),
        settled(a, "1.00", date(2023, 12, 20)),  # no baseline before December 2023
    ]
    async with db.transaction() as session:
        loaded = await repository.load_batch_history(session, batch_claims, list(LIBRARY), {})
    batch = BatchHistory.for_rules(loaded, LIBRARY)
    baselines = [batch.history_for(claim).peer_baseline for claim in batch_claims]
    assert baselines[0] is not None
    assert baselines[0].period == JANUARY
    assert baselines[0].costs == (
        InstitutionCost(a, 1, "Q86", 2, Decimal("40.00")),
        InstitutionCost(b, 1, "Q86", 1, Decimal("7.00")),
    )
    assert baselines[0].costs[0].cost_per_case == Decimal("20.00")
    assert baselines[1] is not None
    assert baselines[1].period == FEBRUARY
    assert baselines[1].costs == (
        InstitutionCost(a, 1, "Q86", 1, Decimal("50.00")),
        InstitutionCost(b, 1, "Q86", 1, Decimal("9.00")),
    )
    assert baselines[2] is not None
    assert (baselines[2].period, baselines[2].costs) == (FEBRUARY, (InstitutionCost(b, 2, "Q86", 1, Decimal("8.00")),))
    assert baselines[3] is None

    # Taken again after a reversal: the month's figures without the reversed claim; the summary row
    # is replaced, not added to.
    async with db.transaction() as session:
        await repository.forget_claim(session, january[0].settlement_id)
    async with db.transaction() as session:
        again = await repository.take_peer_baseline(session, JANUARY, "ops-it-2")
        listed = await repository.peer_baselines(session, before=None, limit=100)
    assert (again.cases, again.taken_by) == (2, "ops-it-2")
    assert [(row.period, row.cases) for row in listed if row.period in (JANUARY, FEBRUARY)] == [
        (FEBRUARY, 3),
        (JANUARY, 2),
    ]
    async with db.transaction() as session:
        loaded = await repository.load_batch_history(session, batch_claims[:1], list(LIBRARY), {})
    reread = BatchHistory.for_rules(loaded, LIBRARY).history_for(batch_claims[0]).peer_baseline
    assert reread is not None
    assert reread.costs == (
        InstitutionCost(a, 1, "Q86", 1, Decimal("30.00")),
        InstitutionCost(b, 1, "Q86", 1, Decimal("7.00")),
    )
