"""Settlement keeps an eligibility projection from enrollment's events."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession

from services.settlement import repository
from shared.events.consumer import Handler
from shared.events.contracts import EnrollmentActivated, PersonRegistered
from shared.events.envelope import Event


async def on_person_registered(session: AsyncSession, event: Event) -> None:
    p = event.payload
    assert isinstance(p, PersonRegistered)
    await repository.upsert_person(
        session, person_no=p.person_no, birth_date=p.birth_date, sex=p.sex, hukou_region_code=p.hukou_region_code
    )


async def on_enrollment_activated(session: AsyncSession, event: Event) -> None:
    p = event.payload
    assert isinstance(p, EnrollmentActivated)
    await repository.upsert_coverage(
        session,
        enrollment_id=p.enrollment_id,
        person_no=p.person_no,
        scheme=p.scheme,
        year=p.year,
        region_code=p.region_code,
        effective_from=p.effective_from,
        effective_to=p.effective_to,
        status="active",
    )


HANDLERS: dict[str, Handler] = {
    PersonRegistered.event_type: on_person_registered,
    EnrollmentActivated.event_type: on_enrollment_activated,
}
