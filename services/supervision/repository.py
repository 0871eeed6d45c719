"""All of supervision's SQL. Functions flush; the request or consumer boundary commits."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from typing import Any
from uuid import UUID

from sqlalchemy import delete, func, select, text, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from services.supervision.audit_batch import (
    BatchHistory,
    LoadedHistory,
    PersonRow,
    RecordedClaim,
    window_start,
)
from services.supervision.models import (
    AuditResult,
    Case,
    CaseFlag,
    ClaimHistory,
    DrugPurchaseRow,
    Flag,
    InstitutionRow,
    ItemRestrictionRow,
    LtcServiceRow,
    PeerBaselineCost,
    PeerBaselineRow,
    PersonFacts,
    PointsEntry,
    PointsParameter,
    Practitioner,
    RecoveryPayment,
    RuleVersionRow,
    SanctionRow,
    TraceabilityCode,
)
from services.supervision.service import (
    DRUG_PURCHASE_RULES,
    PRIOR_CLAIM_RULES,
    DrugPurchase,
    History,
    InstitutionCost,
    InstitutionProfile,
    ItemRestriction,
    LtcService,
    PriorClaim,
    RuleVersion,
    claim_total,
    diagnosis_group,
    drug_groups,
    month_of,
    next_month,
    projection_lookback_days,
    rule_version_from_row,
    traceability_codes,
    with_profile,
)
from shared.business_time import business_date
from shared.db import copy_records, fetch_row
from shared.events.contracts import ClaimSettled

# ---------------------------------------------------------------------------------------------
# Rule library, knowledge base, points parameters
# ---------------------------------------------------------------------------------------------


async def active_rules(session: AsyncSession) -> list[RuleVersion]:
    """The active version of every rule, in rule id order (findings come out in that order)."""
    rows = await session.scalars(select(RuleVersionRow).where(RuleVersionRow.active).order_by(RuleVersionRow.rule_id))
    return [as_rule_version(row) for row in rows]


async def points_table(session: AsyncSession) -> dict[tuple[str, str], int]:
    rows = await session.scalars(select(PointsParameter))
    return {(row.family, row.severity): row.points for row in rows}


# ---------------------------------------------------------------------------------------------
# The history view: one indexed query per projection
# ---------------------------------------------------------------------------------------------


async def load_history(
    session: AsyncSession,
    claim: ClaimSettled,
    rules: Sequence[RuleVersion],
    catalogue: Mapping[str, ItemRestriction],
) -> History:
    """Everything the rules may read about this claim's person, codes, institution and window
    (backtests): the batch loader on a batch of one."""
    loaded = await load_batch_history(session, [claim], rules, catalogue)
    return BatchHistory.for_rules(loaded, rules).history_for(claim)


async def load_draft_history(
    session: AsyncSession,
    draft: ClaimSettled,
    rules: Sequence[RuleVersion],
    catalogue: Mapping[str, ItemRestriction],
) -> tuple[ClaimSettled, History]:
    """A draft claim (a precheck's order, an in-stage check's claim) completed with its institution's
    profile where it does not say its level, type or region, and its history: one round trip."""
    loaded = await load_batch_history(session, [draft], rules, catalogue, institutions=[draft.institution_code])
    claim = with_profile(draft, loaded.institutions.get(draft.institution_code))
    if claim.institution_level != draft.institution_level and "PEER-OUTLIER" in {rule.rule_id for rule in rules}:
        # Peers are keyed by the level the profile has just told; a second read (no stage runs it today).
        loaded = await load_batch_history(session, [claim], rules, catalogue)
    return claim, BatchHistory.for_rules(loaded, rules).history_for(claim)


# ---------------------------------------------------------------------------------------------
# Recording a settled claim into the projections, and forgetting a reversed one
# ---------------------------------------------------------------------------------------------


async def record_claim(session: AsyncSession, claim: ClaimSettled, catalogue: Sequence[ItemRestriction]) -> None:
    """Put an audited claim into the history the next claims are judged against."""
    settled_on = business_date(claim.settled_at)
    await session.execute(
        insert(ClaimHistory)
        .values(
            settlement_id=claim.settlement_id,
            person_no=claim.person_no,
            institution_code=claim.institution_code,
            practitioner_code=claim.practitioner_code,
            visit_type=claim.visit_type,
            admitted_on=claim.admitted_on,
            discharged_on=claim.discharged_on,
            diagnoses=list(claim.diagnoses),
            item_codes=sorted({line.item_code for line in claim.lines}),
            total=claim_total(claim),
            institution_level=claim.institution_level,
            diagnosis_group=diagnosis_group(claim),
            region_code=claim.region_code,
            settled_on=settled_on,
            claim=claim.model_dump(mode="json"),
        )
        .on_conflict_do_nothing()
    )
    groups = drug_groups(claim, catalogue)
    if groups:
        await session.execute(
            insert(DrugPurchaseRow)
            .values(
                [
                    {
                        "settlement_id": claim.settlement_id,
                        "drug_group": group,
                        "person_no": claim.person_no,
                        "practitioner_code": claim.practitioner_code,
                        "institution_code": claim.institution_code,
                        "purchased_on": claim.admitted_on,
                    }
                    for group in sorted(groups)
                ]
            )
            .on_conflict_do_nothing()
        )
    codes = sorted(set(traceability_codes(claim)))
    if codes:
        # The first settlement that sold a code keeps it; a resale is a flag, not a new owner.
        await session.execute(
            insert(TraceabilityCode)
            .values(
                [
                    {
                        "code": code,
                        "settlement_id": claim.settlement_id,
                        "person_no": claim.person_no,
                        "sold_on": settled_on,
                    }
                    for code in codes
                ]
            )
            .on_conflict_do_nothing()
        )
    profile = insert(InstitutionRow).values(
        institution_code=claim.institution_code,
        institution_level=claim.institution_level,
        institution_type=claim.institution_type,
        region_code=claim.region_code,
    )
    await session.execute(
        profile.on_conflict_do_update(
            index_elements=["institution_code"],
            set_={
                "institution_level": profile.excluded.institution_level,
                "institution_type": profile.excluded.institution_type,
                "region_code": profile.excluded.region_code,
            },
        )
    )


async def forget_claim(session: AsyncSession, settlement_id: UUID) -> None:
    """Remove a reversed claim from the history and its codes (a baseline taken before keeps it:
    frozen figures change only when ops take that month again)."""
    await session.execute(delete(ClaimHistory).where(ClaimHistory.settlement_id == settlement_id))
    await session.execute(delete(DrugPurchaseRow).where(DrugPurchaseRow.settlement_id == settlement_id))
    await session.execute(delete(TraceabilityCode).where(TraceabilityCode.settlement_id == settlement_id))


# ---------------------------------------------------------------------------------------------
# Persons and LTC projections
# ---------------------------------------------------------------------------------------------


async def record_person(session: AsyncSession, person_no: str, *, sex: str, birth_date: date) -> None:
    statement = insert(PersonFacts).values(person_no=person_no, sex=sex, birth_date=birth_date)
    await session.execute(
        statement.on_conflict_do_update(index_elements=["person_no"], set_={"sex": sex, "birth_date": birth_date})
    )


async def record_death(session: AsyncSession, person_no: str, died_on: date) -> None:
    statement = insert(PersonFacts).values(person_no=person_no, died_on=died_on)
    await session.execute(statement.on_conflict_do_update(index_elements=["person_no"], set_={"died_on": died_on}))


async def record_ltc_service(
    session: AsyncSession, *, visit_id: UUID, person_no: str, service_date: date, amount: Decimal
) -> None:
    await session.execute(
        insert(LtcServiceRow)
        .values(visit_id=visit_id, person_no=person_no, service_date=service_date, amount=amount)
        .on_conflict_do_nothing()
    )


# ---------------------------------------------------------------------------------------------
# Audit results and flags
# ---------------------------------------------------------------------------------------------


async def claim_audit(session: AsyncSession, **values: object) -> bool:
    """Insert the audit result; False if this claim was audited (or reversed) already."""
    inserted = await session.execute(
        insert(AuditResult).values(**values).on_conflict_do_nothing().returning(AuditResult.settlement_id)
    )
    return inserted.first() is not None


@dataclass(frozen=True, slots=True)
class NewFlag:
    """A flag as the audit writes it (a plain record: the batch never reads it back through the ORM)."""

    id: UUID
    settlement_id: UUID
    rule_id: str
    rule_version: int
    severity: str
    line_no: int | None
    amount_at_stake: Decimal
    message: str
    status: str = "active"


async def add_flags(session: AsyncSession, flags: Sequence[NewFlag]) -> None:
    """Insert new flags (after their audit rows: a flag references its audit)."""
    await _copy_new(session, "flags", flags, _FLAG_COLUMNS)


_FLAG_COLUMNS = (
    "id", "settlement_id", "rule_id", "rule_version", "severity", "line_no", "amount_at_stake", "message", "status"
)  # fmt: skip


async def withdraw_flags(session: AsyncSession, settlement_id: UUID, at: datetime) -> list[Flag]:
    """Withdraw a reversed settlement's active flags; returns the ones withdrawn now."""
    await session.execute(update(AuditResult).where(AuditResult.settlement_id == settlement_id).values(withdrawn_at=at))
    withdrawn = await session.scalars(
        update(Flag)
        .where(Flag.settlement_id == settlement_id, Flag.status == "active")
        .values(status="withdrawn", withdrawn_at=at)
        .returning(Flag)
    )
    return list(withdrawn)


