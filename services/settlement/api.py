"""Settlement routes: thin; rules in service.py and the rule modules, SQL in repository.py."""

from __future__ import annotations

import csv
import io
import json
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from typing import Annotated, Any, cast
from uuid import NAMESPACE_URL, UUID, uuid5

from fastapi import APIRouter, Header, Path, Query, Request, Response
from uuid6 import uuid7

from services.settlement import repository
from services.settlement.catalogue import CatalogueError, catalogue_on, load_catalogue
from services.settlement.clearing import clearing_journal, month_bounds, net_by_pair, owed_to_institution
from services.settlement.in_stage_check import (
    CheckLine,
    check_request,
    decide,
    refusal_detail,
    refusal_errors,
    refused_rules,
)
from services.settlement.ledger import CLEARING_KIND, journal
from services.settlement.models import ClearingRun, ClearingRunLine, Institution, Settlement
from services.settlement.policies import COLUMNS as POLICY_COLUMNS
from services.settlement.policies import LEGACY_COLUMNS as LEGACY_POLICY_COLUMNS
from services.settlement.policies import PolicyNotFound, PolicyTableError, load_policy_rows, select_policy
from services.settlement.restrictions import check_restrictions
from services.settlement.schemas import (
    CLEARING_MONTH_PATTERN,
    EARLIEST_CARE,
    LATEST_CARE,
    AccountOut,
    AccumulatorsOut,
    AssistanceGroupOut,
    CatalogueItemOut,
    CatalogueLoaded,
    ClearingLineOut,
    ClearingRunCreate,
    ClearingRunOut,
    DayTotals,
    ExplanationStep,
    InstitutionIn,
    InstitutionOut,
    PoliciesLoaded,
    PolicyOut,
    PreSettlementOut,
    ReconciliationOut,
    SettlementCreate,
    SettlementOut,
    TrialBalanceAccount,
    TrialBalanceOut,
)
from services.settlement.service import (
    ASSISTANCE_GROUPS,
    MAX_AMOUNT,
    Accumulators,
    Calculation,
    ClaimInput,
    Coverage,
    InstitutionInfo,
    LineInput,
    Refusal,
    Scheme,
    accumulator_delta,
    age_on,
    burden_crossings,
    calculate,
    cross_region,
    dates_in_future,
    eligibility_refusal,
    family_payer_refusal,
    institution_refusal,
    parse_burden_thresholds,
    pooling_region,
    practitioner_refusal,
    price_lines,
    stay_days,
    without,
)
from services.settlement.supervision_client import IN_STAGE_CHECKS, POST_AUDIT_REQUIRED, SupervisionChecker
from shared import idempotency
from shared.auth import CurrentPrincipal, Principal, Role, require_role
from shared.business_time import BUSINESS_ZONE, business_today
from shared.db import DbSession, PlainTransaction, PlainTransactionDep
from shared.errors import Conflict, FieldError, Forbidden, NotFound, ServiceUnavailable, Unprocessable
from shared.events import outbox
from shared.events.contracts import (
    PERSON_NO_PATTERN,
    BurdenAlerted,
    ClaimLine,
    ClaimReversed,
    ClaimSettled,
    EventPayload,
    SettlementBreakdown,
)
from shared.events.outbox import publish

router = APIRouter(tags=["settlement"])
SOURCE = "/yibao/settlement"
BREAKDOWN_FIELDS = tuple(SettlementBreakdown.model_fields)
REFERENCE_WRITERS = (Role.OPS, Role.ADMIN)
CSV_BODY: dict[str, Any] = {
    "requestBody": {"required": True, "content": {"text/csv": {"schema": {"type": "string"}}}},
}
InstitutionCode = Annotated[str, Path(pattern=r"^[A-Za-z0-9]{1,20}$", description="定点机构编码")]
# A month as POST /clearing/runs takes it: anything else (a NUL character failed in PostgreSQL: 500) is a 422.
ClearingMonth = Annotated[str, Path(pattern=CLEARING_MONTH_PATTERN, examples=["2026-10"])]


def _refuse(refusal: Refusal) -> Unprocessable:
    return Unprocessable(refusal.detail, kind=refusal.kind)


def _steps(calc: Calculation) -> list[ExplanationStep]:
    return [
        ExplanationStep(rule=s.rule, amount=s.amount, policy_version=s.policy_version, detail=s.detail)
        for s in calc.explanation
    ]


def settlement_out(row: Settlement) -> SettlementOut:
    breakdown = SettlementBreakdown(**{f: getattr(row, f) for f in BREAKDOWN_FIELDS})
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
        policy_version=row.policy_version,
        explanation=[ExplanationStep.model_validate(step) for step in row.explanation or []],
        status=cast(Any, row.status),
        settled_at=row.settled_at,
        reversed_at=row.reversed_at,
        family_account_payer_person_no=row.account_payer_person_no,
        post_audit_required=row.post_audit_required,
    )


def _location(settlement_id: str) -> dict[str, str]:
    return {"Location": f"/api/v1/settlement/settlements/{settlement_id}"}


