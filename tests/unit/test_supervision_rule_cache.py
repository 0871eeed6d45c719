"""The precheck memos of reference data (active rule versions, the knowledge base): reused within
their TTL, re-read after it or when forgotten; and a draft claim completed by its institution's profile."""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal

from services.supervision.rule_cache import KNOWLEDGE_BASE_TTL_SECONDS, ActiveRulesMemo, KnowledgeBaseMemo
from services.supervision.service import (
    LIBRARY,
    DraftLine,
    InstitutionProfile,
    ItemRestriction,
    RuleVersion,
    draft_claim,
    with_profile,
)


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


async def test_reuses_within_ttl_reloads_after_and_on_forget() -> None:
    clock = Clock()
    memo = ActiveRulesMemo(ttl_seconds=1.0, clock=clock)
    loads: list[int] = []

    async def load() -> list[RuleVersion]:
        loads.append(1)
        return list(LIBRARY)[: len(loads)]

    first = await memo.get(load)
    clock.now += 0.9
    assert await memo.get(load) is first
    assert len(loads) == 1
    clock.now += 0.1
    second = await memo.get(load)
    assert len(loads) == 2
    assert len(second) == 2
    memo.forget()
    assert len(await memo.get(load)) == 3


async def test_the_knowledge_base_memo_keeps_a_minute_old_copy() -> None:
    clock = Clock()
    memo = KnowledgeBaseMemo(clock=clock)
    loads: list[int] = []

    async def load() -> dict[str, ItemRestriction]:
        loads.append(1)
        return {f"X{len(loads)}": ItemRestriction(f"X{len(loads)}")}

    assert list(await memo.get(load)) == ["X1"]
    clock.now += KNOWLEDGE_BASE_TTL_SECONDS - 0.1
    assert list(await memo.get(load)) == ["X1"]
    clock.now += 0.1
    assert list(await memo.get(load)) == ["X2"]
    assert len(loads) == 2


def test_a_claim_takes_its_profile_only_where_it_says_nothing() -> None:
    claim = draft_claim(
        person_no="P00000000001",
        practitioner_code="D1",
        institution_code="H1",
        visit_type="outpatient",
        admitted_on=date(2026, 11, 2),
        discharged_on=date(2026, 11, 2),
        diagnoses=["J18.9"],
        lines=[DraftLine("250101001", 1, Decimal("36.80"))],
        institution_level=None,
        institution_type="clinic",
        region_code=None,
        scheme=None,
        now=datetime(2026, 11, 2, tzinfo=UTC),
    )
    completed = with_profile(claim, InstitutionProfile(3, "hospital", "350582"))
    assert (completed.institution_level, completed.institution_type, completed.region_code) == (3, "clinic", "350582")
    assert with_profile(claim, None) is claim
    assert with_profile(completed, InstitutionProfile(1, None, None)).institution_level == 3