async def get_audit(session: AsyncSession, settlement_id: UUID) -> tuple[AuditResult, list[Flag]] | None:
    audit = await session.get(AuditResult, settlement_id)
    if audit is None:
        return None
    flags = await session.scalars(select(Flag).where(Flag.settlement_id == settlement_id).order_by(Flag.id))
    return audit, list(flags)


async def list_flags(session: AsyncSession, *, after: UUID | None, limit: int) -> list[Flag]:
    """Keyset page in flag id order (UUIDv7: creation order)."""
    query = select(Flag).order_by(Flag.id).limit(limit)
    if after is not None:
        query = query.where(Flag.id > after)
    return list(await session.scalars(query))


# ---------------------------------------------------------------------------------------------
# 医保医师记分
# ---------------------------------------------------------------------------------------------


async def lock_practitioner(session: AsyncSession, code: str, *, institution_code: str, year: int) -> Practitioner:
    """The practitioner's row, created on first use, locked for this transaction's update."""
    await session.execute(
        insert(Practitioner)
        .values(practitioner_code=code, institution_code=institution_code, year=year, points=0, reached=[])
        .on_conflict_do_nothing()
    )
    row = await session.scalar(
        select(Practitioner)
        .where(Practitioner.practitioner_code == code)
        .with_for_update()
        .execution_options(populate_existing=True)
    )
    assert row is not None  # inserted above if it was missing
    return row


@dataclass
class LockedPractitioner:
    """A practitioner's tally row, locked for this transaction, changed in memory by the scoring and
    written back by `save_practitioners` (a plain row, not an ORM object: one UPDATE for them all)."""

    practitioner_code: str
    institution_code: str | None
    year: int
    points: int
    reached: list[str]
    status: str
    suspended_from: date | None