@dataclass(frozen=True)
class Prepared:
    """A claim checked and calculated, ready to store (or to show, for a pre-settlement)."""

    coverage: Coverage
    institution: InstitutionInfo
    lines: list[ClaimLine]  # as the hospital sent them, priced
    calc: Calculation
    year: int
    before: Accumulators
    account_holder: str  # whose personal account pays acct_pay: the patient, or a 家庭共济 payer


def _account_payer(body: SettlementCreate) -> str | None:
    """The 家庭共济 payer whose account pays, if not the patient's own (the default anyway)."""
    payer = body.family_account_payer_person_no
    return None if payer == body.person_no else payer


def _refuse_care_not_yet_given(body: SettlementCreate) -> None:
    """422 date-in-future naming each date after today's business date (Asia/Shanghai)."""
    assert body.discharged_on is not None  # set by the model validator
    today = business_today()
    if future := dates_in_future(body.admitted_on, body.discharged_on, today):
        raise Unprocessable(
            f"Care is settled at or after discharge: {' and '.join(future)} after today ({today}) is care not "
            "yet given.",
            kind="date-in-future",
            errors=[FieldError(field=name, message=f"after today's business date {today}") for name in future],
        )


async def _read_context(
    transaction: PlainTransaction, body: SettlementCreate, institution_code: str, *, claim: dict[str, object] | None
) -> repository.SettleContext:
    """Everything _prepare checks, in one statement; with `claim`, also the idempotency key claimed
    and (if this request claimed it) the person-year accumulators locked."""
    assert body.discharged_on is not None  # set by the model validator
    return await repository.settle_context(
        transaction,
        institution_code=institution_code,
        practitioner_code=body.practitioner_code,
        person_no=body.person_no,
        payer_person_no=_account_payer(body),
        year=body.discharged_on.year,
        claim=claim,
    )


async def _prepare(
    transaction: PlainTransaction,
    body: SettlementCreate,
    institution_code: str,
    context: repository.SettleContext,
    *,
    lock: bool,
) -> Prepared:
    """Every check of issue 5, in order, on what _read_context read, then the calculation on the
    person-year accumulators. With `lock` (the context was read with a claim, so the accumulators
    row is held FOR UPDATE), a personal account that pays is locked too, after the accumulators.
    """
    assert body.discharged_on is not None  # set by the model validator
    service_date = body.discharged_on
    today = business_today()
    payer = _account_payer(body)
    year = service_date.year
    institution = context.institution
    if refusal := institution_refusal(institution_code, institution, context.sanctions, today):
        raise _refuse(refusal)
    assert institution is not None
    if refusal := practitioner_refusal(body.practitioner_code, context.practitioner, today):
        raise _refuse(refusal)
    person = context.person
    outcome = eligibility_refusal(
        body.person_no,
        known=person is not None,
        died_on=person.died_on if person is not None else None,
        coverages=context.coverages,
        admitted_on=body.admitted_on,
        discharged_on=service_date,
        born_on=person.birth_date if person is not None else None,
    )
    if isinstance(outcome, Refusal):
        raise _refuse(outcome)
    assert person is not None
    coverage = outcome

    inputs = [LineInput(li.item_code, li.quantity, li.unit_price, tuple(li.traceability_codes)) for li in body.lines]
    if sum((li.unit_price * li.quantity for li in inputs), Decimal(0)) > MAX_AMOUNT:
        raise Unprocessable(f"The bill is above {MAX_AMOUNT} 元; check quantities and prices.", kind="amount-too-large")
    # 就医地目录: the catalogue of the place of care; 参保地政策: the policy of the person's home region.
    care_region = pooling_region(institution.region_code)
    catalogue = catalogue_on(
        await repository.catalogue_items_of_generation(
            transaction, context.catalogue_generation, (li.item_code for li in inputs), care_region, service_date
        ),
        service_date,
        care_region,
    )
    unknown = [(n, li.item_code) for n, li in enumerate(inputs) if li.item_code not in catalogue]
    if unknown:
        codes = ", ".join(sorted({code for _, code in unknown}))
        raise Unprocessable(
            f"Not in the {care_region} catalogue (医保目录) on {service_date}: {codes}.",
            kind="unknown-item",
            errors=[
                FieldError(field=f"lines.{n}.item_code", message=f"{code} is not a catalogue item on {service_date}")
                for n, code in unknown
            ],
        )
    restricted = check_restrictions(
        inputs,
        catalogue,
        sex=cast(Any, person.sex),
        age=age_on(person.birth_date, body.admitted_on),
        institution_level=institution.level,
        days=stay_days(body.admitted_on, service_date),
        on_date=service_date,
        region=care_region,
    )
    if restricted.refused:
        raise Unprocessable(
            "Some lines cannot be settled at all.",
            kind="line-refused",
            errors=[
                FieldError(field=f"lines.{d.line_no - 1}", message="; ".join(d.reasons)) for d in restricted.refused
            ],
        )
    home_region = pooling_region(coverage.region_code)
    try:
        policy = select_policy(
            await repository.policies_of_generation(transaction, context.policy_generation, home_region),
            home_region,
            cast(Scheme, coverage.scheme),
            service_date,
            body.visit_type,
            institution.level,
            coverage.retiree,
        )
    except PolicyNotFound as exc:
        raise Unprocessable(f"No benefit policy applies: {exc}.", kind="policy-not-found") from exc
    # checked before the account row is locked
    if payer is not None and (refusal := family_payer_refusal(body.person_no, payer, context.bindings, today)):
        raise _refuse(refusal)
    account_holder = payer or body.person_no
    before = context.accumulators
    balance = Decimal("0.00")
    if coverage.scheme == "employee" or payer is not None:  # 个人账户: locked after the accumulators, always
        balance = await repository.account_balance(transaction, account_holder, lock=lock)
    where = cross_region(institution.region_code, coverage.region_code)
    if where != "local":  # filings matter only for care outside the home pooling region
        where = cross_region(institution.region_code, coverage.region_code, context.filings, body.admitted_on)
    claim = ClaimInput(
        lines=restricted.lines,
        visit_type=body.visit_type,
        assistance_category=coverage.assistance_category,
        cross_region=where,
        account_balance=balance,
        family_account_payer=payer,
    )
    calc = calculate(claim, policy, catalogue, before)
    return Prepared(coverage, institution, price_lines(inputs), calc, year, before, account_holder)


