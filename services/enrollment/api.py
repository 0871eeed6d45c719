"""Enrollment routes: thin; rules in service.py, SQL in repository.py."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Awaitable, Callable
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Literal

from fastapi import APIRouter, Query, Request, Response
from pydantic import ValidationError
from sqlalchemy.ext.asyncio import AsyncSession

from services.enrollment import repository
from services.enrollment.contributions import (
    ContributionSplit,
    EnrollmentTermsRefused,
    check_enrollment_terms,
    contribution_due,
    is_paid_in_full,
)
from services.enrollment.family import BindingRefused, Party, Relation, check_binding
from services.enrollment.filings import (
    FilingRejected,
    FilingStatus,
    FilingType,
    decide_filing,
    effective_status,
)
from services.enrollment.import_events import ImportEvents
from services.enrollment.imports import (
    ImportFileError,
    ImportKind,
    PreparedPerson,
    Rejection,
    Row,
    parse_person_row,
    prepare_baselines,
    prepare_persons,
    read_rows,
    roster_as_person_row,
    validation_reason,
)
from services.enrollment.lifecycle import (
    Action,
    IllegalTransition,
    NoCoverLeft,
    Status,
    WaitingPolicy,
    coverage_on_payment,
    transition,
)
from services.enrollment.models import Contribution, Enrollment, FamilyBinding, Filing, Person
from services.enrollment.regions import (
    CHILD_LEVEL,
    PREFIX_LENGTH,
    CoverageLine,
    Region,
    RegionTree,
    coverage_rate,
    roll_up,
    unknown_person_regions,
    unknown_region_reason,
)
from services.enrollment.schemas import (
    ContributionCreate,
    ContributionDueOut,
    ContributionIn,
    ContributionOut,
    ContributionPostedOut,
    CoverageLineOut,
    CoverageOut,
    CoverageSnapshotIn,
    CoverageSnapshotOut,
    DeathRequest,
    EnrollmentCreate,
    EnrollmentOut,
    FamilyBind,
    FamilyBindingOut,
    FilingCreate,
    FilingOut,
    FilingRevoke,
    ImportRejectionOut,
    ImportReport,
    PersonCreate,
    PersonOut,
    PersonPage,
    PersonSearch,
    PersonUpdate,
    SuspendRequest,
    TerminateRequest,
    TerminationReason,
    TransferRequest,
    UninsuredOut,
)
from services.enrollment.service import (
    IdSealer,
    InvalidIdNumber,
    ResidentId,
    coverage_year_bounds,
    encrypt_id_number,
    id_encryption_key,
    id_hash,
    parse_id_number,
)
from shared.auth import CurrentPrincipal, Principal, Role, require_role
from shared.bulk import fewer_gc_passes
from shared.business_time import business_today
from shared.db import DbSession
from shared.errors import Conflict, FieldError, Forbidden, NotFound, ProblemError, ServiceUnavailable, Unprocessable
from shared.events.contracts import (
    PERSON_NO_PATTERN,
    ContributionPosted,
    EnrollmentActivated,
    EnrollmentSuspended,
    EnrollmentTerminated,
    FamilyBound,
    FamilyUnbound,
    FilingApproved,
    FilingRevoked,
    PersonDeceased,
    PersonRegistered,
    PersonUpdated,
)
from shared.events.outbox import EncodedEvent, publish, publish_encoded
from shared.schemas import PersonNoPath
from shared.uuids import random_uuids

router = APIRouter(tags=["enrollment"])
SOURCE = "/yibao/enrollment"


def person_out(person: Person) -> PersonOut:
    return PersonOut(
        person_no=person.person_no,
        id_number_masked=person.id_masked,
        name=person.name,
        birth_date=person.birth_date,
        sex=person.sex,
        hukou_region_code=person.hukou_region_code,
        residence_region_code=person.residence_region_code,
        registered_at=person.registered_at,
    )


async def _may_read_person(session: AsyncSession, principal: Principal, person_no: str) -> None:
    """Staff read all; the insured read their own record and their bound family's; hospitals nothing here."""
    if principal.is_staff:
        return
    if principal.role is Role.INSURED and principal.subject == person_no:
        return
    if principal.role is Role.INSURED and await repository.is_bound_relative(session, principal.subject, person_no):
        return  # 家庭共济: the employee sees the relatives their account pays for
    raise Forbidden("You may read only your own record and your bound family's.")


def _may_read_own(principal: Principal, person_no: str) -> None:
    """Contributions, filings and family bindings (docs/api.md): staff and the person only. A bound
    employee (家庭共济) sees a relative's record and enrollments, not what the relative paid or filed."""
    if principal.is_staff:
        return
    if principal.role is Role.INSURED and principal.subject == person_no:
        return
    raise Forbidden("Only staff or the insured person may read this.")


def _resident_id(id_number: str) -> ResidentId:
    try:
        return parse_id_number(id_number)
    except InvalidIdNumber as bad:
        raise Unprocessable(
            f"The resident ID is invalid ({bad.part}): {bad}.",
            kind="invalid-id-number",
            title="Invalid resident ID number",
            errors=[FieldError(field="id_number", message=f"{bad.part}: {bad}")],
            extra={"part": bad.part},  # length | format | region | birth_date | check_digit
        ) from bad


def _check_person_regions(request: Request, hukou: str | None, residence: str | None) -> None:
    """Refuse region codes the region tree does not name (regions.person_code_forms has the rule); the batch
    import rejects such a row with the same words."""
    unknown = unknown_person_regions(request.app.state.regions, hukou, residence)
    if unknown:
        raise Unprocessable(
            " ".join(reason for _, reason in unknown),
            kind="region-not-in-tree",
            title="Unknown region code",
            errors=[FieldError(field=field_name, message=reason) for field_name, reason in unknown],
        )


def _check_region(request: Request, field_name: str, code: str) -> None:
    """An enrollment's (or transfer's) region must be a node of the region tree, by the persons' rule."""
    reason = unknown_region_reason(request.app.state.regions, field_name, code)
    if reason is not None:
        raise Unprocessable(
            reason,
            kind="region-not-in-tree",
            title="Unknown region code",
            errors=[FieldError(field=field_name, message=reason)],
        )


async def _find_registered(session: AsyncSession, request: Request, id_number: str) -> Person | None:
    """The person registered with this resident ID (looked up by its keyed hash), if any."""
    resident = _resident_id(id_number)
    return await repository.person_by_hash(session, id_hash(resident.number, request.app.state.settings.id_hash_key))


def event_region_code(code: str) -> str:
    """Events carry the 12-digit 统计用区划代码 at most: the grid cell (网格) stays inside enrollment."""
    return code[:12]