_CREATE_PRACTITIONERS = text(
    "INSERT INTO practitioners (practitioner_code, institution_code, year, points, reached) "
    "SELECT code, institution, year, 0, '{}' FROM unnest(CAST(:codes AS varchar[]), "
    "CAST(:institutions AS varchar[]), CAST(:years AS integer[])) AS batch(code, institution, year) "
    "ON CONFLICT DO NOTHING"
)
_LOCK_PRACTITIONERS = text(
    "SELECT practitioner_code, institution_code, year, points, reached, status, suspended_from "
    "FROM practitioners WHERE practitioner_code = ANY(CAST(:codes AS varchar[])) "
    "ORDER BY practitioner_code FOR UPDATE"
)
_SAVE_PRACTITIONERS = text(
    """
    UPDATE practitioners AS p
    SET institution_code = batch.institution_code, year = batch.year, points = batch.points,
        reached = batch.reached, status = batch.status, suspended_from = batch.suspended_from
    FROM jsonb_to_recordset(CAST(:rows AS jsonb)) AS batch(
        practitioner_code varchar, institution_code varchar, year integer, points integer, reached varchar[],
        status varchar, suspended_from date)
    WHERE p.practitioner_code = batch.practitioner_code
    """
)


async def lock_practitioners(
    session: AsyncSession, first_claims: dict[str, tuple[str, int]]
) -> dict[str, LockedPractitioner]:
    """Several practitioners' rows (code -> (institution, year) to create a missing one with), created
    on first use and locked for this transaction in code order (so two batches never deadlock)."""
    codes = sorted(first_claims)
    await session.execute(
        _CREATE_PRACTITIONERS,
        {
            "codes": codes,
            "institutions": [first_claims[code][0] for code in codes],
            "years": [first_claims[code][1] for code in codes],
        },
    )
    rows = await session.execute(_LOCK_PRACTITIONERS, {"codes": codes})
    return {row.practitioner_code: LockedPractitioner(*row) for row in rows}


async def save_practitioners(session: AsyncSession, rows: Sequence[LockedPractitioner]) -> None:
    """Write locked tallies back, in one statement."""
    if not rows:
        return
    document = [
        {
            "practitioner_code": row.practitioner_code,
            "institution_code": row.institution_code,
            "year": row.year,
            "points": row.points,
            "reached": list(row.reached),
            "status": row.status,
            "suspended_from": None if row.suspended_from is None else row.suspended_from.isoformat(),
        }
        for row in rows
    ]
    await session.execute(_SAVE_PRACTITIONERS, {"rows": json.dumps(document, ensure_ascii=False)})


async def add_points_entries(session: AsyncSession, entries: list[PointsEntry]) -> None:
    """Append to the points ledger."""
    await _copy_new(session, "practitioner_points", entries, _POINTS_ENTRY_COLUMNS)


_POINTS_ENTRY_COLUMNS = ("id", "practitioner_code", "year", "settlement_id", "flag_id", "rule_id", "points")


async def points_for_flags(session: AsyncSession, flag_ids: Sequence[UUID]) -> list[PointsEntry]:
    """The positive ledger entries that scored these flags."""
    if not flag_ids:
        return []
    rows = await session.scalars(
        select(PointsEntry).where(PointsEntry.flag_id.in_(list(flag_ids)), PointsEntry.points > 0)
    )
    return list(rows)


async def get_practitioner(session: AsyncSession, code: str, *, for_update: bool = False) -> Practitioner | None:
    return await session.get(Practitioner, code, with_for_update=for_update)


async def recent_points(session: AsyncSession, code: str, *, limit: int) -> list[PointsEntry]:
    rows = await session.scalars(
        select(PointsEntry)
        .where(PointsEntry.practitioner_code == code)
        .order_by(PointsEntry.recorded_at.desc(), PointsEntry.id.desc())
        .limit(limit)
    )
    return list(rows)


async def ledger_total(session: AsyncSession, code: str, year: int) -> int:
    total = await session.scalar(
        select(func.coalesce(func.sum(PointsEntry.points), 0)).where(
            PointsEntry.practitioner_code == code, PointsEntry.year == year
        )
    )
    return int(total or 0)


# ---------------------------------------------------------------------------------------------
# Cases and sanctions
# ---------------------------------------------------------------------------------------------


async def lock_flags(session: AsyncSession, flag_ids: Sequence[UUID]) -> list[tuple[Flag, AuditResult, UUID | None]]:
    """The flags with their audits and current case (if any), locked so two cases cannot take one flag."""
    rows = await session.execute(
        select(Flag, AuditResult, CaseFlag.case_id)
        .join(AuditResult, AuditResult.settlement_id == Flag.settlement_id)
        .outerjoin(CaseFlag, CaseFlag.flag_id == Flag.id)
        .where(Flag.id.in_(list(flag_ids)))
        .order_by(Flag.id)
        .with_for_update(of=Flag)
    )
    return [(flag, audit, case_id) for flag, audit, case_id in rows.tuples()]


async def add_case(session: AsyncSession, case: Case, flag_ids: Sequence[UUID]) -> None:
    session.add(case)
    await session.flush()
    session.add_all([CaseFlag(flag_id=flag_id, case_id=case.id) for flag_id in flag_ids])
    await session.flush()


async def get_case(session: AsyncSession, case_id: UUID, *, for_update: bool = False) -> Case | None:
    query = select(Case).where(Case.id == case_id)
    if for_update:
        query = query.with_for_update().execution_options(populate_existing=True)
    found: Case | None = (await session.scalars(query)).first()
    return found


async def case_flag_ids(session: AsyncSession, case_id: UUID) -> list[UUID]:
    rows = await session.scalars(select(CaseFlag.flag_id).where(CaseFlag.case_id == case_id).order_by(CaseFlag.flag_id))
    return list(rows)


async def case_active_at_stake(session: AsyncSession, case_id: UUID) -> Decimal:
    """What the case's flags still put at stake: a flag withdrawn since the case opened (its settlement
    reversed, the money back in the fund) counts no more. The flags are held FOR SHARE, so a reversal
    being consumed now withdraws them after this transaction, not in the middle of it."""
    amounts = await session.scalars(
        select(Flag.amount_at_stake)
        .join(CaseFlag, CaseFlag.flag_id == Flag.id)
        .where(CaseFlag.case_id == case_id, Flag.status == "active")
        .with_for_update(of=Flag, read=True)
    )
    return sum(amounts, Decimal("0.00"))