async def _in_stage_check(
    request: Request, body: SettlementCreate, institution_code: str, prepared: Prepared, *, route: str
) -> bool:
    """事中审核: ask supervision before storing; refuse, or tell whether the claim needs post audit.

    Runs after settlement's own checks (a claim they refuse costs supervision nothing) and
    within the request's transaction: a refusal or a 503 raises, so nothing is stored.
    """
    assert body.discharged_on is not None
    checker: SupervisionChecker = request.app.state.supervision_checker
    outcome = await checker.ask(
        check_request(
            person_no=body.person_no,
            practitioner_code=body.practitioner_code,
            institution_code=institution_code,
            visit_type=body.visit_type,
            admitted_on=body.admitted_on,
            discharged_on=body.discharged_on,
            diagnoses=body.diagnoses,
            lines=[
                CheckLine(li.item_code, li.quantity, li.unit_price, tuple(li.traceability_codes)) for li in body.lines
            ],
            scheme=prepared.coverage.scheme,
            institution_level=prepared.institution.level,
            institution_type=prepared.institution.institution_type,
            region_code=prepared.institution.region_code,
        )
    )
    decision = decide(outcome, checker.fail_mode)
    IN_STAGE_CHECKS.labels(route, decision.action).inc()
    if decision.reason is not None:
        POST_AUDIT_REQUIRED.labels(route, decision.reason, checker.fail_mode).inc()
    if decision.action == "refuse":
        raise Unprocessable(
            refusal_detail(decision.findings),
            kind="refused-by-supervision",
            title="Refused by supervision",
            errors=[FieldError(field=field, message=message) for field, message in refusal_errors(decision.findings)],
            extra={"rules": refused_rules(decision.findings)},
        )
    if decision.action == "unavailable":
        raise ServiceUnavailable(
            "Supervision's in-stage check (事中审核) did not answer in time and this deployment settles only "
            "checked claims (fail-closed); nothing was stored. Retry with the same Idempotency-Key.",
            kind="supervision-unavailable",
        )
    return decision.post_audit_required


@router.post("/settlements/pre", response_model=PreSettlementOut)
async def pre_settle(
    body: SettlementCreate, request: Request, principal: CurrentPrincipal, transaction: PlainTransactionDep
) -> PreSettlementOut:
    """预结算: the same checks (supervision's in-stage check too) and calculation as a settlement;
    nothing is stored or reserved."""
    require_role(principal, Role.HOSPITAL)
    _refuse_care_not_yet_given(body)
    institution = principal.institution_code or ""
    context = await _read_context(transaction, body, institution, claim=None)
    prepared = await _prepare(transaction, body, institution, context, lock=False)
    post_audit_required = await _in_stage_check(request, body, institution, prepared, route="pre_settlement")
    return PreSettlementOut(
        person_no=body.person_no,
        institution_code=institution,
        scheme=prepared.coverage.scheme,
        visit_type=body.visit_type,
        policy_version=prepared.calc.explanation[0].policy_version,
        lines=prepared.lines,
        breakdown=prepared.calc.breakdown,
        explanation=_steps(prepared.calc),
        post_audit_required=post_audit_required,
    )


