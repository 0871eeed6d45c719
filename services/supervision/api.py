"""Supervision routes: thin; rules in service.py, SQL in repository.py."""

from __future__ import annotations

from typing import Annotated
from uuid import UUID

from fastapi import APIRouter, Query

from services.supervision import repository
from services.supervision.schemas import AuditOut, FlagOut, FlagPage
from shared.auth import CurrentPrincipal, Role, require_role
from shared.db import DbSession
from shared.errors import FieldError, NotFound, Unprocessable

router = APIRouter(tags=["supervision"])
STAFF = (Role.AUDITOR, Role.OPS, Role.ADMIN)


@router.get("/audits/{settlement_id}", response_model=AuditOut)
async def get_audit(settlement_id: UUID, session: DbSession, principal: CurrentPrincipal) -> AuditOut:
    require_role(principal, *STAFF)
    found = await repository.get_audit(session, settlement_id)
    if found is None:
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
