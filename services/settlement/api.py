"""Settlement routes: thin; rules in service.py, SQL in repository.py."""

from __future__ import annotations

import json
from typing import Annotated
from uuid import UUID

from fastapi import APIRouter, Header, Response
from uuid6 import uuid7

from services.settlement import repository
from services.settlement.models import Settlement
from services.settlement.schemas import SettlementCreate, SettlementOut
from services.settlement.service import SKELETON_RATIOS, LineInput, covering, price_lines, skeleton_breakdown
from shared import idempotency
from shared.auth import CurrentPrincipal, Role, require_role
from shared.db import DbSession
from shared.errors import Forbidden, NotFound, Unprocessable
from shared.events.contracts import ClaimLine, ClaimSettled, SettlementBreakdown
from shared.events.outbox import publish

router = APIRouter(tags=["settlement"])
SOURCE = "/yibao/settlement"
BREAKDOWN_FIELDS = tuple(SettlementBreakdown.model_fields)


def settlement_out(row: Settlement) -> SettlementOut:
    breakdown = SettlementBreakdown(**{f: getattr(row, f) for f in BREAKDOWN_FIELDS})
    ratio = SKELETON_RATIOS[(row.scheme, row.visit_type)]
    return SettlementOut(
        settlement_id=row.id,
        institution_code=row.institution_code,
        person_no=row.person_no,
        scheme=row.scheme,
        visit_type=row.visit_type,
        admitted_on=row.admitted_on,
        discharged_on=row.discharged_on,
        practitioner_code=row.practitioner_code,
        diagnoses=row.diagnoses,
        lines=[ClaimLine.model_validate(line) for line in row.lines],
        breakdown=breakdown,
        explanation=[
            "inscp_scp_amt: every line in scope (walking-skeleton policy, no catalogue yet)",
            f"hifp_pay: inscp_scp_amt × {ratio} ({row.scheme}, {row.visit_type}), half-up to the fen",
            "psn_cash_pay: medfee_sumamt − fund_pay_sumamt",
        ],
        status=row.status,
        settled_at=row.settled_at,
    )


def _location(settlement_id: str) -> dict[str, str]:
    return {"Location": f"/api/v1/settlement/settlements/{settlement_id}"}


@router.post("/settlements", status_code=201, response_model=SettlementOut)
async def create_settlement(
    body: SettlementCreate,
    session: DbSession,
    principal: CurrentPrincipal,
    idempotency_key: Annotated[str | None, Header(alias="Idempotency-Key")] = None,
) -> Response:
    """A hospital settles a visit or stay (2207/2305). Retries with the same key get the first answer."""
    require_role(principal, Role.HOSPITAL)
    institution = principal.institution_code or ""
    key = idempotency.require_key(idempotency_key)
    scope = f"settlement:{institution}"
    stored = await idempotency.begin(
        session, scope=scope, key=key, request_hash=idempotency.fingerprint(body.model_dump(mode="json"))
    )
    if stored is not None:
        settlement_id = json.loads(stored.body).get("settlement_id")
        return stored.as_response(replayed=True, headers=_location(settlement_id) if settlement_id else None)

    if not await repository.person_known(session, body.person_no):
        raise Unprocessable(f"{body.person_no} is not a registered insured person.", kind="person-unknown")
    service_date = body.discharged_on or body.admitted_on
    coverage = covering(await repository.active_coverages(session, body.person_no), service_date)
    if coverage is None:
        raise Unprocessable(
            f"{body.person_no} has no active enrollment covering {service_date.isoformat()}.", kind="not-insured"
        )
    priced = price_lines(
        [LineInput(li.item_code, li.quantity, li.unit_price, tuple(li.traceability_codes)) for li in body.lines]
    )
    breakdown = skeleton_breakdown(priced, ratio=SKELETON_RATIOS[(coverage.scheme, body.visit_type)])
    row = Settlement(
        id=uuid7(),
        institution_code=institution,
        idempotency_key=key,
        person_no=body.person_no,
        scheme=coverage.scheme,
        visit_type=body.visit_type,
        admitted_on=body.admitted_on,
        discharged_on=service_date,
        practitioner_code=body.practitioner_code,
        diagnoses=body.diagnoses,
        lines=[line.model_dump(mode="json") for line in priced],
        status="settled",
        **breakdown.model_dump(),
    )
    await repository.add_settlement(session, row)
    await session.refresh(row)
    await publish(
        session,
        ClaimSettled(
            settlement_id=row.id,
            person_no=row.person_no,
            institution_code=institution,
            practitioner_code=row.practitioner_code,
            visit_type=body.visit_type,
            admitted_on=row.admitted_on,
            discharged_on=row.discharged_on,
            diagnoses=row.diagnoses,
            lines=priced,
            breakdown=breakdown,
            settled_at=row.settled_at,
        ),
        source=SOURCE,
    )
    answer = await idempotency.finish(
        session, scope=scope, key=key, status_code=201, body=settlement_out(row).model_dump(mode="json")
    )
    return answer.as_response(replayed=False, headers=_location(str(row.id)))


@router.get("/settlements/{settlement_id}", response_model=SettlementOut)
async def get_settlement(settlement_id: UUID, session: DbSession, principal: CurrentPrincipal) -> SettlementOut:
    row = await repository.get_settlement(session, settlement_id)
    if row is None:
        raise NotFound(f"No settlement {settlement_id}.", kind="settlement-not-found")
    if principal.role is Role.HOSPITAL and principal.institution_code != row.institution_code:
        raise Forbidden("A hospital may read only its own settlements.")
    if principal.role is Role.INSURED and principal.subject != row.person_no:
        raise Forbidden("You may read only your own settlements.")
    return settlement_out(row)