@router.post("/settlements", status_code=201, response_model=SettlementOut)
async def create_settlement(
    body: SettlementCreate,
    request: Request,
    principal: CurrentPrincipal,
    transaction: PlainTransactionDep,
    idempotency_key: Annotated[str | None, Header(alias="Idempotency-Key")] = None,
) -> Response:
    """A hospital settles a visit or stay (2207/2305). Retries with the same key get the first answer.

    Every statement is plain SQL in one plain asyncpg transaction (decision 0022): committed when
    the route returns, rolled back when it raises, as with DbSession."""
    require_role(principal, Role.HOSPITAL)
    institution = principal.institution_code or ""
    key = idempotency.require_key(idempotency_key)
    _refuse_care_not_yet_given(body)
    scope = f"settlement:{institution}"
    request_hash = idempotency.fingerprint(body.model_dump(mode="json"))
    # The key is claimed in the same statement that reads the claim's data (idempotency.begin's
    # claim, folded in): a retry of a stored answer gets it back, and locks nothing.
    claim = idempotency.claim_params(scope=scope, key=key, request_hash=request_hash)
    context = await _read_context(transaction, body, institution, claim=claim)
    if not context.claimed:
        stored = await idempotency.replay_plain(transaction, scope=scope, key=key, request_hash=request_hash)
        settlement_id = json.loads(stored.body).get("settlement_id")
        return stored.as_response(replayed=True, headers=_location(settlement_id) if settlement_id else None)

    prepared = await _prepare(transaction, body, institution, context, lock=True)
    post_audit_required = await _in_stage_check(request, body, institution, prepared, route="settlement")
    calc, coverage, inst = prepared.calc, prepared.coverage, prepared.institution
    assert body.discharged_on is not None
    settlement_id = uuid7()
    settled_at = datetime.now(UTC)  # set here, not by the server default: no read back after the insert
    policy_version = calc.explanation[0].policy_version
    payer = None if prepared.account_holder == body.person_no else prepared.account_holder
    # The answer is built from what was calculated, not from a stored row read back (nor an ORM
    # instance: no identity map, no instrumented attributes); its JSON is also what the row keeps.
    out = SettlementOut(
        settlement_id=settlement_id,
        institution_code=institution,
        person_no=body.person_no,
        scheme=coverage.scheme,
        visit_type=body.visit_type,
        admitted_on=body.admitted_on,
        discharged_on=body.discharged_on,
        practitioner_code=body.practitioner_code,
        diagnoses=body.diagnoses,
        lines=prepared.lines,
        breakdown=calc.breakdown,
        policy_version=policy_version,
        explanation=_steps(calc),
        status="settled",
        settled_at=settled_at,
        family_account_payer_person_no=payer,
        post_audit_required=post_audit_required,
    )
    # Compact JSON from pydantic-core, the same text idempotency.answer's json.dumps gives (a
    # unit test holds them side by side) at a fraction of the CPU; the row's JSONB columns take the
    # same values in Python form.
    answer = idempotency.StoredResponse(201, out.model_dump_json())
    body_out = out.model_dump(mode="json", include={"lines", "explanation"})
    settlement: dict[str, object] = {
        "id": settlement_id,
        "institution_code": institution,
        "idempotency_key": key,
        "person_no": body.person_no,
        "scheme": coverage.scheme,
        "visit_type": body.visit_type,
        "admitted_on": body.admitted_on,
        "discharged_on": body.discharged_on,
        "practitioner_code": body.practitioner_code,
        "diagnoses": body.diagnoses,
        "lines": body_out["lines"],
        "status": "settled",
        "settled_at": settled_at,
        "reversed_at": None,
        "year": prepared.year,
        "policy_version": policy_version,
        "institution_level": inst.level,
        "institution_type": inst.institution_type,
        "region_code": inst.region_code,
        "insured_region_code": coverage.region_code,
        "explanation": body_out["explanation"],
        "accumulator_delta": {k: str(v) for k, v in accumulator_delta(prepared.before, calc.accumulators).items()},
        "account_payer_person_no": payer,
        "post_audit_required": post_audit_required,
        **calc.breakdown.model_dump(),
    }
    # store_settlement writes the row, the accumulators, the account, the journal, the events and
    # the idempotent answer in one statement.
    thresholds = parse_burden_thresholds(request.app.state.settings.burden_thresholds)
    events: list[EventPayload] = [
        BurdenAlerted(
            person_no=body.person_no,
            year=prepared.year,
            personal_burden=calc.accumulators.personal_burden,
            threshold=crossed.amount,
            band=crossed.band,
            alerted_at=datetime.now(UTC),
        )
        for crossed in burden_crossings(prepared.before.personal_burden, calc.accumulators.personal_burden, thresholds)
    ]
    events.append(
        ClaimSettled(
            settlement_id=settlement_id,
            person_no=body.person_no,
            institution_code=institution,
            practitioner_code=body.practitioner_code,
            visit_type=body.visit_type,
            admitted_on=body.admitted_on,
            discharged_on=body.discharged_on,
            diagnoses=body.diagnoses,
            lines=prepared.lines,
            breakdown=calc.breakdown,
            settled_at=settled_at,
            institution_level=inst.level,
            institution_type=inst.institution_type,
            region_code=inst.region_code,
            insured_region_code=coverage.region_code,
            scheme=cast(Scheme, coverage.scheme),
        )
    )
    _, outbox_params = outbox.stage(events, source=SOURCE)
    await repository.store_settlement(
        transaction,
        settlement,
        accumulators=calc.accumulators,
        account_holder=prepared.account_holder,
        journal_lines=journal(
            calc.breakdown,
            "settlement",
            home_region=pooling_region(coverage.region_code),
            care_region=pooling_region(inst.region_code),
        ),
        business_date=business_today(),
        outbox_params=outbox_params,
        answer=idempotency.finish_params(scope=scope, key=key, stored=answer),
    )
    return answer.as_response(replayed=False, headers=_location(str(settlement_id)))


