"""All of ltc's SQL."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any
from uuid import UUID

from sqlalchemy import func, select
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from services.ltc.models import LtcCoverage, LtcCoverageStop, LtcDeath, LtcPerson, LtcPersonMove
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


async def record_move(session: AsyncSession, person_no: str, residence_region_code: str, updated_at: datetime) -> None:
    """Keep the newest move (one person's moves share a topic partition, but a replay may bring an older one)."""
    statement = insert(LtcPersonMove).values(
        person_no=person_no, residence_region_code=residence_region_code, updated_at=updated_at
    )
    await session.execute(
        statement.on_conflict_do_update(
            index_elements=["person_no"],
            set_={"residence_region_code": statement.excluded.residence_region_code, "updated_at": updated_at},
            where=LtcPersonMove.updated_at < statement.excluded.updated_at,
        )
    )


async def residence_of(session: AsyncSession, person: LtcPerson) -> str:
    """Where the person lives now: the latest move, else the residence they registered with."""
    moved: str | None = await session.scalar(
        select(LtcPersonMove.residence_region_code).where(LtcPersonMove.person_no == person.person_no)
    )
    return moved or person.residence_region_code


async def get_person(session: AsyncSession, person_no: str) -> LtcPerson | None:
    return await session.get(LtcPerson, person_no)


async def record_stop(
    session: AsyncSession,
    *,
    enrollment_id: UUID,
    person_no: str,
    suspended_from: date | None = None,
    suspended_at: datetime | None = None,
    terminated_on: date | None = None,
) -> None:
    """Set an enrollment's suspension (and when it was published) or its termination, keeping the other."""
    changes: dict[str, Any] = {}
    if suspended_from is not None:
        changes |= {"suspended_from": suspended_from, "suspended_at": suspended_at}
    if terminated_on is not None:
        changes["terminated_on"] = terminated_on
    statement = insert(LtcCoverageStop).values(enrollment_id=enrollment_id, person_no=person_no, **changes)
    await session.execute(statement.on_conflict_do_update(index_elements=["enrollment_id"], set_=changes))


async def covers_of(session: AsyncSession, person_no: str) -> list[Cover]:
    """The person's covers with their stops; a suspension published before the cover's latest activation
    was lifted by it (arrears paid)."""
    rows = await session.execute(
        select(LtcCoverage, LtcCoverageStop)
        .outerjoin(LtcCoverageStop, LtcCoverageStop.enrollment_id == LtcCoverage.enrollment_id)
        .where(LtcCoverage.person_no == person_no)
    )
    covers = []
    for cover, stop in rows.tuples():
        suspended_from = None
        if stop is not None and stop.suspended_from is not None:
            stopped_at, activated_at = stop.suspended_at, cover.activated_at
            lifted = stopped_at is not None and activated_at is not None and stopped_at < activated_at
            suspended_from = None if lifted else stop.suspended_from
        terminated_on = stop.terminated_on if stop is not None else None
        covers.append(Cover(cover.scheme, cover.covered_from, cover.covered_to, suspended_from, terminated_on))
    return covers
