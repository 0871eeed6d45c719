"""All of settlement's SQL."""

from __future__ import annotations

from uuid import UUID

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from services.settlement.models import EligibilityCoverage, EligibilityPerson, Settlement
from services.settlement.service import Coverage
from shared.db import upsert


async def upsert_person(session: AsyncSession, **values: object) -> None:
    await upsert(session, EligibilityPerson, "person_no", values)


async def upsert_coverage(session: AsyncSession, **values: object) -> None:
    await upsert(session, EligibilityCoverage, "enrollment_id", values)


async def person_known(session: AsyncSession, person_no: str) -> bool:
    return await session.get(EligibilityPerson, person_no) is not None


async def active_coverages(session: AsyncSession, person_no: str) -> list[Coverage]:
    rows = await session.scalars(
        select(EligibilityCoverage).where(
            EligibilityCoverage.person_no == person_no, EligibilityCoverage.status == "active"
        )
    )
    return [Coverage(scheme=r.scheme, effective_from=r.effective_from, effective_to=r.effective_to) for r in rows]


async def add_settlement(session: AsyncSession, row: Settlement) -> None:
    session.add(row)
    await session.flush()


async def get_settlement(session: AsyncSession, settlement_id: UUID) -> Settlement | None:
    return await session.get(Settlement, settlement_id)