def _may_read(principal: Principal, row: Settlement) -> None:
    """The settling hospital, staff and the insured person (docs/api.md); no other role, `service` included."""
    require_role(principal, Role.HOSPITAL, Role.INSURED, Role.OPS, Role.ADMIN, Role.AUDITOR)
    if principal.role is Role.HOSPITAL and principal.institution_code != row.institution_code:
        raise Forbidden("A hospital may read only its own settlements.")
    if principal.role is Role.INSURED and principal.subject != row.person_no:
        raise Forbidden("You may read only your own settlements.")


@router.get("/settlements/{settlement_id}", response_model=SettlementOut)
async def get_settlement(settlement_id: UUID, session: DbSession, principal: CurrentPrincipal) -> SettlementOut:
    row = await repository.get_settlement(session, settlement_id)
    if row is None:
        raise NotFound(f"No settlement {settlement_id}.", kind="settlement-not-found")
    _may_read(principal, row)
    return settlement_out(row)


@router.post("/settlements/{settlement_id}/reversal", response_model=SettlementOut)
async def reverse_settlement(
    settlement_id: UUID,
    session: DbSession,
    principal: CurrentPrincipal,
    idempotency_key: Annotated[str | None, Header(alias="Idempotency-Key")] = None,
) -> Response:
    """冲正 (2208): undo a settlement exactly and restore the accumulators. Once only.

    The Idempotency-Key is optional: with one, a retry gets the first answer; without, a second
    reversal is a 409 `settlement-already-reversed`.
    """
    require_role(principal, Role.HOSPITAL, Role.OPS, Role.ADMIN)
    found = await repository.get_settlement(session, settlement_id)
    if found is None:
        raise NotFound(f"No settlement {settlement_id}.", kind="settlement-not-found")
    if principal.role is Role.HOSPITAL and principal.institution_code != found.institution_code:
        raise Forbidden("A hospital may reverse only its own settlements.")
    # Keys are the caller's, not the settlement's: one reused for another settlement's reversal must
    # be refused like a key reused with another body on POST /settlements, never start a new reversal.
    scope = (
        f"reversal:{principal.institution_code}" if principal.role is Role.HOSPITAL else f"reversal:{principal.subject}"
    )
    key = idempotency.require_key(idempotency_key) if idempotency_key is not None else None
    if key is not None:
        stored = await idempotency.begin(
            session, scope=scope, key=key, request_hash=idempotency.fingerprint({"settlement_id": str(settlement_id)})
        )
        if stored is not None:
            return stored.as_response(replayed=True)

    row = await repository.lock_settlement(session, settlement_id)
    assert row is not None  # settlements are never deleted
    if row.status == "reversed":
        raise Conflict(
            f"Settlement {settlement_id} was already reversed at {row.reversed_at}.", kind="settlement-already-reversed"
        )
    if row.accumulator_delta is not None and row.year is not None:
        delta = {k: Decimal(v) for k, v in row.accumulator_delta.items()}
        current = await repository.lock_accumulators(session, row.person_no, row.year)
        restored = without(current, delta)
        await repository.save_accumulators(session, row.person_no, row.year, restored, settlements_change=-1)
    if row.acct_pay > 0:  # what the account paid goes back to it (the 家庭共济 payer's, if it paid)
        await repository.change_account(session, row.account_payer_person_no or row.person_no, row.acct_pay)
    row.status = "reversed"
    row.reversed_at = datetime.now(UTC)
    await repository.flush(session)
    out = settlement_out(row)
    await repository.post_journal(
        session,
        settlement_id=row.id,
        kind="reversal",
        institution_code=row.institution_code,
        # The mirror of the settlement's journal, in the same regions' books.
        lines=journal(
            out.breakdown,
            "reversal",
            home_region=pooling_region(row.insured_region_code or ""),
            care_region=pooling_region(row.region_code or row.insured_region_code or ""),
        ),
        business_date=business_today(),
    )
    await publish(
        session,
        ClaimReversed(
            settlement_id=row.id,
            person_no=row.person_no,
            institution_code=row.institution_code,
            breakdown=out.breakdown,
            reversed_at=row.reversed_at,
        ),
        source=SOURCE,
    )
    body = out.model_dump(mode="json")
    if key is None:
        return Response(json.dumps(body, ensure_ascii=False), media_type="application/json")
    answer = await idempotency.finish(session, scope=scope, key=key, status_code=200, body=body)
    return answer.as_response(replayed=False)


@router.get("/persons/{person_no}/accumulators/{year}", response_model=AccumulatorsOut)
async def get_accumulators(
    person_no: Annotated[str, Path(pattern=PERSON_NO_PATTERN)],
    year: Annotated[int, Path(ge=2000, le=2100)],
    session: DbSession,
    principal: CurrentPrincipal,
) -> AccumulatorsOut:
    """年度累计 of a person: bureau staff, or the insured person themself."""
    require_role(principal, Role.OPS, Role.ADMIN, Role.AUDITOR, Role.INSURED)
    if principal.role is Role.INSURED and principal.subject != person_no:
        raise Forbidden("You may read only your own accumulators.")
    row = await repository.get_accumulator_row(session, person_no, year)
    if row is None:
        return AccumulatorsOut(
            person_no=person_no, year=year, settlements=0, **{f: Decimal(0) for f in _ACCUMULATED_MONEY}
        )
    return AccumulatorsOut(
        person_no=person_no,
        year=year,
        settlements=row.settlements,
        **{f: getattr(row, f) for f in _ACCUMULATED_MONEY},
    )


