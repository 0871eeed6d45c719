"""LTC keeps a person projection from enrollment's events: persons and their moves, their cover and its stops, their deaths."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession

from services.ltc import repository
from shared.events.consumer import Handler
from shared.events.contracts import (
    EnrollmentActivated,
    EnrollmentSuspended,
    EnrollmentTerminated,
    PersonDeceased,
    PersonRegistered,
    PersonUpdated,
)
from shared.events.envelope import Event


async def on_person_registered(session: AsyncSession, event: Event) -> None:
    p = event.payload
    assert isinstance(p, PersonRegistered)
    await repository.upsert_person(
        session,
        person_no=p.person_no,
        birth_date=p.birth_date,
        sex=p.sex,
        residence_region_code=p.residence_region_code,
    )


async def on_enrollment_activated(session: AsyncSession, event: Event) -> None:
    p = event.payload
    assert isinstance(p, EnrollmentActivated)
    await repository.upsert_coverage(
        session,
        enrollment_id=p.enrollment_id,
        person_no=p.person_no,
        scheme=p.scheme,
        covered_from=p.effective_from,
        covered_to=p.effective_to,
        # An activation after a suspension (arrears paid) lifts it; the two travel on different topics.
        activated_at=event.time,
    )


async def on_enrollment_suspended(session: AsyncSession, event: Event) -> None:
    p = event.payload
    assert isinstance(p, EnrollmentSuspended)
    await repository.record_stop(
        session,
        enrollment_id=p.enrollment_id,
        person_no=p.person_no,
        suspended_from=p.suspended_from,
        suspended_at=event.time,
    )


async def on_enrollment_terminated(session: AsyncSession, event: Event) -> None:
    p = event.payload
    assert isinstance(p, EnrollmentTerminated)
    await repository.record_stop(
        session, enrollment_id=p.enrollment_id, person_no=p.person_no, terminated_on=p.terminated_on
    )


async def on_person_deceased(session: AsyncSession, event: Event) -> None:
    p = event.payload
    assert isinstance(p, PersonDeceased)
    await repository.record_death(session, p.person_no, p.died_on)


async def on_person_updated(session: AsyncSession, event: Event) -> None:
    p = event.payload
    assert isinstance(p, PersonUpdated)
    await repository.record_move(session, p.person_no, p.residence_region_code, p.updated_at)


HANDLERS: dict[str, Handler] = {
    PersonRegistered.event_type: on_person_registered,
    PersonUpdated.event_type: on_person_updated,
    EnrollmentActivated.event_type: on_enrollment_activated,
    EnrollmentSuspended.event_type: on_enrollment_suspended,
    EnrollmentTerminated.event_type: on_enrollment_terminated,
    PersonDeceased.event_type: on_person_deceased,
}