async def _register(session: AsyncSession, request: Request, body: PersonCreate) -> Person:
    resident = _resident_id(body.id_number)
    _check_person_regions(request, body.hukou_region_code, body.residence_region_code)
    settings = request.app.state.settings
    hashed = id_hash(resident.number, settings.id_hash_key)
    existing = await repository.person_by_hash(session, hashed)
    if existing is not None:
        raise Conflict(
            f"This resident ID is already registered as {existing.person_no}.",
            kind="person-exists",
            extra={"person_no": existing.person_no},
        )
    person = Person(
        person_no=await repository.next_person_no(session),
        id_hash=hashed,
        id_masked=resident.masked,
        id_number_encrypted=encrypt_id_number(resident.number, id_encryption_key(settings.id_encryption_key)),
        name=body.name,
        birth_date=resident.birth_date,
        sex=resident.sex,
        hukou_region_code=body.hukou_region_code,
        residence_region_code=body.residence_region_code,
    )
    try:
        await repository.add(session, person)
    except repository.DuplicateRow as exc:  # a concurrent registration of the same ID won
        winner = await repository.person_by_hash(session, hashed)
        raise Conflict(
            "This resident ID was registered concurrently.",
            kind="person-exists",
            extra={"person_no": winner.person_no if winner else None},
        ) from exc
    await session.refresh(person)
    await publish(
        session,
        PersonRegistered(
            person_no=person.person_no,
            id_number_masked=person.id_masked,
            birth_date=person.birth_date,
            sex=resident.sex,
            hukou_region_code=event_region_code(person.hukou_region_code),
            residence_region_code=event_region_code(person.residence_region_code),
            registered_at=person.registered_at,
        ),
        source=SOURCE,
    )
    return person


@router.post("/persons", status_code=201, response_model=PersonOut)
async def register_person(
    body: PersonCreate, request: Request, response: Response, session: DbSession, principal: CurrentPrincipal
) -> PersonOut:
    require_role(principal, Role.OPS, Role.ADMIN)
    person = await _register(session, request, body)
    response.headers["Location"] = f"/api/v1/enrollment/persons/{person.person_no}"
    return person_out(person)


@router.post("/persons/search", response_model=PersonPage)
async def search_persons(
    body: PersonSearch, request: Request, session: DbSession, principal: CurrentPrincipal
) -> PersonPage:
    """Find persons by resident ID (keyed hash), or by name and hukou region; ops only, cursor-paginated."""
    require_role(principal, Role.OPS, Role.ADMIN)
    if body.id_number is not None:
        found = await _find_registered(session, request, body.id_number)
        return PersonPage(items=[person_out(found)] if found else [], next_cursor=None)
    if body.name is None and body.region_code is None:
        raise Unprocessable("Search by id_number, or by name and/or region_code.", kind="search-criteria-missing")
    rows = await repository.search_persons(
        session, name=body.name, region_prefix=body.region_code, limit=body.limit, after=body.cursor
    )
    return PersonPage(
        items=[person_out(p) for p in rows], next_cursor=rows[-1].person_no if len(rows) == body.limit else None
    )


@router.get("/persons/{person_no}", response_model=PersonOut)
async def get_person(person_no: PersonNoPath, session: DbSession, principal: CurrentPrincipal) -> PersonOut:
    await _may_read_person(session, principal, person_no)
    person = await repository.get_person(session, person_no)
    if person is None:
        raise NotFound(f"No person {person_no}.", kind="person-not-found")
    return person_out(person)


def _policy(request: Request) -> WaitingPolicy:
    settings = request.app.state.settings
    return WaitingPolicy(
        first_or_lapsed_days=settings.first_enrollment_waiting_days, newborn_grace_days=settings.newborn_grace_days
    )


def _due(row: Enrollment) -> ContributionSplit:
    return contribution_due(
        scheme=row.scheme,
        contribution_base=row.contribution_base,
        assistance_category=row.assistance_category,
        retiree=row.retiree,
    )


def enrollment_out(row: Enrollment) -> EnrollmentOut:
    out = EnrollmentOut.model_validate(row, from_attributes=True)
    due = _due(row)
    out.contribution_due = ContributionDueOut(
        individual=due.individual,
        employer=due.employer,
        subsidy=due.subsidy,
        assistance=due.assistance,
        personal_account_credit=due.personal_account_credit,
    )
    return out


async def _living_person(session: AsyncSession, person_no: str) -> Person:
    """The person, locked for this write (see repository.lock_person), refusing the deceased."""
    person = await repository.lock_person(session, person_no)
    if person is None:
        raise NotFound(f"No person {person_no}.", kind="person-not-found")
    if person.died_on is not None:
        raise Conflict(f"{person_no} died on {person.died_on.isoformat()}.", kind="person-deceased")
    return person


def _apply(row: Enrollment, action: Action) -> Status:
    try:
        return transition(row.status, action)
    except IllegalTransition as bad:
        raise Conflict(
            f"Enrollment {row.id} is {row.status}: {bad}.",
            kind="illegal-transition",
            extra={"enrollment_id": str(row.id), "status": row.status},
        ) from bad


async def _activate(
    session: AsyncSession, row: Enrollment, person: Person, paid_on: date, policy: WaitingPolicy
) -> None:
    """pending|suspended → active; a first payment fixes when coverage starts."""
    was = Status(row.status)
    row.status = _apply(row, Action.PAY).value
    if was is Status.PENDING:
        continuous = await repository.has_paid_enrollment(session, row.person_no, years=(row.year - 1, row.year))
        try:
            cover = coverage_on_payment(
                year=row.year,
                paid_on=paid_on,
                birth_date=person.birth_date,
                enrolled_on=row.created_at.date() if row.created_at else paid_on,
                continuous=continuous,
                policy=policy,
                starts_on=row.effective_from,
            )
        except NoCoverLeft as late:
            raise Unprocessable(
                f"No cover is left in {row.year}: {late}. Enroll for {row.year + 1}.", kind="no-cover-left"
            ) from late
        row.effective_from, row.effective_to, row.coverage_reason = (
            cover.effective_from,
            cover.effective_to,
            cover.reason,
        )
    row.suspended_from = None
    row.activated_at = datetime.now(UTC)
    await repository.flush(session)
    await publish(
        session,
        EnrollmentActivated(
            enrollment_id=row.id,
            person_no=row.person_no,
            scheme=row.scheme,
            year=row.year,
            region_code=row.region_code,
            effective_from=row.effective_from,
            effective_to=row.effective_to,
            employer_code=row.employer_code,
            retiree=row.retiree,
            assistance_category=row.assistance_category,
        ),
        source=SOURCE,
    )