_ACCUMULATED_MONEY = tuple(f for f in AccumulatorsOut.model_fields if f not in ("person_no", "year", "settlements"))


@router.get("/persons/{person_no}/account", response_model=AccountOut)
async def get_account(
    person_no: Annotated[str, Path(pattern=PERSON_NO_PATTERN)], session: DbSession, principal: CurrentPrincipal
) -> AccountOut:
    """个人账户 balance of an employee: bureau staff, or the insured person themself."""
    require_role(principal, Role.OPS, Role.ADMIN, Role.AUDITOR, Role.INSURED)
    if principal.role is Role.INSURED and principal.subject != person_no:
        raise Forbidden("You may read only your own account.")
    return AccountOut(person_no=person_no, balance=await repository.read_account(session, person_no))


@router.get("/ledger/trial-balance", response_model=TrialBalanceOut)
async def get_trial_balance(
    session: DbSession,
    principal: CurrentPrincipal,
    institution_code: Annotated[str | None, Query(pattern=r"^[A-Za-z0-9]{1,20}$")] = None,
    region_code: Annotated[str | None, Query(pattern=r"^\d{6}$", description="one pooling region's books")] = None,
) -> TrialBalanceOut:
    """试算平衡: debits and credits per ledger account; the totals are equal when the books balance."""
    require_role(principal, Role.OPS, Role.ADMIN, Role.AUDITOR)
    accounts = [
        TrialBalanceAccount(account=account, debit=debit, credit=credit, balance=debit - credit)
        for account, debit, credit in await repository.trial_balance(session, institution_code, region_code)
    ]
    debit = sum((a.debit for a in accounts), Decimal("0.00"))
    credit = sum((a.credit for a in accounts), Decimal("0.00"))
    return TrialBalanceOut(
        institution_code=institution_code,
        accounts=accounts,
        total_debit=debit,
        total_credit=credit,
        balanced=debit == credit,
    )


@router.get("/institutions/{code}/reconciliation/{day}", response_model=ReconciliationOut)
async def get_reconciliation(
    code: InstitutionCode, day: date, session: DbSession, principal: CurrentPrincipal
) -> ReconciliationOut:
    """日对账: one institution's settlements and reversals of one business day (Asia/Shanghai), and
    whether they agree with what the ledger owes the institution for that day."""
    require_role(principal, Role.HOSPITAL, Role.OPS, Role.ADMIN, Role.AUDITOR)
    if principal.role is Role.HOSPITAL and principal.institution_code != code:
        raise Forbidden("A hospital may read only its own reconciliation statement.")
    if not EARLIEST_CARE <= day <= LATEST_CARE:  # the day's bounds in Beijing time must be datetimes
        raise Unprocessable(
            f"day must lie between {EARLIEST_CARE} and {LATEST_CARE}.",
            kind="invalid-dates",
            errors=[FieldError(field="day", message="outside the calendar settlements are kept for")],
        )
    if await repository.get_institution(session, code) is None:
        raise NotFound(f"No designated institution {code}.", kind="institution-not-found")
    start = datetime.combine(day, time.min, BUSINESS_ZONE)
    end = start + timedelta(days=1)
    settled = await repository.settlement_totals(session, code, start, end, reversed_=False)
    reversed_ = await repository.settlement_totals(session, code, start, end, reversed_=True)
    per_kind, ledger_payable = await repository.institution_day(session, code, day)
    owed = owed_to_institution(settled, reversed_)
    return ReconciliationOut(
        institution_code=code,
        day=day,
        settled=DayTotals(**vars(settled)),
        reversed=DayTotals(**vars(reversed_)),
        owed_to_institution=owed,
        ledger_payable=ledger_payable,
        ledger_journals={kind: count for kind, (count, _) in per_kind.items()},
        agrees=owed == ledger_payable,
    )


def clearing_journal_id(month: str) -> UUID:
    """The journal id of a month's clearing entries (ledger_entries.settlement_id): stable per month."""
    return uuid5(NAMESPACE_URL, f"https://yibao.dev/settlement/clearing/{month}")


def _clearing_out(run: ClearingRun, lines: list[ClearingRunLine]) -> ClearingRunOut:
    return ClearingRunOut(
        month=run.month,
        run_at=run.run_at,
        run_by=run.run_by,
        lines=[
            ClearingLineOut(
                payer_region=line.payer_region,
                payee_region=line.payee_region,
                net_amount=line.net_amount,
                payee_advanced=line.payee_advanced,
                payer_advanced=line.payer_advanced,
            )
            for line in lines
        ],
    )


