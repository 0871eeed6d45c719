"""Supervision routes: thin; rules in service.py, SQL in repository.py."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated
from uuid import UUID

from fastapi import APIRouter, Path, Query

from services.supervision import repository
from services.supervision.schemas import (
    AuditOut,
    FlagOut,
    FlagPage,
    PointsEntryOut,
    PractitionerOut,
    PrecheckIn,
    PrecheckOut,
    PrecheckWarning,
)
from services.supervision.service import DraftLine, business_date, draft_claim, evaluate
from shared.auth import CurrentPrincipal, Role, require_role
from shared.db import DbSession
from shared.errors import FieldError, Forbidden, NotFound, Unprocessable

router = APIRouter(tags=["supervision"])
STAFF = (Role.AUDITOR, Role.OPS, Role.ADMIN)
PRECHECKERS = (Role.HOSPITAL, Role.OPS, Role.ADMIN)


@router.get("/audits/{settlement_id}", response_model=AuditOut)
async def get_audit(settlement_id: UUID, session: DbSession, principal: CurrentPrincipal) -> AuditOut:
    require_role(principal, *STAFF)
    found = await repository.get_audit(session, settlement_id)
    if found is None or found[0].outcome == "pending":
        raise NotFound(f"Settlement {settlement_id} has not been audited (yet).", kind="audit-not-found")
    audit, flags = found
    return AuditOut(
        settlement_id=audit.settlement_id,
        person_no=audit.person_no,
        institution_code=audit.institution_code,
        practitioner_code=audit.practitioner_code,
        outcome=audit.outcome,
        rules_run=audit.rules_run,
        audited_at=audit.audited_at,
        withdrawn_at=audit.withdrawn_at,
        flags=[FlagOut.model_validate(f) for f in flags],
    )


@router.get("/flags", response_model=FlagPage)
async def list_flags(
    session: DbSession,
    principal: CurrentPrincipal,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
    cursor: str | None = None,
) -> FlagPage:
    require_role(principal, *STAFF)
    try:
        after = UUID(cursor) if cursor else None
    except ValueError as exc:
        raise Unprocessable(
            "The cursor is not one this API returned.", errors=[FieldError(field="cursor", message="invalid")]
        ) from exc
    rows = await repository.list_flags(session, after=after, limit=limit + 1)
    page = rows[:limit]
    return FlagPage(
        items=[FlagOut.model_validate(f) for f in page],
        next_cursor=str(page[-1].id) if len(rows) > limit else None,
    )


@router.post("/prechecks", response_model=PrecheckOut)
async def precheck(body: PrecheckIn, session: DbSession, principal: CurrentPrincipal) -> PrecheckOut:
    """事前提醒: the warnings the pre-stage rules give a draft order, against the person's history."""
    require_role(principal, *PRECHECKERS)
    if principal.role is Role.HOSPITAL and principal.institution_code != body.institution_code:
        raise Forbidden(
            f"A hospital token may only check orders of its own institution ({principal.institution_code}).",
            kind="institution-mismatch",
        )
    discharged_on = body.discharged_on or body.visit_date
    if discharged_on < body.visit_date:
        raise Unprocessable(
            "discharged_on is before visit_date.",
            kind="invalid-dates",
            errors=[FieldError(field="discharged_on", message="must be on or after visit_date")],
        )
    profile = await repository.institution_profile(session, body.institution_code)
    claim = draft_claim(
        person_no=body.person_no,
        practitioner_code=body.practitioner_code,
        institution_code=body.institution_code,
        visit_type=body.visit_type,
        admitted_on=body.visit_date,
        discharged_on=discharged_on,
        diagnoses=body.diagnoses,
        lines=[
            DraftLine(line.item_code, line.quantity, line.unit_price, tuple(line.traceability_codes))
            for line in body.lines
        ],
        institution_level=None if profile is None else profile.institution_level,
        institution_type=None if profile is None else profile.institution_type,
        region_code=None if profile is None else profile.region_code,
        scheme=body.scheme,
        now=datetime.now(UTC),
    )
    rules = await repository.active_rules(session)
    history = await repository.load_history(session, claim, rules)
    findings = evaluate(claim, history, rules, "pre", body.visit_date)
    return PrecheckOut(
        warnings=[
            PrecheckWarning(
                rule_id=f.rule_id,
                rule_version=f.rule_version,
                severity=f.severity,
                line_no=f.line_no,
                amount_at_stake=f.amount_at_stake,
                message=f.message,
            )
            for f in findings
        ],
        rules_run=sum(1 for rule in rules if rule.applies(claim, "pre", body.visit_date)),
        refused=any(f.severity == "refuse" for f in findings),
    )


@router.get("/practitioners/{practitioner_code}", response_model=PractitionerOut)
async def get_practitioner(
    practitioner_code: Annotated[str, Path(min_length=1, max_length=30)],
    session: DbSession,
    principal: CurrentPrincipal,
) -> PractitionerOut:
    """医保医师记分: this year's points, thresholds reached and status. A doctor never scored has zero."""
    require_role(principal, *STAFF)
    this_year = business_date(datetime.now(UTC)).year
    row = await repository.get_practitioner(session, practitioner_code)
    recent = await repository.recent_points(session, practitioner_code, limit=50)
    if row is None:
        return PractitionerOut(
            practitioner_code=practitioner_code,
            institution_code=None,
            year=this_year,
            points=0,
            reached=[],
            status="active",
            suspended_from=None,
            recent_points=[],
        )
    current = row.year >= this_year  # a tally from an earlier year has been reset to zero
    return PractitionerOut(
        practitioner_code=row.practitioner_code,
        institution_code=row.institution_code,
        year=max(row.year, this_year),
        points=row.points if current else 0,
        reached=list(row.reached) if current else [],
        status=row.status,
        suspended_from=row.suspended_from,
        recent_points=[PointsEntryOut.model_validate(entry) for entry in recent],
    )