async def lock_institution_sanctions(session: AsyncSession, institution_code: str) -> None:
    """Serialise sanction decisions for one institution: each one escalates from the one before."""
    await session.execute(select(func.pg_advisory_xact_lock(func.hashtextextended(f"sanctions:{institution_code}", 0))))


async def institution_sanctions(session: AsyncSession, institution_code: str, *, since: date) -> list[SanctionRow]:
    rows = await session.scalars(
        select(SanctionRow)
        .where(SanctionRow.institution_code == institution_code, SanctionRow.issued_on >= since)
        .order_by(SanctionRow.issued_on, SanctionRow.id)
    )
    return list(rows)


async def add_sanction(session: AsyncSession, sanction: SanctionRow) -> None:
    session.add(sanction)
    await session.flush()


async def recovery_payments(session: AsyncSession, case_id: UUID) -> list[RecoveryPayment]:
    rows = await session.scalars(
        select(RecoveryPayment).where(RecoveryPayment.case_id == case_id).order_by(RecoveryPayment.recorded_at)
    )
    return list(rows)


async def add_recovery_payment(session: AsyncSession, payment: RecoveryPayment) -> None:
    """Flush the payment; a second payment with the case's reference raises IntegrityError."""
    async with session.begin_nested():
        session.add(payment)
        await session.flush()


async def institution_recoveries(session: AsyncSession, institution_code: str, *, since: date) -> list[Case]:
    rows = await session.scalars(
        select(Case).where(
            Case.subject_kind == "institution",
            Case.subject_code == institution_code,
            Case.status == "concluded",
            Case.concluded_on >= since,
        )
    )
    return list(rows)


# ---------------------------------------------------------------------------------------------
# Statistics (like the bureau's reports), by the institution's region and business month
# ---------------------------------------------------------------------------------------------

_CASE_STATISTICS = text(
    """
    WITH concluded AS (
        SELECT c.concluded_on, c.amount_to_recover, c.sanction, c.penalty,
               CASE WHEN c.subject_kind = 'institution' THEN c.subject_code ELSE p.institution_code END
                   AS institution_code
        FROM cases c
        LEFT JOIN practitioners p ON c.subject_kind = 'practitioner' AND p.practitioner_code = c.subject_code
        WHERE c.status = 'concluded' AND c.concluded_on >= :start AND c.concluded_on < :end
    )
    SELECT coalesce(i.region_code, '') AS region_code,
           to_char(c.concluded_on, 'YYYY-MM') AS month,
           count(DISTINCT c.institution_code) AS institutions_inspected,
           count(*) AS cases_concluded,
           count(*) FILTER (WHERE c.sanction IN ('reminder', 'interview', 'warning')) AS letters,
           count(*) FILTER (WHERE c.sanction = 'yellow') AS yellow_cards,
           count(*) FILTER (WHERE c.sanction = 'red') AS red_cards,
           coalesce(sum(c.amount_to_recover), 0) AS amount_recovered,
           coalesce(sum(c.penalty), 0) AS penalties
    FROM concluded c
    LEFT JOIN institutions i ON i.institution_code = c.institution_code
    GROUP BY 1, 2
    """
)

_FLAG_STATISTICS = text(
    """
    SELECT coalesce(i.region_code, '') AS region_code,
           to_char(f.created_at AT TIME ZONE 'Asia/Shanghai', 'YYYY-MM') AS month,
           count(*) AS flags,
           coalesce(sum(f.amount_at_stake) FILTER (WHERE f.severity = 'refuse'), 0) AS amount_refused
    FROM flags f
    JOIN audit_results a ON a.settlement_id = f.settlement_id
    LEFT JOIN institutions i ON i.institution_code = a.institution_code
    WHERE f.status = 'active'
      AND f.created_at >= (CAST(:start AS date)::timestamp AT TIME ZONE 'Asia/Shanghai')
      AND f.created_at < (CAST(:end AS date)::timestamp AT TIME ZONE 'Asia/Shanghai')
    GROUP BY 1, 2
    """
)


async def case_statistics(session: AsyncSession, *, start: date, end: date) -> list[dict[str, Any]]:
    """Concluded cases per region and month in [start, end): inspections, letters, cards, recoveries."""
    rows = await session.execute(_CASE_STATISTICS, {"start": start, "end": end})
    return [dict(row._mapping) for row in rows]


_COLLECTION_STATISTICS = text(
    """
    SELECT coalesce(i.region_code, '') AS region_code,
           to_char(r.received_on, 'YYYY-MM') AS month,
           sum(r.amount) AS amount_collected
    FROM recovery_payments r
    JOIN cases c ON c.id = r.case_id
    LEFT JOIN practitioners p ON c.subject_kind = 'practitioner' AND p.practitioner_code = c.subject_code
    LEFT JOIN institutions i
           ON i.institution_code = CASE WHEN c.subject_kind = 'institution' THEN c.subject_code
                                        ELSE p.institution_code END
    WHERE r.received_on >= :start AND r.received_on < :end
    GROUP BY 1, 2
    """
)


async def collection_statistics(session: AsyncSession, *, start: date, end: date) -> list[dict[str, Any]]:
    """Recovery payments received per region and month in [start, end)."""
    rows = await session.execute(_COLLECTION_STATISTICS, {"start": start, "end": end})
    return [dict(row._mapping) for row in rows]


async def flag_statistics(session: AsyncSession, *, start: date, end: date) -> list[dict[str, Any]]:
    """Active flags per region and month in [start, end), and the refuse-severity amount (拒付)."""
    rows = await session.execute(_FLAG_STATISTICS, {"start": start, "end": end})
    return [dict(row._mapping) for row in rows]


# ---------------------------------------------------------------------------------------------
# Rule versions: create, activate, backtest over stored claims
# ---------------------------------------------------------------------------------------------