async def _post_contribution(
    session: AsyncSession, row: Enrollment, person: Person, paid: ContributionIn, policy: WaitingPolicy
) -> Contribution:
    """Record a payment (what is still due where an amount is omitted); activate when the year is paid in full."""
    if row.status not in (Status.PENDING, Status.ACTIVE, Status.SUSPENDED):
        raise Conflict(f"Enrollment {row.id} is {row.status}; it takes no contributions.", kind="illegal-transition")
    due = _due(row)
    individual_paid, employer_paid, subsidy_paid = await repository.paid_so_far(session, row.id)
    zero = Decimal("0.00")
    individual = paid.individual if paid.individual is not None else max(zero, due.individual - individual_paid)
    employer = paid.employer if paid.employer is not None else max(zero, due.employer - employer_paid)
    subsidy = paid.subsidy if paid.subsidy is not None else max(zero, due.subsidy - subsidy_paid)
    today = business_today()
    if paid.paid_on is not None and paid.paid_on > today:
        # A payment is recorded once received: a future day would also move the waiting period (等待期).
        raise Unprocessable(
            f"paid_on {paid.paid_on.isoformat()} is in the future (today is {today.isoformat()}).",
            kind="payment-date",
            errors=[FieldError(field="paid_on", message="after today")],
        )
    paid_on = paid.paid_on or today
    account_credit = min(individual, max(zero, due.personal_account_credit - min(individual_paid, due.individual)))
    contribution = Contribution(
        id=uuid.uuid4(),
        enrollment_id=row.id,
        person_no=row.person_no,
        year=row.year,
        individual=individual,
        employer=employer,
        subsidy=subsidy,
        personal_account_credit=account_credit,
        paid_on=paid_on,
        posted_at=datetime.now(UTC),
    )
    await repository.add(session, contribution)
    await publish(
        session,
        ContributionPosted(
            contribution_id=contribution.id,
            enrollment_id=row.id,
            person_no=row.person_no,
            scheme=row.scheme,
            year=row.year,
            individual=individual,
            employer=employer,
            subsidy=subsidy,
            personal_account_credit=account_credit,
            posted_at=contribution.posted_at,
        ),
        source=SOURCE,
    )
    if row.status != Status.ACTIVE and is_paid_in_full(
        due, individual_paid=individual_paid + individual, employer_paid=employer_paid + employer
    ):
        await _activate(session, row, person, paid_on, policy)
    return contribution


@router.post("/persons/{person_no}/enrollments", status_code=201, response_model=EnrollmentOut)
async def enroll(
    person_no: PersonNoPath,
    body: EnrollmentCreate,
    request: Request,
    session: DbSession,
    principal: CurrentPrincipal,
) -> EnrollmentOut:
    """Enroll a person in a scheme for a year: pending until paid; with `contribution` it activates at once."""
    require_role(principal, Role.OPS, Role.ADMIN)
    return enrollment_out(await _enroll(session, request, person_no, body))


async def _enroll(session: AsyncSession, request: Request, person_no: str, body: EnrollmentCreate) -> Enrollment:
    _check_region(request, "region_code", body.region_code)
    person = await _living_person(session, person_no)
    try:
        check_enrollment_terms(
            scheme=body.scheme,
            employer_code=body.employer_code,
            contribution_base=body.contribution_base,
            retiree=body.retiree,
            assistance_category=body.assistance_category,
        )
    except EnrollmentTermsRefused as bad:
        errors = (
            [FieldError(field="employer_code", message="required for the employee scheme")]
            if bad.kind == "employer-required"
            else None
        )
        raise Unprocessable(str(bad), kind=bad.kind, errors=errors) from bad
    starts, ends = coverage_year_bounds(body.year)
    if body.starts_on is not None:
        if not starts <= body.starts_on <= ends:
            raise Unprocessable(
                f"starts_on must lie within {body.year}.",
                kind="starts-outside-year",
                errors=[FieldError(field="starts_on", message=f"not in {body.year}")],
            )
        starts = body.starts_on
    else:
        ended = await repository.last_terminated_on(session, person_no, body.year)
        if ended is not None and ended >= ends:
            # Starting on 1 January would cover again the days the terminated enrollment covered (重复参保).
            raise Unprocessable(
                f"{person_no}'s enrollment of {body.year} ran to {ended.isoformat()}: no day of {body.year} is left "
                f"to cover. Enroll for {body.year + 1}.",
                kind="no-cover-left",
            )
        if ended is not None:
            starts = max(starts, ended + timedelta(days=1))
    row = Enrollment(
        id=uuid.uuid4(),
        person_no=person_no,
        scheme=body.scheme,
        year=body.year,
        region_code=body.region_code,
        status=Status.PENDING.value,
        effective_from=starts,
        effective_to=ends,
        employer_code=body.employer_code,
        contribution_base=body.contribution_base,
        retiree=body.retiree,
        assistance_category=body.assistance_category.value if body.assistance_category else None,
        created_at=datetime.now(UTC),
    )
    try:
        await repository.add(session, row)
    except repository.DuplicateRow as exc:  # the one-live-enrollment key: another live enrollment holds the year
        holder = await repository.overlapping_live_enrollment(session, person_no, starts, ends)
        raise Conflict(
            f"{person_no} already holds a live basic enrollment in {body.year}"
            + (f": {holder.id} ({holder.scheme}, {holder.status})." if holder else "."),
            kind="already-enrolled",
            extra={"enrollment_id": str(holder.id) if holder else None},
        ) from exc
    if body.contribution is not None:
        await _post_contribution(session, row, person, body.contribution, _policy(request))
    return row


@router.post("/persons/{person_no}/contributions", status_code=201, response_model=ContributionPostedOut)
async def post_contribution(
    person_no: PersonNoPath,
    body: ContributionCreate,
    request: Request,
    session: DbSession,
    principal: CurrentPrincipal,
) -> ContributionPostedOut:
    """Post a year's contribution (individual, employer, subsidy); paying in full activates the enrollment."""
    require_role(principal, Role.OPS, Role.ADMIN)
    person = await _living_person(session, person_no)
    row = await repository.live_enrollment_for_year(session, person_no, body.year)
    if row is None:
        raise NotFound(f"{person_no} has no live enrollment for {body.year}.", kind="enrollment-not-found")
    contribution = await _post_contribution(session, row, person, body, _policy(request))
    return ContributionPostedOut(
        contribution=ContributionOut.model_validate(contribution, from_attributes=True),
        enrollment=enrollment_out(row),
    )


@router.get("/persons/{person_no}/contributions", response_model=list[ContributionOut])
async def list_contributions(
    person_no: PersonNoPath, session: DbSession, principal: CurrentPrincipal
) -> list[ContributionOut]:
    _may_read_own(principal, person_no)
    return [
        ContributionOut.model_validate(c, from_attributes=True)
        for c in await repository.contributions_of(session, person_no)
    ]


async def _locked_enrollment(session: AsyncSession, person_no: str, enrollment_id: uuid.UUID) -> Enrollment:
    await repository.lock_person(session, person_no)  # same lock order as every other write: person, then enrollment
    row = await repository.enrollment_locked(session, person_no, enrollment_id)
    if row is None:
        raise NotFound(f"{person_no} has no enrollment {enrollment_id}.", kind="enrollment-not-found")
    return row


@router.post("/persons/{person_no}/enrollments/{enrollment_id}/suspend", response_model=EnrollmentOut)
async def suspend(
    person_no: PersonNoPath,
    enrollment_id: uuid.UUID,
    body: SuspendRequest,
    session: DbSession,
    principal: CurrentPrincipal,
) -> EnrollmentOut:
    """active → suspended (暂停, e.g. 欠费 arrears); paying the arrears makes it active again."""
    require_role(principal, Role.OPS, Role.ADMIN)
    row = await _locked_enrollment(session, person_no, enrollment_id)
    suspended_from = body.suspended_from or business_today()
    row.status = _apply(row, Action.SUSPEND).value
    if not row.effective_from <= suspended_from <= row.effective_to:
        # Outside the cover a suspension would stop nothing (settlement keeps paying) or date before the cover.
        raise Unprocessable(
            f"suspended_from must lie within the enrollment's cover, {row.effective_from.isoformat()} to "
            f"{row.effective_to.isoformat()}.",
            kind="suspension-date",
            errors=[FieldError(field="suspended_from", message="outside the enrollment's cover")],
        )
    row.suspended_from = suspended_from
    row.status_reason = body.reason
    await repository.flush(session)
    await publish(
        session,
        EnrollmentSuspended(
            enrollment_id=row.id,
            person_no=person_no,
            scheme=row.scheme,
            suspended_from=row.suspended_from,
            reason=body.reason,
        ),
        source=SOURCE,
    )
    return enrollment_out(row)


