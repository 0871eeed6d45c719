"""All of enrollment's SQL."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from services.enrollment.models import Enrollment, Person, person_no_seq
from services.enrollment.service import format_person_no


class DuplicateRow(Exception):
    pass


async def next_person_no(session: AsyncSession) -> str:
    return format_person_no(int(await session.scalar(person_no_seq.next_value()) or 0))


async def person_by_hash(session: AsyncSession, id_hash: str) -> Person | None:
    result: Person | None = await session.scalar(select(Person).where(Person.id_hash == id_hash))
    return result


async def get_person(session: AsyncSession, person_no: str) -> Person | None:
    return await session.get(Person, person_no)


async def add(session: AsyncSession, row: Person | Enrollment) -> None:
    """Insert now, so a unique-key race surfaces here as DuplicateRow, not at commit."""
    session.add(row)
    try:
        async with session.begin_nested():
            await session.flush()
    except IntegrityError as exc:
        raise DuplicateRow(str(exc.orig)) from exc


async def enrollments_of(session: AsyncSession, person_no: str) -> list[Enrollment]:
    rows = await session.scalars(select(Enrollment).where(Enrollment.person_no == person_no).order_by(Enrollment.year))
    return list(rows)


async def enrollment_for_year(session: AsyncSession, person_no: str, year: int) -> Enrollment | None:
    result: Enrollment | None = await session.scalar(
        select(Enrollment).where(Enrollment.person_no == person_no, Enrollment.year == year)
    )
    return result