async def rule_version_rows(session: AsyncSession, rule_id: str | None = None) -> list[RuleVersionRow]:
    query = select(RuleVersionRow).order_by(RuleVersionRow.rule_id, RuleVersionRow.version)
    if rule_id is not None:
        query = query.where(RuleVersionRow.rule_id == rule_id)
    return list(await session.scalars(query))


async def lock_rule(session: AsyncSession, rule_id: str) -> list[RuleVersionRow]:
    """A rule's versions, locked: versions are numbered and activated one at a time."""
    rows = await session.scalars(
        select(RuleVersionRow)
        .where(RuleVersionRow.rule_id == rule_id)
        .order_by(RuleVersionRow.version)
        .with_for_update()
        .execution_options(populate_existing=True)
    )
    return list(rows)


async def add_rule_version(session: AsyncSession, row: RuleVersionRow) -> None:
    session.add(row)
    await session.flush()


async def activate_rule_version(session: AsyncSession, rule_id: str, version: int) -> None:
    # Deactivate first: the partial unique index allows one active version per rule.
    await session.execute(
        update(RuleVersionRow).where(RuleVersionRow.rule_id == rule_id, RuleVersionRow.active).values(active=False)
    )
    await session.execute(
        update(RuleVersionRow)
        .where(RuleVersionRow.rule_id == rule_id, RuleVersionRow.version == version)
        .values(active=True)
    )


def as_rule_version(row: RuleVersionRow) -> RuleVersion:
    return rule_version_from_row(
        rule_id=row.rule_id,
        version=row.version,
        family=row.family,
        stages=row.stages,
        severity=row.severity,
        parameters=row.parameters,
        scope=row.scope,
        window_days=row.window_days,
        effective_from=row.effective_from,
        effective_to=row.effective_to,
    )


async def stored_claims(session: AsyncSession, *, start: date, end: date, limit: int) -> list[ClaimSettled]:
    """Claims settled (business date) in [start, end], oldest first, at most `limit`."""
    rows = await session.scalars(
        select(ClaimHistory.claim)
        .where(ClaimHistory.settled_on >= start, ClaimHistory.settled_on <= end)
        .order_by(ClaimHistory.settled_on, ClaimHistory.settlement_id)
        .limit(limit)
    )
    return [ClaimSettled.model_validate(claim) for claim in rows]


# ---------------------------------------------------------------------------------------------
# Peer baselines (同级同病种基线): a closed month's cost per case, frozen by ops (decision 0017)
# ---------------------------------------------------------------------------------------------

# The month's claims still in the history (reversed ones are forgotten), counted in one statement,
# and the baseline's summary written from what was inserted.
_COUNT_BASELINE = text(
    """
    WITH counted AS (
        INSERT INTO peer_baseline_costs (period, institution_level, diagnosis_group, institution_code, cases,
                                         total_cost)
        SELECT CAST(:period AS date), h.institution_level, h.diagnosis_group, h.institution_code, count(*),
               sum(h.total)
        FROM claim_history h
        WHERE h.settled_on >= :period AND h.settled_on < :next_period
          AND h.institution_level IS NOT NULL AND h.diagnosis_group IS NOT NULL
        GROUP BY h.institution_level, h.diagnosis_group, h.institution_code
        RETURNING institution_level, diagnosis_group, institution_code, cases
    )
    UPDATE peer_baselines AS b
    SET institutions = summary.institutions, diagnosis_groups = summary.diagnosis_groups, cases = summary.cases
    FROM (SELECT count(DISTINCT institution_code) AS institutions,
                 count(DISTINCT (institution_level, diagnosis_group)) AS diagnosis_groups,
                 coalesce(sum(cases), 0) AS cases
          FROM counted) AS summary
    WHERE b.period = :period
    RETURNING b.period, b.taken_at, b.taken_by, b.institutions, b.diagnosis_groups, b.cases
    """
)


@dataclass(frozen=True)
class PeerBaselineSummary:
    period: date
    taken_at: datetime
    taken_by: str
    institutions: int
    diagnosis_groups: int
    cases: int


async def take_peer_baseline(session: AsyncSession, period: date, taken_by: str) -> PeerBaselineSummary:
    """Count the month's settled claims by level, diagnosis group and institution, replacing any
    earlier baseline of that month. Concurrent takers of one month queue on its row; the last to
    commit stands (both counted the same claims unless one was reversed in between)."""
    await session.execute(
        insert(PeerBaselineRow)
        .values(period=period, taken_by=taken_by, institutions=0, diagnosis_groups=0, cases=0)
        .on_conflict_do_update(index_elements=["period"], set_={"taken_at": func.now(), "taken_by": taken_by})
    )
    await session.execute(text("DELETE FROM peer_baseline_costs WHERE period = :period"), {"period": period})
    row = (await session.execute(_COUNT_BASELINE, {"period": period, "next_period": next_month(period)})).one()
    return PeerBaselineSummary(*row)


# PeerBaselineSummary's fields, in order.
_BASELINE_SUMMARY = (
    PeerBaselineRow.period,
    PeerBaselineRow.taken_at,
    PeerBaselineRow.taken_by,
    PeerBaselineRow.institutions,
    PeerBaselineRow.diagnosis_groups,
    PeerBaselineRow.cases,
)


async def peer_baselines(session: AsyncSession, *, before: date | None, limit: int) -> list[PeerBaselineSummary]:
    """Baselines newest period first, those before `before` (a keyset cursor) when given."""
    query = select(*_BASELINE_SUMMARY).order_by(PeerBaselineRow.period.desc()).limit(limit)
    if before is not None:
        query = query.where(PeerBaselineRow.period < before)
    return [PeerBaselineSummary(*row) for row in await session.execute(query)]


async def peer_baseline(session: AsyncSession, period: date) -> PeerBaselineSummary | None:
    row = (await session.execute(select(*_BASELINE_SUMMARY).where(PeerBaselineRow.period == period))).first()
    return None if row is None else PeerBaselineSummary(*row)