async def _terminate(session: AsyncSession, row: Enrollment, terminated_on: date, reason: TerminationReason) -> None:
    row.status = _apply(row, Action.TERMINATE).value
    row.terminated_on = terminated_on
    row.status_reason = reason
    # Cover ends on the termination day; a termination before cover began leaves no covered day.
    row.effective_to = max(row.effective_from, min(row.effective_to, terminated_on))
    await repository.flush(session)
    await publish(
        session,
        EnrollmentTerminated(
            enrollment_id=row.id,
            person_no=row.person_no,
            scheme=row.scheme,
            terminated_on=terminated_on,
            reason=reason,
        ),
        source=SOURCE,
    )


@router.post("/persons/{person_no}/enrollments/{enrollment_id}/terminate", response_model=EnrollmentOut)
async def terminate(
    person_no: PersonNoPath,
    enrollment_id: uuid.UUID,
    body: TerminateRequest,
    session: DbSession,
    principal: CurrentPrincipal,
) -> EnrollmentOut:
    """pending|active|suspended → terminated (death, emigration, scheme switch, transfer)."""
    require_role(principal, Role.OPS, Role.ADMIN)
    row = await _locked_enrollment(session, person_no, enrollment_id)
    await _terminate(session, row, body.terminated_on or business_today(), body.reason)
    return enrollment_out(row)


@router.post("/persons/{person_no}/enrollments/{enrollment_id}/transfer", status_code=201, response_model=EnrollmentOut)
async def transfer(
    person_no: PersonNoPath,
    enrollment_id: uuid.UUID,
    body: TransferRequest,
    request: Request,
    session: DbSession,
    principal: CurrentPrincipal,
) -> EnrollmentOut:
    """关系转移接续: the active enrollment ends the day before `transfer_on` (reason transfer) and a new one in
    `to_region_code` covers from `transfer_on` to the end of the year, active at once: the year is paid and the
    cover continuous, so no waiting period."""
    require_role(principal, Role.OPS, Role.ADMIN)
    _check_region(request, "to_region_code", body.to_region_code)
    row = await _locked_enrollment(session, person_no, enrollment_id)
    if row.status != Status.ACTIVE:
        raise Conflict(
            f"Only an active enrollment can be transferred; {row.id} is {row.status}.", kind="illegal-transition"
        )
    if body.to_region_code == row.region_code:
        raise Unprocessable("The enrollment is already in that region.", kind="same-region")
    starts = body.transfer_on or business_today() + timedelta(days=1)
    if not row.effective_from < starts <= row.effective_to:
        raise Unprocessable(
            f"transfer_on must lie after {row.effective_from.isoformat()} and by {row.effective_to.isoformat()}.",
            kind="transfer-date",
            errors=[FieldError(field="transfer_on", message="outside the enrollment's cover")],
        )
    ends = row.effective_to
    await _terminate(session, row, starts - timedelta(days=1), "transfer")
    moved = Enrollment(
        id=uuid.uuid4(),
        person_no=person_no,
        scheme=row.scheme,
        year=row.year,
        region_code=body.to_region_code,
        status=Status.ACTIVE.value,
        effective_from=starts,
        effective_to=ends,
        employer_code=row.employer_code,
        contribution_base=row.contribution_base,
        retiree=row.retiree,
        assistance_category=row.assistance_category,
        coverage_reason=f"transferred from {row.region_code} (关系转移接续), continuous",
        created_at=datetime.now(UTC),
        activated_at=datetime.now(UTC),
    )
    try:
        await repository.add(session, moved)
    except repository.DuplicateRow as exc:  # another live enrollment holds those dates
        raise Conflict(
            f"{person_no} already holds a live enrollment after the transfer date.", kind="already-enrolled"
        ) from exc
    await publish(
        session,
        EnrollmentActivated(
            enrollment_id=moved.id,
            person_no=person_no,
            scheme=moved.scheme,
            year=moved.year,
            region_code=moved.region_code,
            effective_from=moved.effective_from,
            effective_to=moved.effective_to,
            employer_code=moved.employer_code,
            retiree=moved.retiree,
            assistance_category=moved.assistance_category,
        ),
        source=SOURCE,
    )
    return enrollment_out(moved)


@router.patch("/persons/{person_no}", response_model=PersonOut)
async def update_person(
    person_no: PersonNoPath, body: PersonUpdate, request: Request, session: DbSession, principal: CurrentPrincipal
) -> PersonOut:
    """Change the name or regions (迁移户籍, 变更常住地); person.updated when a region changed."""
    require_role(principal, Role.OPS, Role.ADMIN)
    _check_person_regions(request, body.hukou_region_code, body.residence_region_code)
    person = await _living_person(session, person_no)
    regions_before = (person.hukou_region_code, person.residence_region_code)
    if body.name is not None:
        person.name = body.name
    if body.hukou_region_code is not None:
        person.hukou_region_code = body.hukou_region_code
    if body.residence_region_code is not None:
        person.residence_region_code = body.residence_region_code
    await repository.flush(session)
    if (person.hukou_region_code, person.residence_region_code) != regions_before:
        await publish(
            session,
            PersonUpdated(
                person_no=person_no,
                hukou_region_code=event_region_code(person.hukou_region_code),
                residence_region_code=event_region_code(person.residence_region_code),
                updated_at=datetime.now(UTC),
            ),
            source=SOURCE,
        )
    return person_out(person)


@router.post("/persons/{person_no}/death", response_model=PersonOut)
async def record_death(
    person_no: PersonNoPath, body: DeathRequest, session: DbSession, principal: CurrentPrincipal
) -> PersonOut:
    """Record a death: every live enrollment terminates on that day; person.deceased is published."""
    require_role(principal, Role.OPS, Role.ADMIN)
    return person_out(await _record_death(session, person_no, body.died_on))


async def _record_death(session: AsyncSession, person_no: str, died_on: date) -> Person:
    person = await _living_person(session, person_no)
    if died_on > business_today() or died_on < person.birth_date:
        raise Unprocessable("The date of death must lie between birth and today.", kind="invalid-date-of-death")
    person.died_on = died_on
    for row in await repository.live_enrollments_of(session, person_no):
        await _terminate(session, row, died_on, "death")
    # 家庭共济 binds two living persons: a death ends the bindings either way, so a deceased
    # employee's personal account pays for no relative (settlement obeys family.unbound).
    for binding in await repository.current_bindings_involving(session, person_no):
        await _unbind(session, binding, max(binding.bound_on, died_on))
    await publish(
        session,
        PersonDeceased(person_no=person_no, died_on=died_on, recorded_at=datetime.now(UTC)),
        source=SOURCE,
    )
    return person


