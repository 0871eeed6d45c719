"""Enrollment routes: thin; rules in service.py, SQL in repository.py."""

from __future__ import annotations

import uuid

from fastapi import APIRouter, Request, Response

from services.enrollment import repository
from services.enrollment.models import Enrollment, Person
from services.enrollment.schemas import EnrollmentCreate, EnrollmentOut, PersonCreate, PersonOut
from services.enrollment.service import (
    InvalidIdNumber,
    coverage_year_bounds,
    encrypt_id_number,
    id_encryption_key,
    id_hash,
    parse_id_number,
)
from shared.auth import CurrentPrincipal, Principal, Role, require_role
from shared.db import DbSession
from shared.errors import Conflict, FieldError, Forbidden, NotFound, Unprocessable
from shared.events.contracts import EnrollmentActivated, PersonRegistered
from shared.events.outbox import publish
from shared.schemas import PersonNoPath

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


def enrollment_out(row: Enrollment) -> EnrollmentOut:
    return EnrollmentOut.model_validate(row, from_attributes=True)


def _may_read_person(principal: Principal, person_no: str) -> None:
    if principal.is_staff:
        return
    if principal.role is Role.INSURED and principal.subject == person_no:
        return
    raise Forbidden("You may read only your own record.")


@router.post("/persons", status_code=201, response_model=PersonOut)
async def register_person(
    body: PersonCreate, request: Request, response: Response, session: DbSession, principal: CurrentPrincipal
) -> PersonOut:
    require_role(principal, Role.OPS, Role.ADMIN)
    try:
        resident = parse_id_number(body.id_number)
    except InvalidIdNumber as bad:
        raise Unprocessable(
            f"The resident ID is invalid ({bad.part}): {bad}.",
            kind="invalid-id-number",
            title="Invalid resident ID number",
            errors=[FieldError(field="id_number", message=f"{bad.part}: {bad}")],
            extra={"part": bad.part},  # length | format | region | birth_date | check_digit
        ) from bad
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
            hukou_region_code=person.hukou_region_code,
            residence_region_code=person.residence_region_code,
            registered_at=person.registered_at,
        ),
        source=SOURCE,
    )
    response.headers["Location"] = f"/api/v1/enrollment/persons/{person.person_no}"
    return person_out(person)


@router.get("/persons/{person_no}", response_model=PersonOut)
async def get_person(person_no: PersonNoPath, session: DbSession, principal: CurrentPrincipal) -> PersonOut:
    _may_read_person(principal, person_no)
    person = await repository.get_person(session, person_no)
    if person is None:
        raise NotFound(f"No person {person_no}.", kind="person-not-found")
    return person_out(person)


@router.post("/persons/{person_no}/enrollments", status_code=201, response_model=EnrollmentOut)
async def enroll(
    person_no: PersonNoPath, body: EnrollmentCreate, session: DbSession, principal: CurrentPrincipal
) -> EnrollmentOut:
    """Enroll a person in a scheme for a year. Walking skeleton: active at once (no payment step yet)."""
    require_role(principal, Role.OPS, Role.ADMIN)
    person = await repository.get_person(session, person_no)
    if person is None:
        raise NotFound(f"No person {person_no}.", kind="person-not-found")
    starts, ends = coverage_year_bounds(body.year)
    row = Enrollment(
        id=uuid.uuid4(),
        person_no=person_no,
        scheme=body.scheme,
        year=body.year,
        region_code=body.region_code,
        status="active",
        effective_from=starts,
        effective_to=ends,
    )
    try:
        await repository.add(session, row)
    except repository.DuplicateRow as exc:
        raise Conflict(f"{person_no} is already enrolled for {body.year}.", kind="already-enrolled") from exc
    await publish(
        session,
        EnrollmentActivated(
            enrollment_id=row.id,
            person_no=person_no,
            scheme=body.scheme,
            year=body.year,
            region_code=body.region_code,
            effective_from=starts,
            effective_to=ends,
        ),
        source=SOURCE,
    )
    return enrollment_out(row)


@router.get("/persons/{person_no}/enrollments", response_model=list[EnrollmentOut])
async def list_enrollments(
    person_no: PersonNoPath, session: DbSession, principal: CurrentPrincipal
) -> list[EnrollmentOut]:
    _may_read_person(principal, person_no)
    if await repository.get_person(session, person_no) is None:
        raise NotFound(f"No person {person_no}.", kind="person-not-found")
    return [enrollment_out(r) for r in await repository.enrollments_of(session, person_no)]