async def peer_baseline_group(session: AsyncSession, period: date, level: int, group: str) -> list[InstitutionCost]:
    """One (level, diagnosis group) cell of a baseline: what PEER-OUTLIER compared, by institution code."""
    rows = await session.execute(
        select(
            PeerBaselineCost.institution_code,
            PeerBaselineCost.institution_level,
            PeerBaselineCost.diagnosis_group,
            PeerBaselineCost.cases,
            PeerBaselineCost.total_cost,
        )
        .where(
            PeerBaselineCost.period == period,
            PeerBaselineCost.institution_level == level,
            PeerBaselineCost.diagnosis_group == group,
        )
        .order_by(PeerBaselineCost.institution_code)
    )
    return [InstitutionCost(*row) for row in rows]


# ---------------------------------------------------------------------------------------------
# The audit of a batch of settled claims: a few set-based statements per batch, not per claim
# ---------------------------------------------------------------------------------------------

# Which of a batch's settlements have an audit row already (audited, or reversed before they came).
_AUDITED = text("SELECT settlement_id FROM audit_results WHERE settlement_id = ANY(CAST(:ids AS uuid[]))")

_AUDIT_COLUMNS = ("settlement_id", "person_no", "institution_code", "practitioner_code", "outcome", "rules_run")


@dataclass(frozen=True, slots=True)
class NewAudit:
    """A claim's audit row as the batch writes it, once, with its outcome (no pending row updated after)."""

    settlement_id: UUID
    person_no: str
    institution_code: str
    practitioner_code: str | None
    outcome: str
    rules_run: int


async def audited_already(session: AsyncSession, settlement_ids: Sequence[UUID]) -> set[UUID]:
    """The settlements among these that have an audit row: audited already, or reversed before they came."""
    if not settlement_ids:
        return set()
    rows = await session.execute(_AUDITED, {"ids": list(settlement_ids)})
    return {row.settlement_id for row in rows}


async def add_audits(session: AsyncSession, audits: Sequence[NewAudit]) -> None:
    """Insert finished audit rows by COPY. A settlement audited (or its reversal marked) by another
    transaction since `audited_already` looked makes the primary key refuse the COPY, and with it the
    whole batch (CopyRefused): the consumer runner then applies the batch event by event, and each
    sees the committed row. So a claim is audited once without an upsert or a pending row per claim."""
    await _copy_new(session, "audit_results", audits, _AUDIT_COLUMNS)


# The whole history view of a batch (or of one draft claim) in one statement and one round trip:
# a subquery per projection, each row an anonymous record that asyncpg decodes to a tuple of typed
# values. Every filter takes an array (`= ANY`), so the text never varies with the batch and the
# statement is prepared once per connection (an expanding IN-list compiled anew per call).
# Sent by asyncpg itself (shared.db.fetch_row): $1 institutions, $2 persons, and for each of them (same
# order) $3 the first day of their claims' windows, $4 their last day of care and $5 their last
# admission; $6 drug_groups, $7 traceability codes, $8 ltc_persons, $9 ltc_from, $10 ltc_to,
# $11 peer_levels, $12 peer_groups, $13 the months the claims settled in (for the peer baselines),
# $14 for each person the first day of their drug purchases' window (DOCTOR-SHOPPING's, not the claims').
# The windows are per person: a batch spanning months (a backlog, a replay) reads each person's
# window, not the whole span for everyone.
_HISTORY_VIEW = """
    SELECT
      ARRAY(SELECT ROW(i.institution_code, i.institution_level, i.institution_type, i.region_code)
            FROM institutions i
            WHERE i.institution_code = ANY($1::varchar[])) AS institutions,
      ARRAY(SELECT ROW(p.person_no, p.sex, p.birth_date, p.died_on)
            FROM persons p
            WHERE p.person_no = ANY($2::varchar[])) AS persons,
      ARRAY(SELECT ROW(h.person_no, h.settlement_id, h.institution_code, h.visit_type, h.admitted_on,
                       h.discharged_on, h.diagnoses, h.item_codes)
            FROM unnest($2::varchar[], $3::date[], $4::date[]) AS w(person_no, first_day, last_day)
            JOIN claim_history h ON h.person_no = w.person_no
              AND h.discharged_on >= w.first_day AND h.admitted_on <= w.last_day)
        AS prior_claims,
      ARRAY(SELECT ROW(d.person_no, d.settlement_id, d.drug_group, d.practitioner_code, d.institution_code,
                       d.purchased_on)
            FROM unnest($2::varchar[], $14::date[], $5::date[]) AS w(person_no, first_day, last_admitted)
            JOIN drug_purchases d ON d.person_no = w.person_no
              AND d.drug_group = ANY($6::varchar[])
              AND d.purchased_on >= w.first_day
              AND d.purchased_on <= w.last_admitted) AS drug_purchases,
      ARRAY(SELECT ROW(t.code, t.settlement_id)
            FROM traceability_codes t
            WHERE t.code = ANY($7::varchar[])) AS sold_codes,
      ARRAY(SELECT ROW(l.person_no, l.service_date, l.amount)
            FROM ltc_services l
            WHERE l.person_no = ANY($8::varchar[])
              AND l.service_date >= $9::date AND l.service_date <= $10::date)
        AS ltc_services,
      ARRAY(SELECT ROW(m.month, (SELECT max(b.period) FROM peer_baselines b WHERE b.period < m.month))
            FROM unnest($13::date[]) AS m(month)) AS baseline_of_month,
      ARRAY(SELECT ROW(c.period, c.institution_code, c.institution_level, c.diagnosis_group, c.cases, c.total_cost)
            FROM peer_baseline_costs c
            WHERE c.period = ANY(ARRAY(SELECT (SELECT max(b.period) FROM peer_baselines b WHERE b.period < m.month)
                                       FROM unnest($13::date[]) AS m(month)))
              AND c.institution_level = ANY($11::integer[])
              AND c.diagnosis_group = ANY($12::varchar[])
            ORDER BY c.period, c.institution_level, c.diagnosis_group, c.institution_code) AS baseline_costs
    """