@router.get("/persons/{person_no}/enrollments", response_model=list[EnrollmentOut])
async def list_enrollments(
    person_no: PersonNoPath, session: DbSession, principal: CurrentPrincipal
) -> list[EnrollmentOut]:
    await _may_read_person(session, principal, person_no)
    if await repository.get_person(session, person_no) is None:
        raise NotFound(f"No person {person_no}.", kind="person-not-found")
    return [enrollment_out(r) for r in await repository.enrollments_of(session, person_no)]


# --- 异地就医备案 cross-region filings ---


def _may_act_for(principal: Principal, person_no: str) -> None:
    """Writes a person may make for themselves (file, bind family): ops, or the insured person."""
    if principal.role in (Role.OPS, Role.ADMIN):
        return
    if principal.role is Role.INSURED and principal.subject == person_no:
        return
    raise Forbidden("Only operations staff or the insured person may do this.")


def filing_out(row: Filing) -> FilingOut:
    out = FilingOut.model_validate(row, from_attributes=True)
    out.status = effective_status(row.status, row.valid_to, business_today()).value
    return out


async def _publish_filing_approved(session: AsyncSession, row: Filing) -> None:
    await publish(
        session,
        FilingApproved(
            filing_id=row.id,
            person_no=row.person_no,
            filing_type=FilingType(row.filing_type).value,
            home_region_code=row.home_region_code,
            destination_region_code=row.destination_region_code,
            valid_from=row.valid_from,
            valid_to=row.valid_to,
            approved_at=row.approved_at or datetime.now(UTC),
        ),
        source=SOURCE,
    )


@router.post("/persons/{person_no}/filings", status_code=201, response_model=FilingOut)
async def file_cross_region(
    person_no: PersonNoPath, body: FilingCreate, session: DbSession, principal: CurrentPrincipal
) -> FilingOut:
    """File for care in another region; approved at once where the rules allow, otherwise pending review."""
    _may_act_for(principal, person_no)
    person = await _living_person(session, person_no)
    today = business_today()
    schemes = await repository.active_schemes(session, person_no, max(today, body.valid_from))
    live = await repository.live_enrollments_of(session, person_no)
    home = live[-1].region_code if live else person.hukou_region_code
    try:
        decision = decide_filing(
            filing_type=body.filing_type,
            home_region_code=home,
            destination_region_code=body.destination_region_code,
            valid_from=body.valid_from,
            valid_to=body.valid_to,
            today=today,
            insured=bool(schemes),
            retiree=await repository.is_retiree(session, person_no, today),
            commitment=body.commitment,
        )
    except FilingRejected as bad:
        raise Unprocessable(
            f"The filing cannot be accepted: {bad}.",
            kind="filing-rejected",
            errors=[FieldError(field=bad.field, message=str(bad))],
        ) from bad
    row = Filing(
        id=uuid.uuid4(),
        person_no=person_no,
        filing_type=body.filing_type.value,
        home_region_code=home,
        destination_region_code=body.destination_region_code,
        valid_from=body.valid_from,
        valid_to=body.valid_to,
        status=decision.status.value,
        decision_reason=decision.reason,
        filed_at=datetime.now(UTC),
        approved_at=datetime.now(UTC) if decision.status is FilingStatus.APPROVED else None,
    )
    await repository.add(session, row)
    if decision.status is FilingStatus.APPROVED:
        await _publish_filing_approved(session, row)
    return filing_out(row)


@router.get("/persons/{person_no}/filings", response_model=list[FilingOut])
async def list_filings(person_no: PersonNoPath, session: DbSession, principal: CurrentPrincipal) -> list[FilingOut]:
    _may_read_own(principal, person_no)
    return [filing_out(f) for f in await repository.filings_of(session, person_no)]


async def _locked_filing(session: AsyncSession, person_no: str, filing_id: uuid.UUID) -> Filing:
    row = await repository.filing_locked(session, person_no, filing_id)
    if row is None:
        raise NotFound(f"{person_no} has no filing {filing_id}.", kind="filing-not-found")
    return row


@router.post("/persons/{person_no}/filings/{filing_id}/approve", response_model=FilingOut)
async def approve_filing(
    person_no: PersonNoPath, filing_id: uuid.UUID, session: DbSession, principal: CurrentPrincipal
) -> FilingOut:
    """Ops approve a filing that needed review (审核通过)."""
    require_role(principal, Role.OPS, Role.ADMIN)
    row = await _locked_filing(session, person_no, filing_id)
    if row.status != FilingStatus.PENDING_REVIEW:
        raise Conflict(f"Filing {filing_id} is {row.status}, not pending review.", kind="illegal-transition")
    if row.valid_to < business_today():
        raise Conflict(
            f"Filing {filing_id} ran out on {row.valid_to.isoformat()} before review.", kind="filing-expired"
        )
    row.status = FilingStatus.APPROVED.value
    row.approved_at = datetime.now(UTC)
    row.decision_reason = f"approved by {principal.subject}"
    await repository.flush(session)
    await _publish_filing_approved(session, row)
    return filing_out(row)


@router.post("/persons/{person_no}/filings/{filing_id}/revoke", response_model=FilingOut)
async def revoke_filing(
    person_no: PersonNoPath, filing_id: uuid.UUID, body: FilingRevoke, session: DbSession, principal: CurrentPrincipal
) -> FilingOut:
    """Revoke (撤销备案): care there is unfiled again from today. An expired filing needs no revoking."""
    _may_act_for(principal, person_no)
    row = await _locked_filing(session, person_no, filing_id)
    today = business_today()
    current = effective_status(row.status, row.valid_to, today)
    if current in (FilingStatus.REVOKED, FilingStatus.EXPIRED):
        raise Conflict(f"Filing {filing_id} is already {current.value}.", kind="illegal-transition")
    was_approved = current is FilingStatus.APPROVED
    row.status = FilingStatus.REVOKED.value
    row.revoked_on = today
    row.revoke_reason = body.reason
    await repository.flush(session)
    if was_approved:  # a filing never approved was never announced
        await publish(
            session,
            FilingRevoked(filing_id=row.id, person_no=person_no, revoked_on=today, reason=body.reason),
            source=SOURCE,
        )
    return filing_out(row)


# --- 家庭共济 family mutual aid ---


async def _party(session: AsyncSession, person: Person, today: date) -> Party:
    return Party(
        person_no=person.person_no,
        birth_date=person.birth_date,
        alive=person.died_on is None,
        active_schemes=await repository.active_schemes(session, person.person_no, today),
    )


