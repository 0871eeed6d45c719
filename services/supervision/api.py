"""Supervision routes: thin; rules in service.py, SQL in repository.py."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Annotated
from uuid import UUID

from fastapi import APIRouter, Path, Query, Response
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession
from uuid6 import uuid7

from services.supervision import repository
from services.supervision.cases import (
    SANCTION_EVENT_NAMES,
    InvalidTransition,
    conclude,
    next_status,
    record_recovery,
)
from services.supervision.models import Case, Practitioner, RecoveryPayment, RuleVersionRow, SanctionRow
from services.supervision.rule_cache import ActiveRulesMemo, KnowledgeBaseMemo
from services.supervision.sanctions import (
    ROLLING_DAYS,
    Recovery,
    ReinstatementRefused,
    Sanction,
    check_reinstatement,
    credit_grade,
)
from services.supervision.schemas import (
    AuditOut,
    BacktestIn,
    BacktestOut,
    BacktestResult,
    CaseConclusion,
    CaseCreate,
    CaseOut,
    CheckFinding,
    CheckIn,
    CheckOut,
    CreditOut,
    FlagOut,
    FlagPage,
    InstitutionHits,
    PeerBaselineIn,
    PeerBaselineOut,
    PeerBaselinePage,
    PeerCostOut,
    PeerGroupOut,
    PointsEntryOut,
    PractitionerOut,
    PrecheckIn,
    PrecheckOut,
    PrecheckWarning,
    RecoveryPaymentIn,
    RecoveryPaymentOut,
    ReinstatementIn,
    RuleVersionCreate,
    RuleVersionOut,
    SanctionOut,
    StatisticsOut,
    StatisticsRow,
)
from services.supervision.service import (
    BacktestTally,
    DraftLine,
    Finding,
    ItemRestriction,
    RuleVersion,
    check_rule_version,
    draft_claim,
    evaluate_counted,
    in_stage_check,
    is_closed_period,
    merge_statistics,
    run_as_if_in_force,
    tally_backtest,
)
from shared.auth import CurrentPrincipal, Role, require_role
from shared.business_time import business_date
from shared.db import DbSession, ReadSession
from shared.errors import Conflict, FieldError, Forbidden, NotFound, Unprocessable
from shared.events.contracts import InstitutionSanctioned, PractitionerReinstated
from shared.events.outbox import publish
from shared.money import to_fen

router = APIRouter(tags=["supervision"])
SOURCE = "/yibao/supervision"
STAFF = (Role.AUDITOR, Role.OPS, Role.ADMIN)
PRECHECKERS = (Role.HOSPITAL, Role.OPS, Role.ADMIN)
CODE = r"^[0-9A-Za-z_.-]+$"  # practitioner, institution and rule codes in paths


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


# Reference data for prechecks and in-stage checks, in short-lived memos (rule_cache.py, decision 0009).
precheck_rules = ActiveRulesMemo()
knowledge_base = KnowledgeBaseMemo()


async def _reference_data(session: AsyncSession) -> tuple[list[RuleVersion], dict[str, ItemRestriction]]:
    rules = await precheck_rules.get(lambda: repository.active_rules(session))
    return rules, await knowledge_base.get(lambda: repository.knowledge_base(session))


@router.post("/prechecks", response_model=PrecheckOut)
async def precheck(body: PrecheckIn, session: ReadSession, principal: CurrentPrincipal) -> PrecheckOut:
    """事前提醒: the warnings the pre-stage rules give a draft order, against the person's history.

    Read-only, in one round trip (plus the memos' reloads): the institution's profile and the whole
    history view come from one statement, outside a transaction."""
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
    draft = draft_claim(
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
        institution_level=None,  # from the institution's profile, read with the history
        institution_type=None,
        region_code=None,
        scheme=body.scheme,
        now=datetime.now(UTC),
    )
    all_rules, catalogue = await _reference_data(session)
    # Only the pre-stage rules' windows are loaded (90 days, not the post rules' year).
    rules = [rule for rule in all_rules if "pre" in rule.stages]
    claim, history = await repository.load_draft_history(session, draft, rules, catalogue)
    findings, rules_run = evaluate_counted(claim, history, rules, "pre", body.visit_date)
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
        rules_run=rules_run,
        refused=any(f.severity == "refuse" for f in findings),
    )


@router.post("/checks", response_model=CheckOut)
async def check(body: CheckIn, session: ReadSession, principal: CurrentPrincipal) -> CheckOut:
    """事中审核: settlement asks, just before storing a claim, whether a refuse-severity in-stage rule
    stops it. Only Yibao's own services call it (role service): a hospital or ops token cannot
    stand in for settlement's check, nor learn the refusals ahead of settling. Read-only, one round
    trip like a precheck; what the claim says of its institution wins over the profile."""
    require_role(principal, Role.SERVICE)
    draft = draft_claim(
        person_no=body.person_no,
        practitioner_code=body.practitioner_code,
        institution_code=body.institution_code,
        visit_type=body.visit_type,
        admitted_on=body.admitted_on,
        discharged_on=body.discharged_on,
        diagnoses=body.diagnoses,
        lines=[
            DraftLine(line.item_code, line.quantity, line.unit_price, tuple(line.traceability_codes))
            for line in body.lines
        ],
        institution_level=body.institution_level,
        institution_type=body.institution_type,
        region_code=body.region_code,
        scheme=body.scheme,
        now=datetime.now(UTC),
    )
    all_rules, catalogue = await _reference_data(session)
    # Only the in-stage rules' windows are loaded: post-only rules (peers, LTC) need not slow a settlement.
    rules = [rule for rule in all_rules if "in" in rule.stages]
    claim, history = await repository.load_draft_history(session, draft, rules, catalogue)
    findings, rules_run = in_stage_check(claim, history, rules)
    return CheckOut(
        refused=bool(findings),
        findings=[
            CheckFinding(
                rule_id=f.rule_id,
                rule_version=f.rule_version,
                line_no=f.line_no,
                amount_at_stake=f.amount_at_stake,
                message=f.message,
            )
            for f in findings
        ],
        rules_run=rules_run,
    )


@router.get("/practitioners/{practitioner_code}", response_model=PractitionerOut)
async def get_practitioner(
    practitioner_code: Annotated[str, Path(pattern=CODE, max_length=30)],
    session: DbSession,
    principal: CurrentPrincipal,
) -> PractitionerOut:
    """医保医师记分: this year's points, thresholds reached and status. A doctor never scored has zero."""
    require_role(principal, *STAFF)
    row = await repository.get_practitioner(session, practitioner_code)
    return await _practitioner_out(session, practitioner_code, row)


@router.post("/practitioners/{practitioner_code}/reinstatement", response_model=PractitionerOut)
async def reinstate_practitioner(
    practitioner_code: Annotated[str, Path(pattern=CODE, max_length=30)],
    body: ReinstatementIn,
    session: DbSession,
    principal: CurrentPrincipal,
) -> PractitionerOut:
    """恢复医保支付资格: lift a suspension; publishes practitioner.reinstated, and settlement accepts the
    doctor's claims again from `reinstated_on`. A doctor who is not suspended: 409."""
    require_role(principal, Role.OPS, Role.ADMIN)
    row = await repository.get_practitioner(session, practitioner_code, for_update=True)
    today = business_date(datetime.now(UTC))
    reinstated_on = body.reinstated_on or today
    try:
        check_reinstatement(row.status if row else "active", row.suspended_from if row else None, reinstated_on, today)
    except ReinstatementRefused as exc:
        if exc.conflict:
            raise Conflict(f"Practitioner {practitioner_code}: {exc}.", kind="practitioner-not-suspended") from exc
        raise Unprocessable(
            f"{exc}.", kind="invalid-reinstatement", errors=[FieldError(field="reinstated_on", message=str(exc))]
        ) from exc
    assert row is not None  # check_reinstatement refuses a practitioner never scored
    row.status = "active"
    row.reinstated_on = reinstated_on
    row.reinstatement_reason = body.reason
    row.reinstated_by = principal.subject[:100]
    await publish(
        session,
        PractitionerReinstated(practitioner_code=practitioner_code, reinstated_on=reinstated_on),
        source=SOURCE,
    )
    await session.flush()
    return await _practitioner_out(session, practitioner_code, row)


async def _practitioner_out(session: AsyncSession, code: str, row: Practitioner | None) -> PractitionerOut:
    this_year = business_date(datetime.now(UTC)).year
    if row is None:
        return PractitionerOut(
            practitioner_code=code,
            institution_code=None,
            year=this_year,
            points=0,
            reached=[],
            status="active",
            suspended_from=None,
            recent_points=[],
        )
    recent = await repository.recent_points(session, code, limit=50)
    current = row.year >= this_year  # a tally from an earlier year has been reset to zero
    return PractitionerOut(
        practitioner_code=row.practitioner_code,
        institution_code=row.institution_code,
        year=max(row.year, this_year),
        points=row.points if current else 0,
        reached=list(row.reached) if current else [],
        status=row.status,
        suspended_from=row.suspended_from,
        reinstated_on=row.reinstated_on,
        reinstatement_reason=row.reinstatement_reason,
        recent_points=[PointsEntryOut.model_validate(entry) for entry in recent],
    )


# ---------------------------------------------------------------------------------------------
# Cases (案件) and 三函两牌
# ---------------------------------------------------------------------------------------------


async def case_out(session: AsyncSession, case: Case) -> CaseOut:
    return CaseOut(
        id=case.id,
        subject_kind=case.subject_kind,
        subject_code=case.subject_code,
        status=case.status,
        amount_at_stake=case.amount_at_stake,
        opened_by=case.opened_by,
        opened_at=case.opened_at,
        investigating_since=case.investigating_since,
        finding=case.finding,
        amount_to_recover=case.amount_to_recover,
        sanction=case.sanction,
        concluded_on=case.concluded_on,
        penalty=case.penalty,
        recovered=case.recovered,
        outstanding=None if case.amount_to_recover is None else case.amount_to_recover - case.recovered,
        recovery_status=case.recovery_status,
        recovery_closed_on=case.recovery_closed_on,
        recovery_payments=[
            RecoveryPaymentOut.model_validate(p) for p in await repository.recovery_payments(session, case.id)
        ],
        flag_ids=await repository.case_flag_ids(session, case.id),
    )


@router.post("/cases", status_code=201, response_model=CaseOut)
async def open_case(body: CaseCreate, response: Response, session: DbSession, principal: CurrentPrincipal) -> CaseOut:
    """Group active flags of one institution or practitioner into a case (status open)."""
    require_role(principal, *STAFF)
    wanted = list(dict.fromkeys(body.flag_ids))
    found = await repository.lock_flags(session, wanted)
    known = {flag.id for flag, _, _ in found}
    errors = [FieldError(field=f"flag_ids.{i}", message="no such flag") for i, f in enumerate(wanted) if f not in known]
    for flag, audit, case_id in found:
        index = wanted.index(flag.id)
        subject = audit.institution_code if body.subject_kind == "institution" else audit.practitioner_code
        if flag.status != "active":
            errors.append(FieldError(field=f"flag_ids.{index}", message="withdrawn: its settlement was reversed"))
        elif subject != body.subject_code:
            errors.append(FieldError(field=f"flag_ids.{index}", message=f"belongs to {body.subject_kind} {subject}"))
        elif case_id is not None:
            raise Conflict(
                f"Flag {flag.id} is already in case {case_id}.", kind="flag-in-case", extra={"case_id": str(case_id)}
            )
    if errors:
        raise Unprocessable(
            "Some flags cannot go into this case; see errors.", kind="invalid-case-flags", errors=errors
        )
    case = Case(
        id=uuid7(),
        subject_kind=body.subject_kind,
        subject_code=body.subject_code,
        status="open",
        amount_at_stake=sum((flag.amount_at_stake for flag, _, _ in found), Decimal("0.00")),
        opened_by=principal.subject[:100],
    )
    try:
        await repository.add_case(session, case, wanted)
    except IntegrityError as exc:  # a concurrent request took one of the flags first
        raise Conflict("One of the flags was just put into another case.", kind="flag-in-case") from exc
    await session.refresh(case)
    response.headers["Location"] = f"/api/v1/supervision/cases/{case.id}"
    return await case_out(session, case)


@router.get("/cases/{case_id}", response_model=CaseOut)
async def get_case(case_id: UUID, session: DbSession, principal: CurrentPrincipal) -> CaseOut:
    require_role(principal, *STAFF)
    case = await repository.get_case(session, case_id)
    if case is None:
        raise NotFound(f"No case {case_id}.", kind="case-not-found")
    return await case_out(session, case)


async def _locked_case(session: AsyncSession, case_id: UUID) -> Case:
    case = await repository.get_case(session, case_id, for_update=True)
    if case is None:
        raise NotFound(f"No case {case_id}.", kind="case-not-found")
    return case


@router.post("/cases/{case_id}/investigation", response_model=CaseOut)
async def start_investigation(case_id: UUID, session: DbSession, principal: CurrentPrincipal) -> CaseOut:
    require_role(principal, *STAFF)
    case = await _locked_case(session, case_id)
    try:
        case.status = next_status(case.status, "investigate")  # type: ignore[arg-type]
    except InvalidTransition as exc:
        raise Conflict(f"{exc}.", kind="case-state") from exc
    case.investigating_since = datetime.now(UTC)
    await session.flush()
    return await case_out(session, case)


@router.post("/cases/{case_id}/conclusion", response_model=CaseOut)
async def conclude_case(
    case_id: UUID, body: CaseConclusion, session: DbSession, principal: CurrentPrincipal
) -> CaseOut:
    """Conclude with a finding and an amount to recover; for an institution, optionally the next 三函两牌 rung.

    A red card publishes institution.sanctioned with refuses_settlement, which settlement obeys.
    """
    require_role(principal, *STAFF)
    case = await _locked_case(session, case_id)
    today = business_date(datetime.now(UTC))
    if body.sanction and case.subject_kind == "institution":
        await repository.lock_institution_sanctions(session, case.subject_code)
    prior = await repository.institution_sanctions(
        session, case.subject_code, since=today - timedelta(days=ROLLING_DAYS)
    )
    try:
        decided = conclude(
            current=case.status,  # type: ignore[arg-type]
            subject_kind=case.subject_kind,  # type: ignore[arg-type]
            amount_to_recover=body.amount_to_recover,
            at_stake=await repository.case_active_at_stake(session, case.id),
            sanction=body.sanction,
            prior_sanctions=[Sanction(row.kind, row.issued_on) for row in prior],  # type: ignore[arg-type]
            concluded_on=today,
            penalty=body.penalty,
        )
    except InvalidTransition as exc:
        raise Conflict(f"{exc}.", kind="case-state") from exc
    except ValueError as exc:
        raise Unprocessable(f"{exc}.", kind="invalid-conclusion") from exc
    case.status = decided.status
    case.finding = body.finding
    case.amount_to_recover = decided.amount_to_recover
    case.concluded_on = today
    case.penalty = decided.penalty
    case.recovery_status = decided.recovery_status
    case.recovery_closed_on = today if decided.recovery_status == "closed" else None
    if decided.sanction is not None:
        case.sanction = decided.sanction.kind
        await repository.add_sanction(
            session,
            SanctionRow(
                id=uuid7(),
                institution_code=case.subject_code,
                kind=decided.sanction.kind,
                issued_on=today,
                case_id=case.id,
                refuses_settlement=decided.sanction.refuses_settlement,
            ),
        )
        await publish(
            session,
            InstitutionSanctioned(
                institution_code=case.subject_code,
                sanction=SANCTION_EVENT_NAMES[decided.sanction.kind],
                refuses_settlement=decided.sanction.refuses_settlement,
                effective_from=today,
                case_id=case.id,
            ),
            source=SOURCE,
        )
    await session.flush()
    return await case_out(session, case)


@router.post("/cases/{case_id}/recoveries", status_code=201, response_model=CaseOut)
async def record_recovery_payment(
    case_id: UUID, body: RecoveryPaymentIn, session: DbSession, principal: CurrentPrincipal
) -> CaseOut:
    """追回: record a payment received against a concluded case; the one that completes the amount
    to recover closes the recovery. A receipt (`reference`) is recorded once per case."""
    require_role(principal, *STAFF)
    today = business_date(datetime.now(UTC))
    if body.received_on > today:  # a receipt records money already received (and dates the statistics)
        raise Unprocessable(
            f"received_on {body.received_on} is in the future (today is {today}).",
            kind="recovery-date",
            errors=[FieldError(field="received_on", message="after today")],
        )
    case = await _locked_case(session, case_id)  # one payment at a time per case
    try:
        state = record_recovery(
            case_status=case.status,  # type: ignore[arg-type]
            recovery_status=case.recovery_status,  # type: ignore[arg-type]
            amount_to_recover=case.amount_to_recover,
            recovered=case.recovered,
            payment=body.amount,
        )
    except InvalidTransition as exc:
        raise Conflict(f"{exc}.", kind="case-state") from exc
    except ValueError as exc:
        raise Unprocessable(
            f"{exc}.", kind="over-recovery", errors=[FieldError(field="amount", message=str(exc))]
        ) from exc
    try:
        await repository.add_recovery_payment(
            session,
            RecoveryPayment(
                id=uuid7(),
                case_id=case.id,
                amount=body.amount,
                received_on=body.received_on,
                reference=body.reference,
                recorded_by=principal.subject[:100],
            ),
        )
    except IntegrityError as exc:
        raise Conflict(
            f"A payment with reference {body.reference} is already recorded for this case.",
            kind="recovery-payment-exists",
        ) from exc
    case.recovered = state.recovered
    case.recovery_status = state.status
    if state.status == "closed":
        case.recovery_closed_on = today
    await session.flush()
    return await case_out(session, case)


@router.get("/institutions/{institution_code}/credit", response_model=CreditOut)
async def institution_credit(
    institution_code: Annotated[str, Path(pattern=CODE, max_length=20)],
    session: DbSession,
    principal: CurrentPrincipal,
) -> CreditOut:
    """信用: the institution's grade today from the rolling year's sanctions and recoveries."""
    require_role(principal, *STAFF)
    today = business_date(datetime.now(UTC))
    since = today - timedelta(days=ROLLING_DAYS)
    sanctions = await repository.institution_sanctions(session, institution_code, since=since)
    cases = await repository.institution_recoveries(session, institution_code, since=since)
    recoveries = [
        Recovery(case.amount_to_recover, case.concluded_on)
        for case in cases
        if case.amount_to_recover is not None and case.concluded_on is not None
    ]
    graded = credit_grade(
        [Sanction(row.kind, row.issued_on) for row in sanctions],  # type: ignore[arg-type]
        recoveries,
        today,
    )
    return CreditOut(
        institution_code=institution_code,
        on=today,
        grade=graded.grade,
        score=graded.score,
        sanctions=[SanctionOut.model_validate(row) for row in sanctions],
        recovered=sum((r.amount for r in recoveries), Decimal("0.00")),
    )


MONTH = r"^2[01]\d\d-(0[1-9]|1[0-2])$"  # 2000-01 … 2199-12


@router.get("/statistics", response_model=StatisticsOut)
async def statistics(
    session: DbSession,
    principal: CurrentPrincipal,
    from_month: Annotated[str, Query(pattern=MONTH, description="first month, YYYY-MM")],
    to_month: Annotated[str, Query(pattern=MONTH, description="last month, YYYY-MM, inclusive")],
) -> StatisticsOut:
    """Bureau-style statistics by region and month: inspections, letters and cards, recovered and
    refused, penalties and the recovery payments collected."""
    require_role(principal, *STAFF)
    start = date(int(from_month[:4]), int(from_month[5:]), 1)
    last = date(int(to_month[:4]), int(to_month[5:]), 1)
    if last < start or (last.year - start.year) * 12 + last.month - start.month >= 120:
        raise Unprocessable(
            "to_month must be on or after from_month, and the span at most 120 months.",
            kind="invalid-period",
            errors=[FieldError(field="to_month", message="before from_month or too far after it")],
        )
    end = date(last.year + (last.month == 12), last.month % 12 + 1, 1)
    rows = merge_statistics(
        await repository.case_statistics(session, start=start, end=end),
        await repository.flag_statistics(session, start=start, end=end),
        await repository.collection_statistics(session, start=start, end=end),
    )
    return StatisticsOut(
        from_month=from_month, to_month=to_month, items=[StatisticsRow.model_validate(row) for row in rows]
    )


# ---------------------------------------------------------------------------------------------
# Peer baselines (同级同病种基线): the figures PEER-OUTLIER judges by, frozen by ops (decision 0017)
# ---------------------------------------------------------------------------------------------


def _month(text: str) -> date:
    return date(int(text[:4]), int(text[5:7]), 1)


def _baseline_out(row: repository.PeerBaselineSummary) -> PeerBaselineOut:
    return PeerBaselineOut(
        period=f"{row.period:%Y-%m}",
        taken_at=row.taken_at,
        taken_by=row.taken_by,
        institutions=row.institutions,
        diagnosis_groups=row.diagnosis_groups,
        cases=row.cases,
    )


@router.post("/peer-baselines", status_code=201, response_model=PeerBaselineOut)
async def take_peer_baseline(body: PeerBaselineIn, session: DbSession, principal: CurrentPrincipal) -> PeerBaselineOut:
    """Freeze a closed month's cost per case by institution, level and diagnosis group (claims by
    settlement date, reversed ones excluded). PEER-OUTLIER judges each claim against the latest
    baseline of a month before the claim's own. Taking a month again replaces its baseline; run it
    monthly, early on the 1st (ops' scheduler)."""
    require_role(principal, Role.OPS, Role.ADMIN)
    period = _month(body.period)
    today = business_date(datetime.now(UTC))
    if not is_closed_period(period, today):
        raise Unprocessable(
            f"{body.period} is not over yet (today is {today}): only a closed month can be frozen, "
            "since claims still settling in it would change its figures.",
            kind="period-not-closed",
            errors=[FieldError(field="period", message="not a closed month")],
        )
    taken_by = (principal.subject or principal.role.value)[:100]  # the column's width
    taken = await repository.take_peer_baseline(session, period, taken_by)
    return _baseline_out(taken)


@router.get("/peer-baselines", response_model=PeerBaselinePage)
async def list_peer_baselines(
    session: DbSession,
    principal: CurrentPrincipal,
    limit: Annotated[int, Query(ge=1, le=120)] = 24,
    cursor: Annotated[str | None, Query(pattern=MONTH, description="next_cursor of the page before")] = None,
) -> PeerBaselinePage:
    """The peer baselines taken, newest month first."""
    require_role(principal, *STAFF)
    rows = await repository.peer_baselines(session, before=_month(cursor) if cursor else None, limit=limit + 1)
    page = rows[:limit]
    return PeerBaselinePage(
        items=[_baseline_out(row) for row in page],
        next_cursor=f"{page[-1].period:%Y-%m}" if len(rows) > limit else None,
    )


@router.get("/peer-baselines/{period}/costs", response_model=PeerGroupOut)
async def peer_baseline_costs(
    session: DbSession,
    principal: CurrentPrincipal,
    period: Annotated[str, Path(pattern=MONTH, description="YYYY-MM")],
    institution_level: Annotated[int, Query(ge=0, le=3, description="医院等级 0-3")],
    diagnosis_group: Annotated[str, Query(pattern=r"^[A-Za-z0-9]{3}$", description="ICD-10 category, e.g. J18")],
) -> PeerGroupOut:
    """The figures a PEER-OUTLIER finding was judged by: every institution's cases and cost in one
    level and diagnosis group of a baseline (the flag's message names the month)."""
    require_role(principal, *STAFF)
    month = _month(period)
    baseline = await repository.peer_baseline(session, month)
    if baseline is None:
        raise NotFound(
            f"No peer baseline of {period} has been taken; take one with POST /peer-baselines.",
            kind="peer-baseline-not-found",
        )
    group = diagnosis_group.upper()
    costs = await repository.peer_baseline_group(session, month, institution_level, group)
    return PeerGroupOut(
        period=period,
        taken_at=baseline.taken_at,
        institution_level=institution_level,
        diagnosis_group=group,
        items=[
            PeerCostOut(
                institution_code=cost.institution_code,
                cases=cost.cases,
                total_cost=cost.total_cost,
                cost_per_case=to_fen(cost.cost_per_case),
            )
            for cost in costs
        ],
    )


# ---------------------------------------------------------------------------------------------
# The rule library: versions, activation, backtests
# ---------------------------------------------------------------------------------------------

BACKTEST_MAX_CLAIMS = 2000


@router.get("/rules", response_model=list[RuleVersionOut])
async def list_rule_versions(session: DbSession, principal: CurrentPrincipal) -> list[RuleVersionOut]:
    require_role(principal, *STAFF)
    return [RuleVersionOut.model_validate(row) for row in await repository.rule_version_rows(session)]


@router.post("/rules/{rule_id}/versions", status_code=201, response_model=RuleVersionOut)
async def create_rule_version(
    rule_id: Annotated[str, Path(pattern=CODE, max_length=50)],
    body: RuleVersionCreate,
    session: DbSession,
    principal: CurrentPrincipal,
) -> RuleVersionOut:
    """A new, inactive version of a rule (规则版本); backtest it, then activate it."""
    require_role(principal, Role.AUDITOR, Role.ADMIN)
    versions = await repository.lock_rule(session, rule_id)
    if not versions:
        raise NotFound(f"No rule {rule_id}.", kind="rule-not-found")
    latest = versions[-1]
    row = RuleVersionRow(
        rule_id=rule_id,
        version=latest.version + 1,
        family=latest.family,
        stages=sorted(body.stages) if body.stages is not None else list(latest.stages),
        severity=body.severity or latest.severity,
        parameters=body.parameters if body.parameters is not None else dict(latest.parameters),
        scope=body.scope if body.scope is not None else dict(latest.scope),
        window_days=body.window_days if "window_days" in body.model_fields_set else latest.window_days,
        effective_from=body.effective_from,
        effective_to=body.effective_to,
        active=False,
    )
    try:
        check_rule_version(repository.as_rule_version(row))
    except ValueError as exc:
        raise Unprocessable(f"This rule version cannot run: {exc}", kind="invalid-rule-version") from exc
    await repository.add_rule_version(session, row)
    precheck_rules.forget()
    await session.refresh(row)
    return RuleVersionOut.model_validate(row)


@router.post("/rules/{rule_id}/versions/{version}/activation", response_model=RuleVersionOut)
async def activate_rule_version(
    rule_id: Annotated[str, Path(pattern=CODE, max_length=50)],
    version: Annotated[int, Path(ge=1, le=1_000_000)],
    session: DbSession,
    principal: CurrentPrincipal,
) -> RuleVersionOut:
    """Make this version the one audits and prechecks use (the previous one stays, inactive)."""
    require_role(principal, Role.AUDITOR, Role.ADMIN)
    versions = {row.version: row for row in await repository.lock_rule(session, rule_id)}
    if version not in versions:
        raise NotFound(f"No version {version} of rule {rule_id}.", kind="rule-not-found")
    await repository.activate_rule_version(session, rule_id, version)
    precheck_rules.forget()
    await session.refresh(versions[version])
    return RuleVersionOut.model_validate(versions[version])


@router.post("/rules/{rule_id}/versions/{version}/backtest", response_model=BacktestOut)
async def backtest(
    rule_id: Annotated[str, Path(pattern=CODE, max_length=50)],
    version: Annotated[int, Path(ge=1, le=1_000_000)],
    body: BacktestIn,
    session: DbSession,
    principal: CurrentPrincipal,
) -> BacktestOut:
    """Run a version over the claims settled in a date range, beside the active version.

    Both run as if in force over the whole range (effective dates aside) against today's history.
    """
    require_role(principal, *STAFF)
    if body.to_date < body.from_date:
        raise Unprocessable(
            "to_date is before from_date.",
            kind="invalid-period",
            errors=[FieldError(field="to_date", message="must be on or after from_date")],
        )
    rows = {row.version: row for row in await repository.rule_version_rows(session, rule_id)}
    if version not in rows:
        raise NotFound(f"No version {version} of rule {rule_id}.", kind="rule-not-found")
    candidate = repository.as_rule_version(rows[version])
    active_row = next((row for row in rows.values() if row.active), None)
    active = None if active_row is None else repository.as_rule_version(active_row)
    claims = await repository.stored_claims(
        session, start=body.from_date, end=body.to_date, limit=BACKTEST_MAX_CLAIMS + 1
    )
    examined = claims[:BACKTEST_MAX_CLAIMS]
    window_rules = [rule for rule in (candidate, active) if rule is not None]
    candidate_hits: list[tuple[str, Finding]] = []
    active_hits: list[tuple[str, Finding]] = []
    catalogue = await knowledge_base.get(lambda: repository.knowledge_base(session))
    for claim in examined:
        history = await repository.load_history(session, claim, window_rules, catalogue)
        key = f"{claim.institution_code}/{claim.settlement_id}"
        candidate_hits += [(key, f) for f in run_as_if_in_force(candidate, claim, history)]
        if active is not None:
            active_hits += [(key, f) for f in run_as_if_in_force(active, claim, history)]
    return BacktestOut(
        rule_id=rule_id,
        from_date=body.from_date,
        to_date=body.to_date,
        claims_examined=len(examined),
        truncated=len(claims) > BACKTEST_MAX_CLAIMS,
        candidate=backtest_result(candidate.version, tally_backtest(candidate_hits)),
        active=None if active is None else backtest_result(active.version, tally_backtest(active_hits)),
    )


def backtest_result(version: int, tally: BacktestTally) -> BacktestResult:
    return BacktestResult(
        version=version,
        claims_hit=tally.claims_hit,
        findings=tally.findings,
        amount_at_stake=tally.amount_at_stake,
        top_institutions=[
            InstitutionHits(institution_code=code, findings=found, amount_at_stake=amount)
            for code, found, amount in tally.top_institutions
        ],
    )