@router.post("/clearing/runs", response_model=ClearingRunOut, status_code=201)
async def run_clearing(
    body: ClearingRunCreate, session: DbSession, principal: CurrentPrincipal, response: Response
) -> ClearingRunOut:
    """月度清算: net what each pair of pooling regions owes for a month that is over. Once per month:
    asking again answers the stored run (200), never a second one."""
    require_role(principal, Role.OPS, Role.ADMIN)
    try:
        start, end = month_bounds(body.month)
    except ValueError as exc:
        raise Unprocessable(str(exc), kind="month-invalid") from exc
    if end > business_today():
        raise Unprocessable(
            f"{body.month} is not over yet (today is {business_today()}); clear a month after its last day.",
            kind="month-not-over",
        )
    stored = await repository.clearing_run(session, body.month)
    if stored is None and await repository.claim_clearing_month(
        session, body.month, datetime.now(UTC), principal.subject
    ):
        lines = net_by_pair(await repository.month_advances(session, start, end))
        await repository.add_clearing_lines(session, body.month, lines)
        # Journalled in the run's transaction: the month is claimed once, so it is posted once.
        await repository.post_journal(
            session,
            settlement_id=clearing_journal_id(body.month),
            kind=CLEARING_KIND,
            institution_code="",
            lines=clearing_journal(lines),
            business_date=business_today(),
        )
        stored = await repository.clearing_run(session, body.month)
        assert stored is not None
        return _clearing_out(*stored)
    # Run before (or by a concurrent request that committed first): the stored result.
    stored = stored or await repository.clearing_run(session, body.month)
    if stored is None:
        raise Conflict(f"The clearing run of {body.month} is being stored; ask again.", kind="clearing-in-progress")
    response.status_code = 200
    return _clearing_out(*stored)


@router.get("/clearing/runs/{month}", response_model=ClearingRunOut)
async def get_clearing(month: ClearingMonth, session: DbSession, principal: CurrentPrincipal) -> ClearingRunOut:
    require_role(principal, Role.OPS, Role.ADMIN, Role.AUDITOR)
    stored = await repository.clearing_run(session, month)
    if stored is None:
        raise NotFound(f"No clearing run for {month}.", kind="clearing-run-not-found")
    return _clearing_out(*stored)


# --- reference data (ops) ------------------------------------------------------------------------------


async def _csv_text(request: Request) -> str:
    try:
        return (await request.body()).decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise Unprocessable("The body must be UTF-8 CSV text.", kind="csv-invalid") from exc


@router.put("/catalogue", response_model=CatalogueLoaded, openapi_extra=CSV_BODY)
async def put_catalogue(request: Request, session: DbSession, principal: CurrentPrincipal) -> CatalogueLoaded:
    """Replace the catalogue (医保目录) with a CSV file; a file with any bad row changes nothing."""
    require_role(principal, *REFERENCE_WRITERS)
    try:
        items = load_catalogue(await _csv_text(request))
    except CatalogueError as exc:
        raise Unprocessable(
            f"The catalogue has {len(exc.errors)} bad row(s); nothing was loaded.",
            kind="catalogue-invalid",
            errors=[FieldError(field=f"row {e.row}", message=e.reason) for e in exc.errors],
        ) from exc
    await repository.replace_catalogue(session, items)
    return CatalogueLoaded(items=len(items))


@router.get("/catalogue/items/{code}", response_model=list[CatalogueItemOut])
async def get_catalogue_item(
    code: Annotated[str, Path(min_length=1, max_length=50, pattern=r"^[A-Za-z0-9]+$")],
    session: DbSession,
    principal: CurrentPrincipal,
) -> list[CatalogueItemOut]:
    """Every stored version of a catalogue code (national and regional), oldest first."""
    versions = await repository.catalogue_item_versions(session, code)
    if not versions:
        raise NotFound(f"No catalogue item {code}.", kind="catalogue-item-not-found")
    return [
        CatalogueItemOut(
            code=v.code,
            name=v.name,
            category=v.category,
            item_class=v.item_class,
            preselfpay_ratio=str(v.preselfpay_ratio),
            limit_price=v.limit_price,
            sex=v.sex,
            min_age=v.min_age,
            max_age=v.max_age,
            min_institution_level=v.min_institution_level,
            max_qty_per_day=v.max_qty_per_day,
            max_qty_per_stay=v.max_qty_per_stay,
            valid_from=v.valid_from,
            valid_to=v.valid_to,
            region=v.region,
        )
        for v in versions
    ]


POLICY_BODY: dict[str, Any] = {
    "requestBody": {
        "required": True,
        "content": {
            "text/csv": {"schema": {"type": "string"}},
            "application/json": {
                "schema": {
                    "type": "array",
                    "items": {"type": "object", "additionalProperties": {"type": ["string", "integer", "boolean"]}},
                }
            },
        },
    }
}