@router.post("/persons/{person_no}/family", status_code=201, response_model=FamilyBindingOut)
async def bind_relative(
    person_no: PersonNoPath, body: FamilyBind, session: DbSession, principal: CurrentPrincipal
) -> FamilyBindingOut:
    """An employee binds a close relative: the personal account may then pay for them (family.bound)."""
    _may_act_for(principal, person_no)
    holder = await repository.lock_person(session, person_no)  # serialises the count check per employee
    if holder is None:
        raise NotFound(f"No person {person_no}.", kind="person-not-found")
    relative = await repository.get_person(session, body.relative_person_no)
    if relative is None:
        raise NotFound(f"No person {body.relative_person_no}.", kind="person-not-found")
    today = business_today()
    current = await repository.current_bindings(session, person_no)
    try:
        check_binding(
            holder=await _party(session, holder, today),
            relative=await _party(session, relative, today),
            relation=body.relation,
            bound_relatives={b.relative_person_no: Relation(b.relation) for b in current},
        )
    except BindingRefused as refused:
        problem = Conflict if refused.conflict else Unprocessable
        raise problem(f"The relative cannot be bound: {refused}.", kind=refused.kind) from refused
    row = FamilyBinding(
        id=uuid.uuid4(),
        person_no=person_no,
        relative_person_no=relative.person_no,
        relation=body.relation.value,
        bound_on=today,
    )
    try:
        await repository.add(session, row)
    except repository.DuplicateRow as exc:
        raise Conflict("This relative is already bound.", kind="already-bound") from exc
    await publish(
        session,
        FamilyBound(
            binding_id=row.id,
            person_no=person_no,
            relative_person_no=relative.person_no,
            relation=body.relation.value,
            bound_on=today,
        ),
        source=SOURCE,
    )
    return FamilyBindingOut.model_validate(row, from_attributes=True)


@router.get("/persons/{person_no}/family", response_model=list[FamilyBindingOut])
async def list_family(
    person_no: PersonNoPath, session: DbSession, principal: CurrentPrincipal
) -> list[FamilyBindingOut]:
    _may_read_own(principal, person_no)
    return [
        FamilyBindingOut.model_validate(b, from_attributes=True)
        for b in await repository.bindings_of(session, person_no)
    ]


@router.post("/persons/{person_no}/family/{binding_id}/unbind", response_model=FamilyBindingOut)
async def unbind_relative(
    person_no: PersonNoPath, binding_id: uuid.UUID, session: DbSession, principal: CurrentPrincipal
) -> FamilyBindingOut:
    """End a binding (family.unbound): the personal account no longer pays for this relative."""
    _may_act_for(principal, person_no)
    await repository.lock_person(session, person_no)
    row = await repository.binding_locked(session, person_no, binding_id)
    if row is None:
        raise NotFound(f"{person_no} has no family binding {binding_id}.", kind="binding-not-found")
    if row.unbound_on is not None:
        raise Conflict(f"Binding {binding_id} ended on {row.unbound_on.isoformat()}.", kind="already-unbound")
    await _unbind(session, row, business_today())
    return FamilyBindingOut.model_validate(row, from_attributes=True)


async def _unbind(session: AsyncSession, row: FamilyBinding, unbound_on: date) -> None:
    row.unbound_on = unbound_on
    await repository.flush(session)
    await publish(
        session,
        FamilyUnbound(
            binding_id=row.id, person_no=row.person_no, relative_person_no=row.relative_person_no, unbound_on=unbound_on
        ),
        source=SOURCE,
    )


# --- coverage by region (户籍人口参保率) ---


def _region(request: Request, code: str) -> Region:
    tree: RegionTree = request.app.state.regions
    region = tree.get(code)
    if region is None:
        raise NotFound(f"No region {code} in the region tree.", kind="region-not-found")
    return region


def _coverage_line(line: CoverageLine, imported: dict[str, int]) -> CoverageLineOut:
    baseline = line.region.baseline(imported)
    return CoverageLineOut(
        code=line.region.code,
        name=line.region.name,
        level=line.region.level.value,
        hukou_baseline=baseline,
        insured=line.insured,
        coverage_rate=coverage_rate(line.insured, baseline),
        insured_by_scheme={scheme: line.insured_by_scheme.get(scheme, 0) for scheme in ("employee", "resident")},
        rate_by_scheme={
            scheme: coverage_rate(line.insured_by_scheme.get(scheme, 0), baseline)
            for scheme in ("employee", "resident")
        },
    )


@router.get("/stats/coverage", response_model=CoverageOut)
async def coverage(
    request: Request,
    session: DbSession,
    principal: CurrentPrincipal,
    region: str = Query(pattern=r"^\d{12}(\d{3})?$", description="region code from the region tree"),
    as_of: date | None = Query(default=None, description="coverage on this date; today (live) or the latest snapshot"),
    source: Literal["live", "snapshot"] = Query(
        default="live",
        description="live: count every person now (exact, slow for a whole city); snapshot: read the coverage "
        "snapshot of as_of, or the latest one (POST /stats/coverage/snapshots takes them)",
    ),
) -> CoverageOut:
    """Insured hukou residents, hukou baseline and coverage rate by scheme, for the node and each child."""
    if not principal.is_staff:
        raise Forbidden("Coverage statistics are for staff.")
    node = _region(request, region)
    child_level = CHILD_LEVEL[node.level]
    child_length = PREFIX_LENGTH[child_level] if child_level else PREFIX_LENGTH[node.level]
    taken_at = None
    if source == "snapshot":
        snapshot = await repository.coverage_snapshot(session, as_of, today=business_today())
        if snapshot is None:
            raise NotFound(
                f"No coverage snapshot {'of ' + as_of.isoformat() if as_of else 'of a day up to today has been taken'}; "
                "take one with POST /stats/coverage/snapshots, or ask for source=live.",
                kind="coverage-snapshot-not-found",
            )
        on, taken_at = snapshot.as_of, snapshot.taken_at
        counts = await repository.snapshot_insured_counts(session, on, node.prefix, child_length)
    else:
        on = as_of or business_today()
        limit_s = request.app.state.settings.coverage_live_timeout_s
        try:
            counts = await repository.insured_counts_within(session, node.prefix, child_length, on, limit_s=limit_s)
        except repository.CountTooSlow as exc:
            raise ServiceUnavailable(
                f"Counting everyone under {region} live took longer than {limit_s:g} s. Read the day's coverage "
                "snapshot instead (source=snapshot; ops take one nightly with POST /stats/coverage/snapshots), or ask "
                "for a smaller region.",
                kind="coverage-count-too-slow",
            ) from exc
    line, children = roll_up(node, counts)
    imported = await repository.imported_baselines(session, node.prefix)
    return CoverageOut(
        as_of=on,
        source=source,
        snapshot_taken_at=taken_at,
        region=_coverage_line(line, imported),
        children=[_coverage_line(c, imported) for c in children],
    )


@router.post("/stats/coverage/snapshots", status_code=201, response_model=CoverageSnapshotOut)
async def take_coverage_snapshot(
    body: CoverageSnapshotIn, session: DbSession, principal: CurrentPrincipal
) -> CoverageSnapshotOut:
    """Count the day's insured hukou residents once, by hukou code and scheme, so `GET /stats/coverage
    ?source=snapshot` reads a few thousand rows instead of every person: for a city of millions, run
    it nightly (ops' scheduler). Taking a day again replaces its snapshot."""
    require_role(principal, Role.OPS, Role.ADMIN)
    on = body.as_of or business_today()
    snapshot = await repository.take_coverage_snapshot(session, on)
    (_, insured), *_ = await repository.coverage_snapshots(session, limit=1, on=on)
    return CoverageSnapshotOut(as_of=snapshot.as_of, taken_at=snapshot.taken_at, insured=insured)