async def knowledge_base(session: AsyncSession) -> dict[str, ItemRestriction]:
    """The whole knowledge base (知识库) by item code; callers keep it in a short-lived memo."""
    rows = await session.execute(
        select(
            ItemRestrictionRow.item_code,
            ItemRestrictionRow.sex,
            ItemRestrictionRow.min_age,
            ItemRestrictionRow.max_age,
            ItemRestrictionRow.min_institution_level,
            ItemRestrictionRow.max_quantity_per_day,
            ItemRestrictionRow.limit_price,
            ItemRestrictionRow.components,
            ItemRestrictionRow.drug_group,
        )
    )
    return {
        row.item_code: ItemRestriction(
            item_code=row.item_code,
            sex=row.sex,  # the column only holds M or F
            min_age=row.min_age,
            max_age=row.max_age,
            min_institution_level=row.min_institution_level,
            max_quantity_per_day=row.max_quantity_per_day,
            limit_price=row.limit_price,
            components=tuple(row.components),
            drug_group=row.drug_group,
        )
        for row in rows
    }


async def load_batch_history(
    session: AsyncSession,
    claims: Sequence[ClaimSettled],
    rules: Sequence[RuleVersion],
    catalogue: Mapping[str, ItemRestriction],
    *,
    institutions: Sequence[str] = (),
) -> LoadedHistory:
    """What the rules may read for each claim of the batch, in one statement (a superset of each
    claim's window; `audit_batch.BatchHistory` narrows it per claim). `catalogue` is the whole
    knowledge base; `institutions` are the institution profiles to read as well (a precheck's)."""
    loaded = LoadedHistory()
    if not claims:
        return loaded
    # Each projection as far back as its own readers look (a year of claims read for a 90-day rule
    # that reads drug purchases was most of the statement's rows).
    claim_days = projection_lookback_days(rules, PRIOR_CLAIM_RULES)
    purchase_days = projection_lookback_days(rules, DRUG_PURCHASE_RULES)
    # Each person's windows: from the earliest of their claims' windows to their last day of care
    # (claims), to their last admission (drug purchases).
    windows: dict[str, tuple[date, date, date, date]] = {}
    for c in claims:
        first, last = window_start(c, claim_days), c.discharged_on
        first_purchase, admitted = window_start(c, purchase_days), c.admitted_on
        known = windows.get(c.person_no)
        if known is not None:
            first, last = min(first, known[0]), max(last, known[1])
            first_purchase, admitted = min(first_purchase, known[2]), max(admitted, known[3])
        windows[c.person_no] = (first, last, first_purchase, admitted)
    persons = sorted(windows)
    # Two projections only one rule each reads: not read when that rule is not among `rules`
    # (a precheck runs the pre-stage rules only, and need not pay for them).
    wanted = {rule.rule_id for rule in rules}
    inpatients = [c for c in claims if c.visit_type == "inpatient"] if "LTC-DURING-STAY" in wanted else []
    peer_keys = {
        (c.institution_level, group)
        for c in claims
        if (group := diagnosis_group(c)) is not None and c.institution_level is not None and "PEER-OUTLIER" in wanted
    }
    # The peer rule reads the baseline before each claim's month: those months, when it is wanted.
    loaded.settled_on = {c.settlement_id: business_date(c.settled_at) for c in claims}
    months = sorted({month_of(day) for day in loaded.settled_on.values()}) if "PEER-OUTLIER" in wanted else []
    row = await fetch_row(
        session,
        _HISTORY_VIEW,
        sorted(set(institutions)),
        persons,
        [windows[person][0] for person in persons],
        [windows[person][1] for person in persons],
        [windows[person][3] for person in persons],
        sorted(_drug_groups_of(claims, catalogue)),
        sorted({code for c in claims for code in traceability_codes(c)}),
        sorted({c.person_no for c in inpatients}),
        min((c.admitted_on for c in inpatients), default=None),
        max((c.discharged_on for c in inpatients), default=None),
        sorted({level for level, _ in peer_keys}),
        sorted({group for _, group in peer_keys}),
        months,
        [windows[person][2] for person in persons],
    )
    assert row is not None  # one row of arrays, always
    for code, level, kind, region in row["institutions"]:
        loaded.institutions[code] = InstitutionProfile(level, kind, region)
    for person_no, sex, birth_date, died_on in row["persons"]:
        loaded.persons[person_no] = PersonRow(sex=sex, birth_date=birth_date, death_date=died_on)
    item_codes = {line.item_code for c in claims for line in c.lines}
    for person_no, settlement_id, institution, visit_type, admitted, discharged, diagnoses, items in row[
        "prior_claims"
    ]:
        loaded.prior_claims.setdefault(person_no, []).append(
            PriorClaim(
                settlement_id=settlement_id,
                institution_code=institution,
                visit_type=visit_type,
                admitted_on=admitted,
                discharged_on=discharged,
                diagnoses=tuple(diagnoses),
                item_codes=tuple(items),
            )
        )
        item_codes.update(items)
    loaded.catalogue = {code: catalogue[code] for code in item_codes if code in catalogue}
    for person_no, settlement_id, group, practitioner, institution, purchased_on in row["drug_purchases"]:
        loaded.drug_purchases.setdefault(person_no, []).append(
            DrugPurchase(
                settlement_id=settlement_id,
                drug_group=group,
                practitioner_code=practitioner,
                institution_code=institution,
                purchased_on=purchased_on,
            )
        )
    loaded.sold_codes = {code: settlement_id for code, settlement_id in row["sold_codes"]}
    for person_no, service_date, amount in row["ltc_services"]:
        loaded.ltc_services.setdefault(person_no, []).append(LtcService(service_date=service_date, amount=amount))
    loaded.baseline_of_month = dict(row["baseline_of_month"])
    costs: dict[tuple[date, int, str], list[InstitutionCost]] = {}
    for period, institution, level, group, cases, total_cost in row["baseline_costs"]:  # by institution code
        if (level, group) in peer_keys:
            costs.setdefault((period, level, group), []).append(
                InstitutionCost(institution, level, group, cases, total_cost)
            )
    loaded.baseline_costs = {key: tuple(figures) for key, figures in costs.items()}
    return loaded