async def _policy_text(request: Request) -> str:
    """The body as policy CSV text: CSV as it is, or a JSON array of objects keyed by the CSV columns
    (numbers as strings or integers, never floats; the older assistance_share/assistance_cap keys too),
    turned into the same CSV."""
    if not request.headers.get("content-type", "").startswith("application/json"):
        return await _csv_text(request)
    try:
        rows = json.loads(await request.body())
    except ValueError as exc:
        raise Unprocessable("The body is not JSON.", kind="policies-invalid") from exc
    if not isinstance(rows, list) or not all(isinstance(r, dict) for r in rows):
        raise Unprocessable("Send a JSON array of policy objects.", kind="policies-invalid")
    errors: list[FieldError] = []
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    columns = LEGACY_POLICY_COLUMNS if rows and set(rows[0]) == set(LEGACY_POLICY_COLUMNS) else POLICY_COLUMNS
    writer.writerow(columns)
    for n, row in enumerate(rows):
        if set(row) != set(columns):
            errors.append(FieldError(field=f"{n}", message=f"keys must be exactly {', '.join(columns)}"))
            continue
        bad = [k for k, v in row.items() if v is not None and not isinstance(v, (str, int, bool))]
        if bad:
            errors.append(FieldError(field=f"{n}.{bad[0]}", message="a string, an integer or a boolean (no floats)"))
            continue
        writer.writerow(
            [
                ("true" if row[c] else "false") if isinstance(row[c], bool) else ("" if row[c] is None else str(row[c]))
                for c in columns
            ]
        )
    if errors:
        raise Unprocessable(
            "Some policy objects are malformed; nothing was loaded.", kind="policies-invalid", errors=errors
        )
    return out.getvalue()


@router.post("/policies", response_model=PoliciesLoaded, openapi_extra=POLICY_BODY)
async def post_policies(request: Request, session: DbSession, principal: CurrentPrincipal) -> PoliciesLoaded:
    """Add policy versions from a CSV file. A stored version is never changed: the same values again
    are a no-op, different values under an existing version are a 409 (add a new version instead)."""
    require_role(principal, *REFERENCE_WRITERS)
    try:
        loaded = load_policy_rows(await _policy_text(request))
    except PolicyTableError as exc:
        raise Unprocessable(
            f"The policy table has {len(exc.errors)} bad row(s); nothing was loaded.",
            kind="policies-invalid",
            errors=[FieldError(field=f"row {row}", message=reason) for row, reason in exc.errors],
        ) from exc
    inserted: list[str] = []
    unchanged: list[str] = []
    changed: list[str] = []
    for row, record in loaded:
        existing = await repository.insert_policy(session, record, row)
        if existing is None:
            inserted.append(record.policy.version)
        elif existing == row:
            unchanged.append(record.policy.version)
        else:
            changed.append(record.policy.version)
    if changed:
        raise Conflict(
            "Policies are never edited in place; these versions exist with other values (load them as a new "
            f"version): {', '.join(changed)}. Nothing was loaded.",
            kind="policy-version-exists",
        )
    return PoliciesLoaded(inserted=inserted, unchanged=unchanged)


@router.get("/policies", response_model=list[PolicyOut])
async def list_policies(
    session: DbSession,
    principal: CurrentPrincipal,
    region: Annotated[str | None, Query(pattern=r"^\d{6}$")] = None,
) -> list[PolicyOut]:
    require_role(principal, Role.OPS, Role.ADMIN, Role.AUDITOR, Role.HOSPITAL)
    return [
        PolicyOut(
            name=r.policy.version,
            region=r.key.region,
            scheme=r.key.scheme,
            year=r.key.year,
            visit_type=r.key.visit_type,
            institution_level=r.key.institution_level,
            retiree=r.key.retiree,
            version=r.version,
            effective_from=r.effective_from,
            effective_to=r.effective_to,
            deductible=str(r.policy.deductible),
            ratio=str(r.policy.ratio),
            cap=str(r.policy.cap),
            critical_threshold=str(r.policy.critical_threshold),
            critical_cap=str(r.policy.critical_cap),
            unfiled_reduction=str(r.policy.unfiled_reduction),
            assistance_by_group=[
                AssistanceGroupOut(
                    group=group,
                    name=ASSISTANCE_GROUPS[group],
                    share=str(terms.share),
                    cap=str(terms.cap),
                    deductible=str(terms.deductible),
                )
                for group, terms in r.policy.assistance.items()
            ],
        )
        for r in await repository.policies(session, region)
    ]


def _institution_out(row: Institution) -> InstitutionOut:
    return InstitutionOut(
        code=row.code,
        name=row.name,
        level=row.level,
        region_code=row.region_code,
        institution_type=row.institution_type,
        agreement_status=row.agreement_status,
        updated_at=row.updated_at,
    )


@router.put("/institutions/{code}", response_model=InstitutionOut)
async def put_institution(
    code: InstitutionCode, body: InstitutionIn, session: DbSession, principal: CurrentPrincipal
) -> InstitutionOut:
    """Register or update a designated institution; `agreement_status` suspended/terminated stops new settlements."""
    require_role(principal, *REFERENCE_WRITERS)
    await repository.upsert_institution(session, code=code, **body.model_dump(), updated_at=datetime.now(UTC))
    row = await repository.get_institution_row(session, code)
    assert row is not None
    await session.refresh(row)
    return _institution_out(row)


@router.get("/institutions/{code}", response_model=InstitutionOut)
async def get_institution(code: InstitutionCode, session: DbSession, principal: CurrentPrincipal) -> InstitutionOut:
    if principal.role is Role.HOSPITAL and principal.institution_code != code:
        raise Forbidden("A hospital may read only its own record.")
    require_role(principal, Role.OPS, Role.ADMIN, Role.AUDITOR, Role.HOSPITAL)
    row = await repository.get_institution_row(session, code)
    if row is None:
        raise NotFound(f"No designated institution {code}.", kind="institution-not-found")
    return _institution_out(row)