@router.get("/stats/coverage/snapshots", response_model=list[CoverageSnapshotOut])
async def list_coverage_snapshots(
    session: DbSession, principal: CurrentPrincipal, limit: int = Query(default=30, ge=1, le=366)
) -> list[CoverageSnapshotOut]:
    """The latest coverage snapshots, newest first."""
    if not principal.is_staff:
        raise Forbidden("Coverage statistics are for staff.")
    return [
        CoverageSnapshotOut(as_of=snapshot.as_of, taken_at=snapshot.taken_at, insured=insured)
        for snapshot, insured in await repository.coverage_snapshots(session, limit=limit)
    ]


@router.get("/stats/uninsured", response_model=list[UninsuredOut])
async def uninsured(
    request: Request,
    session: DbSession,
    principal: CurrentPrincipal,
    region: str = Query(pattern=r"^\d{12}(\d{3})?$"),
    limit: int = Query(default=100, ge=1, le=1000),
    cursor: str | None = Query(default=None, pattern=PERSON_NO_PATTERN, description="the last person_no seen"),
) -> list[UninsuredOut]:
    """Registered hukou residents of a village (or any node) without active cover today: the outreach list. Ops only."""
    require_role(principal, Role.OPS, Role.ADMIN)
    node = _region(request, region)
    rows = await repository.uninsured_under(session, node.prefix, business_today(), limit=limit, after=cursor)
    return [
        UninsuredOut(
            person_no=p.person_no,
            name=p.name,
            id_number_masked=p.id_masked,
            hukou_region_code=p.hukou_region_code,
            birth_date=p.birth_date,
        )
        for p in rows
    ]


# --- batch import (批量导入) ---

IMPORT_CHUNK = 5_000  # rows per set statement; a request is one transaction whatever its size


class _RowRejected(Exception):
    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


async def _import_person_row(
    session: AsyncSession, request: Request, fields: dict[str, str], *, match_employer: bool = False
) -> bool:
    """Register (and, with `scheme`, enroll and pay for) one person by the single-record rules; False when the row
    was already applied. The slow path: rows whose person exists and would change, and a chunk the database refused."""
    try:
        body, enrollment = parse_person_row(fields, today=business_today())
    except (ValidationError, ValueError) as bad:
        raise _RowRejected(validation_reason(bad)) from bad
    changed = False
    person = await _find_registered(session, request, body.id_number)
    if person is None:
        person = await _register(session, request, body)
        changed = True
    if enrollment is not None:
        starts, ends = coverage_year_bounds(enrollment.year)
        holder = await repository.overlapping_live_enrollment(session, person.person_no, starts, ends)
        if (
            holder is not None
            and holder.scheme == enrollment.scheme
            and holder.year == enrollment.year
            and (not match_employer or holder.employer_code == enrollment.employer_code)
        ):
            return changed  # enrolled by an earlier run
        await _enroll(session, request, person.person_no, enrollment)
        changed = True
    return changed


def _sealer(request: Request) -> IdSealer:
    """One per app: the keys' derived state is built once, not per row."""
    state = request.app.state
    sealer: IdSealer | None = getattr(state, "id_sealer", None)
    if sealer is None:
        sealer = state.id_sealer = IdSealer(state.settings.id_hash_key, state.settings.id_encryption_key)
    return sealer


async def _write_new_persons(
    session: AsyncSession, new: list[PreparedPerson], now: datetime, today: date
) -> list[PreparedPerson]:
    """Register, enroll, pay and activate a chunk of new persons in a few statements, with their events as the
    single-record routes publish them (person.registered, contribution.posted, enrollment.activated per person).
    Returns the rows a concurrent import registered first (to be applied one by one)."""
    if not new:
        return []
    # Insert in id_hash order: concurrent imports then take the unique-key locks in one order and never deadlock.
    by_hash = sorted(new, key=lambda p: p.id_hash)
    inserted = await repository.insert_persons(
        session,
        {
            "hashes": [p.id_hash for p in by_hash],
            "masked": [p.id_masked for p in by_hash],
            "encrypted": [p.id_encrypted for p in by_hash],
            "names": [p.name for p in by_hash],
            "births": [p.birth_date for p in by_hash],
            "sexes": [p.sex for p in by_hash],
            "hukou": [p.hukou_region_code for p in by_hash],
            "residence": [p.residence_region_code for p in by_hash],
        },
    )
    late = [p for p in new if p.id_hash not in inserted]
    zero = Decimal("0.00")
    enrollments: list[repository.NewActiveEnrollment] = []
    contributions: list[repository.NewContribution] = []
    # The events as their contracts' JSON, written directly (import_events.py: the same bytes the models dump);
    # every value is already validated (the row) or made by us and the database (numbers, ids, instants).
    write = ImportEvents()
    events: list[EncodedEvent] = []
    ids = iter(random_uuids(2 * sum(1 for p in new if p.enrollment is not None)))  # enrollment, contribution
    for p in new:
        got = inserted.get(p.id_hash)
        if got is None:
            continue
        person_no, registered_at = got
        events.append(
            write.person_registered(
                person_no=person_no,
                id_number_masked=p.id_masked,
                birth_date=p.birth_date,
                sex=p.sex,
                hukou_region_code=event_region_code(p.hukou_region_code),
                residence_region_code=event_region_code(p.residence_region_code),
                registered_at=registered_at,
            )
        )
        wanted = p.enrollment
        if wanted is None:
            continue
        assert wanted.due is not None  # refused rows never reach here
        assert wanted.cover is not None
        due, cover = wanted.due, wanted.cover
        enrollment_id, contribution_id = next(ids), next(ids)
        enrollments.append(
            repository.NewActiveEnrollment(
                enrollment_id, person_no, wanted.scheme, wanted.year, wanted.region_code, Status.ACTIVE.value,
                cover.effective_from, cover.effective_to, now, wanted.employer_code, wanted.contribution_base,
                wanted.assistance_category, False, cover.reason, now,
            )
        )  # fmt: skip
        # Paid in full at once: what is due from each payer, the account credit capped by the individual part.
        account_credit = min(due.individual, max(zero, due.personal_account_credit))
        contributions.append(
            repository.NewContribution(
                contribution_id, enrollment_id, person_no, wanted.year, due.individual, due.employer, due.subsidy,
                account_credit, today, now,
            )
        )  # fmt: skip
        events.append(
            write.contribution_posted(
                contribution_id=contribution_id,
                enrollment_id=enrollment_id,
                person_no=person_no,
                scheme=wanted.scheme,
                year=wanted.year,
                individual=due.individual,
                employer=due.employer,
                subsidy=due.subsidy,
                personal_account_credit=account_credit,
                posted_at=now,
            )
        )
        events.append(
            write.enrollment_activated(
                enrollment_id=enrollment_id,
                person_no=person_no,
                scheme=wanted.scheme,
                year=wanted.year,
                region_code=wanted.region_code,
                effective_from=cover.effective_from,
                effective_to=cover.effective_to,
                employer_code=wanted.employer_code,
                retiree=False,
                assistance_category=wanted.assistance_category,  # as the single route's _activate publishes it
            )
        )
    if enrollments:
        await repository.copy_active_enrollments(session, enrollments)
        await repository.copy_contributions(session, contributions)
    await publish_encoded(session, events, source=SOURCE)
    return late


