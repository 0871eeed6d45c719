"""Settlement's projections: eligibility from enrollment, doctors and institutions from supervision."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession

from services.settlement import repository
from shared.events.consumer import Handler
from shared.events.contracts import (
    ContributionPosted,
    EnrollmentActivated,
    EnrollmentSuspended,
    EnrollmentTerminated,
    FamilyBound,
    FamilyUnbound,
    FilingApproved,
    FilingRevoked,
    InstitutionSanctioned,
    PersonDeceased,
    PersonRegistered,
    PractitionerReinstated,
    PractitionerSuspended,
)
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
        retiree=p.retiree,
        assistance_category=p.assistance_category,
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


async def on_practitioner_suspended(session: AsyncSession, event: Event) -> None:
    p = event.payload
    assert isinstance(p, PractitionerSuspended)
    await repository.suspend_practitioner(
        session,
        p.practitioner_code,
        suspended_from=p.suspended_from,
        suspended_until=p.suspended_until,
        points=p.points,
        reason=p.reason,
    )


async def on_practitioner_reinstated(session: AsyncSession, event: Event) -> None:
    p = event.payload
    assert isinstance(p, PractitionerReinstated)
    await repository.reinstate_practitioner(session, p.practitioner_code, p.reinstated_on)


async def on_institution_sanctioned(session: AsyncSession, event: Event) -> None:
    p = event.payload
    assert isinstance(p, InstitutionSanctioned)
    await repository.add_sanction(
        session,
        event_id=event.id,
        institution_code=p.institution_code,
        sanction=p.sanction,
        refuses_settlement=p.refuses_settlement,
        effective_from=p.effective_from,
    )


async def on_contribution_posted(session: AsyncSession, event: Event) -> None:
    """个人账户划入: an employee's contribution credits the personal account, once per contribution."""
    p = event.payload
    assert isinstance(p, ContributionPosted)
    if p.scheme == "employee" and p.personal_account_credit > 0:
        await repository.credit_contribution(
            session,
            contribution_id=p.contribution_id,
            person_no=p.person_no,
            year=p.year,
            amount=p.personal_account_credit,
            posted_at=p.posted_at,
        )


async def on_filing_approved(session: AsyncSession, event: Event) -> None:
    p = event.payload
    assert isinstance(p, FilingApproved)
    await repository.upsert_filing(
        session,
        filing_id=p.filing_id,
        person_no=p.person_no,
        filing_type=p.filing_type,
        destination_region_code=p.destination_region_code,
        valid_from=p.valid_from,
        valid_to=p.valid_to,
    )


async def on_filing_revoked(session: AsyncSession, event: Event) -> None:
    p = event.payload
    assert isinstance(p, FilingRevoked)
    await repository.record_filing_revocation(session, p.filing_id, p.revoked_on)


async def on_family_bound(session: AsyncSession, event: Event) -> None:
    p = event.payload
    assert isinstance(p, FamilyBound)
    await repository.upsert_family_binding(
        session,
        binding_id=p.binding_id,
        person_no=p.person_no,
        relative_person_no=p.relative_person_no,
        relation=p.relation,
        bound_on=p.bound_on,
    )


async def on_family_unbound(session: AsyncSession, event: Event) -> None:
    p = event.payload
    assert isinstance(p, FamilyUnbound)
    await repository.record_family_unbinding(session, p.binding_id, p.unbound_on)


HANDLERS: dict[str, Handler] = {
    PersonRegistered.event_type: on_person_registered,
    EnrollmentActivated.event_type: on_enrollment_activated,
    EnrollmentSuspended.event_type: on_enrollment_suspended,
    EnrollmentTerminated.event_type: on_enrollment_terminated,
    PersonDeceased.event_type: on_person_deceased,
    PractitionerSuspended.event_type: on_practitioner_suspended,
    PractitionerReinstated.event_type: on_practitioner_reinstated,
    InstitutionSanctioned.event_type: on_institution_sanctioned,
    ContributionPosted.event_type: on_contribution_posted,
    FilingApproved.event_type: on_filing_approved,
    FilingRevoked.event_type: on_filing_revoked,
    FamilyBound.event_type: on_family_bound,
    FamilyUnbound.event_type: on_family_unbound,
}
