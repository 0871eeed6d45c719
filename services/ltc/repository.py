"""All of ltc's SQL."""

from __future__ import annotations

from datetime import date

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from services.ltc.models import LtcCoverage, LtcDeath, LtcPerson
from services.ltc.service import Cover
from shared.db import upsert


async def upsert_person(session: AsyncSession, **values: object) -> None:
    await upsert(session, LtcPerson, "person_no", {**values, "updated_at": func.now()})


async def upsert_coverage(session: AsyncSession, **values: object) -> None:
    await upsert(session, LtcCoverage, "enrollment_id", values)


async def record_death(session: AsyncSession, person_no: str, died_on: date) -> None:
    await upsert(session, LtcDeath, "person_no", {"person_no": person_no, "died_on": died_on})


async def died_on(session: AsyncSession, person_no: str) -> date | None:
    day: date | None = await session.scalar(select(LtcDeath.died_on).where(LtcDeath.person_no == person_no))
    return day


async def get_person(session: AsyncSession, person_no: str) -> LtcPerson | None:
    return await session.get(LtcPerson, person_no)


async def covers_of(session: AsyncSession, person_no: str) -> list[Cover]:
    rows = await session.scalars(select(LtcCoverage).where(LtcCoverage.person_no == person_no))
    return [Cover(r.scheme, r.covered_from, r.covered_to) for r in rows]