async def _import_persons(
    session: AsyncSession, request: Request, rows: list[Row], *, match_employer: bool = False
) -> tuple[int, int, list[Rejection]]:
    """(applied, unchanged, rejected) for person rows: new persons set-based a chunk at a time, the rest one by one.

    match_employer (rosters): an enrollment of the year counts as the row's only with the row's employer."""
    now, today = datetime.now(UTC), business_today()
    # Validating, hashing and sealing thousands of IDs is CPU work: off the event loop, so the
    # service keeps answering other requests while a file is prepared.
    prepared, rejected = await asyncio.to_thread(
        prepare_persons,
        rows,
        _sealer(request),
        request.app.state.regions,
        today=today,
        enrolled_on=now.date(),
        policy=_policy(request),
    )
    applied = unchanged = 0
    one_by_one: list[PreparedPerson] = []
    for start in range(0, len(prepared), IMPORT_CHUNK):
        chunk = prepared[start : start + IMPORT_CHUNK]
        known = await repository.person_nos_by_hash(session, [p.id_hash for p in chunk])
        live = await repository.live_enrollment_keys(
            session, sorted({known[p.id_hash] for p in chunk if p.id_hash in known and p.enrollment is not None})
        )
        live_any = {(person_no, scheme, year) for person_no, scheme, year, _ in live}
        new: list[PreparedPerson] = []
        for p in chunk:
            person_no = known.get(p.id_hash)
            if person_no is None:
                if p.enrollment is not None and p.enrollment.refusal is not None:
                    rejected.append(Rejection(p.line, p.enrollment.refusal))  # not registered either: whole or nothing
                else:
                    new.append(p)
            elif p.enrollment is None or (
                (person_no, p.enrollment.scheme, p.enrollment.year, p.enrollment.employer_code) in live
                if match_employer
                else (person_no, p.enrollment.scheme, p.enrollment.year) in live_any
            ):
                unchanged += 1  # applied by an earlier run
            else:
                one_by_one.append(p)  # an existing person's new enrollment: the single-record rules decide
        try:
            async with repository.all_or_nothing(session):
                late = await _write_new_persons(session, new, now, today)
        except repository.SetWriteRefused:
            late = new  # nothing of the chunk stayed; each row again alone, so only the bad ones are rejected
        applied += len(new) - len(late)
        one_by_one.extend(late)
    more_applied, more_unchanged, more_rejected = await _rows_one_by_one(
        session,
        [(p.line, p.fields) for p in sorted(one_by_one, key=lambda p: p.line)],
        lambda fields: _import_person_row(session, request, fields, match_employer=match_employer),
    )
    return applied + more_applied, unchanged + more_unchanged, rejected + more_rejected


async def _rows_one_by_one(
    session: AsyncSession,
    rows: list[tuple[int, dict[str, str]]],
    apply: Callable[[dict[str, str]], Awaitable[bool]],
) -> tuple[int, int, list[Rejection]]:
    """Each row in a savepoint of its own: a rejected row leaves nothing, the others stay.
    Returns (changed, unchanged, rejections with their line and reason)."""
    changed = unchanged = 0
    rejected: list[Rejection] = []
    for line, fields in rows:
        try:
            async with repository.savepoint(session):
                did_change = await apply(fields)
        except _RowRejected as no:
            rejected.append(Rejection(line, no.reason))
            continue
        except ProblemError as problem:
            rejected.append(Rejection(line, problem.detail))
            continue
        if did_change:
            changed += 1
        else:
            unchanged += 1
    return changed, unchanged, rejected


async def _import_death_row(session: AsyncSession, request: Request, fields: dict[str, str]) -> bool:
    try:
        died_on = date.fromisoformat(fields["died_on"])
    except ValueError as bad:
        raise _RowRejected(f"died_on {fields['died_on']!r} is not a date (YYYY-MM-DD)") from bad
    person = await _find_registered(session, request, fields["id_number"])
    if person is None:
        raise _RowRejected("no person is registered with this resident ID")
    if person.died_on == died_on:
        return False  # recorded by an earlier run
    await _record_death(session, person.person_no, died_on)
    return True


@router.post("/imports/{kind}", response_model=ImportReport)
async def batch_import(
    kind: ImportKind,
    request: Request,
    session: DbSession,
    principal: CurrentPrincipal,
    format: Literal["csv", "jsonl"] = Query(default="csv", description="CSV with a header row, or JSON lines"),
) -> ImportReport:
    """Import persons (births, registrations: register, optionally enroll and pay), deaths, employer rosters
    (单位参保花名册) or hukou population baselines (户籍人口基数), from CSV or JSON lines.

    Every row is applied whole or rejected with its reason; rows already applied by an earlier run count as
    unchanged, so re-running a file is harmless. The request is one transaction.
    """
    require_role(principal, Role.OPS, Role.ADMIN)
    with fewer_gc_passes():  # thousands of rows' objects at once (shared/bulk.py)
        try:
            text = (await request.body()).decode("utf-8-sig")
            rows, rejected = read_rows(kind, text, json_lines=format == "jsonl")
        except UnicodeDecodeError as bad:
            raise Unprocessable("The file is not UTF-8 text.", kind="import-file-invalid") from bad
        except ImportFileError as bad:
            raise Unprocessable(f"The file cannot be imported: {bad}.", kind="import-file-invalid") from bad
        unreadable = len(rejected)
        if kind is ImportKind.PERSONS:
            created, unchanged, more = await _import_persons(session, request, rows)
            rejected.extend(more)
        elif kind is ImportKind.ROSTERS:
            as_persons: list[Row] = []
            for row in rows:
                converted = roster_as_person_row(row)
                if isinstance(converted, Rejection):
                    rejected.append(converted)
                else:
                    as_persons.append(converted)
            created, unchanged, more = await _import_persons(session, request, as_persons, match_employer=True)
            rejected.extend(more)
        elif kind is ImportKind.BASELINES:
            tree: RegionTree = request.app.state.regions
            baselines, more = prepare_baselines(rows, tree.by_code)
            stored = await repository.upsert_baselines(session, baselines)
            created, unchanged = len(stored), len(baselines) - len(stored)
            rejected.extend(more)
        else:  # deaths stay one by one: each locks and terminates the person's live enrollments
            created, unchanged, more = await _rows_one_by_one(
                session,
                [(row.line, row.fields) for row in rows],
                lambda fields: _import_death_row(session, request, fields),
            )
            rejected.extend(more)
    rejected.sort(key=lambda r: r.line)
    return ImportReport(
        kind=kind.value,
        rows=len(rows) + unreadable,
        applied=created,
        unchanged=unchanged,
        rejected=[ImportRejectionOut(line=r.line, reason=r.reason) for r in rejected],
    )