def _drug_groups_of(claims: Sequence[ClaimSettled], catalogue: Mapping[str, ItemRestriction]) -> set[str]:
    """`drug_groups` of every claim, the knowledge base looked up once for the batch, not once a claim."""
    codes = {line.item_code for c in claims for line in c.lines}
    return {group for code in codes if (item := catalogue.get(code)) is not None and (group := item.drug_group)}


_HISTORY_COLUMNS = (
    "settlement_id", "person_no", "institution_code", "practitioner_code", "visit_type", "admitted_on",
    "discharged_on", "diagnoses", "item_codes", "total", "institution_level", "diagnosis_group", "region_code",
    "settled_on", "claim",
)  # fmt: skip
_PURCHASE_COLUMNS = (
    "settlement_id",
    "drug_group",
    "person_no",
    "practitioner_code",
    "institution_code",
    "purchased_on",
)

# The first settlement that sold a code keeps it; a resale is a flag, not a new owner: a code sold
# before (or by another transaction meanwhile) is left as it is. One fixed statement, arrays for the batch.
_RECORD_CODES = text(
    "INSERT INTO traceability_codes (code, settlement_id, person_no, sold_on) "
    "SELECT code, settlement_id, person_no, sold_on FROM unnest(CAST(:codes AS text[]), CAST(:ids AS uuid[]), "
    "CAST(:persons AS varchar[]), CAST(:days AS date[])) AS batch(code, settlement_id, person_no, sold_on) "
    "ON CONFLICT DO NOTHING"
)

# What the batch's claims say of their institutions, upserted in one fixed statement.
_RECORD_INSTITUTIONS = text(
    """
    INSERT INTO institutions (institution_code, institution_level, institution_type, region_code)
    SELECT institution_code, institution_level, institution_type, region_code
    FROM jsonb_to_recordset(CAST(:rows AS jsonb)) AS batch(
        institution_code varchar, institution_level integer, institution_type text, region_code text)
    ON CONFLICT (institution_code) DO UPDATE
    SET institution_level = EXCLUDED.institution_level, institution_type = EXCLUDED.institution_type,
        region_code = EXCLUDED.region_code
    """
)


async def record_claims(
    session: AsyncSession, recorded: Sequence[RecordedClaim], received_json: Mapping[UUID, bytes] | None = None
) -> None:
    """`record_claim` for a batch: a binary COPY into the history and the drug purchases, one statement
    each for the codes and the institutions. The claims are new (the batch's audit rows, written
    first in the same transaction, make each settlement recorded once), so plain COPY, no upsert.
    `received_json` holds claims' JSON as received (validated by their decoding), kept for the claim
    column instead of dumping the model again; `stored_claims` validates it anew on reading."""
    received = received_json or {}
    if not recorded:
        return
    history_rows: list[tuple[Any, ...]] = []
    purchase_rows: list[tuple[Any, ...]] = []
    code_rows: dict[str, tuple[UUID, str, date]] = {}
    institutions: dict[str, dict[str, Any]] = {}
    for entry in recorded:
        claim = entry.claim
        settlement_id, person_no = claim.settlement_id, claim.person_no
        settled_on = entry.settled_on or business_date(claim.settled_at)
        history_rows.append(
            (
                settlement_id,
                person_no,
                claim.institution_code,
                claim.practitioner_code,
                claim.visit_type,
                claim.admitted_on,
                claim.discharged_on,
                claim.diagnoses,
                sorted({line.item_code for line in claim.lines}),
                claim_total(claim),
                claim.institution_level,
                diagnosis_group(claim),
                claim.region_code,
                settled_on,
                _claim_json(claim, received.get(settlement_id)),
            )
        )
        purchase_rows.extend(
            (settlement_id, group, person_no, claim.practitioner_code, claim.institution_code, claim.admitted_on)
            for group in sorted(entry.drug_groups)
        )
        for code in entry.codes:
            code_rows.setdefault(code, (settlement_id, person_no, settled_on))  # the batch's first seller
        # What the last claim of the batch said about its institution wins, as one by one.
        institutions[claim.institution_code] = {
            "institution_code": claim.institution_code,
            "institution_level": claim.institution_level,
            "institution_type": claim.institution_type,
            "region_code": claim.region_code,
        }
    await copy_records(session, "claim_history", _HISTORY_COLUMNS, history_rows)
    if purchase_rows:
        await copy_records(session, "drug_purchases", _PURCHASE_COLUMNS, purchase_rows)
    if code_rows:
        sellers = list(code_rows.values())
        await session.execute(
            _RECORD_CODES,
            {
                "codes": list(code_rows),
                "ids": [seller[0] for seller in sellers],
                "persons": [seller[1] for seller in sellers],
                "days": [seller[2] for seller in sellers],
            },
        )
    await session.execute(_RECORD_INSTITUTIONS, {"rows": json.dumps(list(institutions.values()), ensure_ascii=False)})


def _claim_json(claim: ClaimSettled, received: bytes | None) -> str:
    if received is not None:
        try:
            return received.decode()
        except UnicodeDecodeError:
            pass  # not UTF-8 text: dump the model instead
    return claim.model_dump_json()


async def _copy_new(session: AsyncSession, table: str, rows: Sequence[Any], columns: Sequence[str]) -> None:
    """Insert new rows (ORM objects or plain records with those attributes) by binary COPY, with the
    given columns (the rest take their server defaults): no statement, no unit of work for rows this
    transaction never reads back."""
    if rows:
        await copy_records(session, table, columns, [tuple(getattr(row, column) for column in columns) for row in rows])
