"""All of settlement's SQL. Functions flush at most; the route or handler boundary commits."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from typing import Any
from uuid import UUID

from sqlalchemy import delete, func, or_, select, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from services.settlement.clearing import Advance, ClearingLine, SettlementTotals
from services.settlement.ledger import CLEARING_KIND, PAYABLE, RECEIVABLE, JournalLine
from services.settlement.models import (
    AccountCredit,
    AccumulatorRow,
    CatalogueItemRow,
    ClearingRun,
    ClearingRunLine,
    EligibilityCoverage,
    EligibilityDeath,
    EligibilityFamilyBinding,
    EligibilityFamilyUnbinding,
    EligibilityFiling,
    EligibilityFilingRevocation,
    EligibilityPerson,
    EligibilityStop,
    Institution,
    InstitutionSanction,
    LedgerEntry,
    PersonalAccount,
    PolicyRow,
    PractitionerStatus,
    Settlement,
)
from services.settlement.policies import PolicyRecord, parse_policy_row
from services.settlement.service import (
    ACCUMULATOR_FIELDS,
    Accumulators,
    CatalogueItem,
    Coverage,
    FamilyBinding,
    Filing,
    InstitutionInfo,
    PractitionerInfo,
    SanctionInfo,
)
from shared.db import upsert

# --- eligibility projection ------------------------------------------------------------------------


async def upsert_person(session: AsyncSession, **values: object) -> None:
    await upsert(session, EligibilityPerson, "person_no", values)


async def upsert_coverage(session: AsyncSession, **values: object) -> None:
    await upsert(session, EligibilityCoverage, "enrollment_id", values)


async def record_death(session: AsyncSession, person_no: str, died_on: date) -> None:
    await upsert(session, EligibilityDeath, "person_no", {"person_no": person_no, "died_on": died_on})


async def record_stop(
    session: AsyncSession,
    *,
    enrollment_id: UUID,
    person_no: str,
    suspended_from: date | None = None,
    terminated_on: date | None = None,
) -> None:
    """Set the suspension or the termination of an enrollment, leaving the other as it is."""
    changes: dict[str, Any] = {}
    if suspended_from is not None:
        changes["suspended_from"] = suspended_from
    if terminated_on is not None:
        changes["terminated_on"] = terminated_on
    statement = insert(EligibilityStop).values(enrollment_id=enrollment_id, person_no=person_no, **changes)
    await session.execute(statement.on_conflict_do_update(index_elements=["enrollment_id"], set_=changes))


@dataclass(frozen=True)
class Claimant:
    """What settlement knows of a person, read in one statement: registration, death, coverages."""

    person: EligibilityPerson | None
    died_on: date | None
    coverages: list[Coverage]


def _coverage(c: EligibilityCoverage, stop: EligibilityStop | None) -> Coverage:
    return Coverage(
        scheme=c.scheme,
        effective_from=c.effective_from,
        effective_to=c.effective_to,
        region_code=c.region_code,
        retiree=c.retiree,
        assistance_category=c.assistance_category,
        suspended_from=stop.suspended_from if stop else None,
        terminated_on=stop.terminated_on if stop else None,
    )


async def claimant(session: AsyncSession, person_no: str) -> Claimant:
    """The person with their death and active coverages (one row per coverage, or one without)."""
    rows = (
        (
            await session.execute(
                select(EligibilityPerson, EligibilityDeath.died_on, EligibilityCoverage, EligibilityStop)
                .outerjoin(EligibilityDeath, EligibilityDeath.person_no == EligibilityPerson.person_no)
                .outerjoin(
                    EligibilityCoverage,
                    (EligibilityCoverage.person_no == EligibilityPerson.person_no)
                    & (EligibilityCoverage.status == "active"),
                )
                .outerjoin(EligibilityStop, EligibilityStop.enrollment_id == EligibilityCoverage.enrollment_id)
                .where(EligibilityPerson.person_no == person_no)
                .order_by(EligibilityCoverage.effective_from)
            )
        )
        .tuples()
        .all()
    )
    if not rows:
        return Claimant(None, None, [])
    person, died, _, _ = rows[0]
    return Claimant(person, died, [_coverage(c, stop) for _, _, c, stop in rows if c is not None])


async def upsert_filing(session: AsyncSession, **values: object) -> None:
    await upsert(session, EligibilityFiling, "filing_id", values)


async def record_filing_revocation(session: AsyncSession, filing_id: UUID, revoked_on: date) -> None:
    await upsert(session, EligibilityFilingRevocation, "filing_id", {"filing_id": filing_id, "revoked_on": revoked_on})


async def filings(session: AsyncSession, person_no: str) -> list[Filing]:
    rows = await session.execute(
        select(EligibilityFiling, EligibilityFilingRevocation.revoked_on)
        .outerjoin(EligibilityFilingRevocation, EligibilityFilingRevocation.filing_id == EligibilityFiling.filing_id)
        .where(EligibilityFiling.person_no == person_no)
    )
    return [Filing(f.destination_region_code, f.valid_from, f.valid_to, revoked_on) for f, revoked_on in rows.tuples()]


async def upsert_family_binding(session: AsyncSession, **values: object) -> None:
    await upsert(session, EligibilityFamilyBinding, "binding_id", values)


async def record_family_unbinding(session: AsyncSession, binding_id: UUID, unbound_on: date) -> None:
    await upsert(
        session, EligibilityFamilyUnbinding, "binding_id", {"binding_id": binding_id, "unbound_on": unbound_on}
    )


async def family_bindings(session: AsyncSession, holder_person_no: str, relative_person_no: str) -> list[FamilyBinding]:
    """Every binding (current or ended) of `relative_person_no` to `holder_person_no`'s account."""
    rows = await session.execute(
        select(EligibilityFamilyBinding.bound_on, EligibilityFamilyUnbinding.unbound_on)
        .outerjoin(
            EligibilityFamilyUnbinding, EligibilityFamilyUnbinding.binding_id == EligibilityFamilyBinding.binding_id
        )
        .where(
            EligibilityFamilyBinding.person_no == holder_person_no,
            EligibilityFamilyBinding.relative_person_no == relative_person_no,
        )
    )
    return [FamilyBinding(bound_on, unbound_on) for bound_on, unbound_on in rows.tuples()]


# --- institutions, sanctions, practitioners ---------------------------------------------------------


async def upsert_institution(session: AsyncSession, **values: object) -> None:
    await upsert(session, Institution, "code", values)


async def institution_with_sanctions(
    session: AsyncSession, code: str
) -> tuple[InstitutionInfo | None, list[SanctionInfo]]:
    """The institution and its sanctions in one statement (the settle path's first check)."""
    rows = (
        (
            await session.execute(
                select(Institution, InstitutionSanction)
                .outerjoin(InstitutionSanction, InstitutionSanction.institution_code == Institution.code)
                .where(Institution.code == code)
            )
        )
        .tuples()
        .all()
    )
    if not rows:
        return None, []
    sanctions = [SanctionInfo(r.sanction, r.refuses_settlement, r.effective_from) for _, r in rows if r is not None]
    return _institution(rows[0][0]), sanctions


async def get_institution(session: AsyncSession, code: str) -> InstitutionInfo | None:
    row = await session.get(Institution, code)
    return None if row is None else _institution(row)


def _institution(row: Institution) -> InstitutionInfo:
    return InstitutionInfo(
        code=row.code,
        name=row.name,
        level=row.level,
        region_code=row.region_code,
        institution_type=row.institution_type,
        agreement_status=row.agreement_status,
    )


async def get_institution_row(session: AsyncSession, code: str) -> Institution | None:
    return await session.get(Institution, code)


async def add_sanction(session: AsyncSession, **values: object) -> None:
    await session.execute(insert(InstitutionSanction).values(**values).on_conflict_do_nothing())


async def suspend_practitioner(
    session: AsyncSession,
    code: str,
    *,
    suspended_from: date,
    suspended_until: date | None,
    points: int,
    reason: str,
) -> None:
    """Keep the latest suspension (by start date); a reinstatement is kept beside it."""
    values = {
        "practitioner_code": code,
        "suspended_from": suspended_from,
        "suspended_until": suspended_until,
        "points": points,
        "reason": reason[:500],
    }
    statement = insert(PractitionerStatus).values(**values)
    await session.execute(
        statement.on_conflict_do_update(
            index_elements=["practitioner_code"],
            set_={k: statement.excluded[k] for k in values if k != "practitioner_code"},
            where=or_(
                PractitionerStatus.suspended_from.is_(None),
                PractitionerStatus.suspended_from <= statement.excluded.suspended_from,
            ),
        )
    )


async def reinstate_practitioner(session: AsyncSession, code: str, reinstated_on: date) -> None:
    statement = insert(PractitionerStatus).values(practitioner_code=code, reinstated_on=reinstated_on)
    await session.execute(
        statement.on_conflict_do_update(
            index_elements=["practitioner_code"],
            set_={"reinstated_on": statement.excluded.reinstated_on},
            where=or_(
                PractitionerStatus.reinstated_on.is_(None),
                PractitionerStatus.reinstated_on <= statement.excluded.reinstated_on,
            ),
        )
    )


async def practitioner(session: AsyncSession, code: str) -> PractitionerInfo | None:
    row = await session.get(PractitionerStatus, code)
    if row is None:
        return None
    return PractitionerInfo(row.suspended_from, row.suspended_until, row.reinstated_on, row.reason)


# --- catalogue ---------------------------------------------------------------------------------------

_ITEM_COLUMNS = (
    "code",
    "name",
    "category",
    "item_class",
    "preselfpay_ratio",
    "limit_price",
    "sex",
    "min_age",
    "max_age",
    "min_institution_level",
    "max_qty_per_day",
    "max_qty_per_stay",
    "valid_from",
    "valid_to",
    "region",
)


async def replace_catalogue(session: AsyncSession, items: Sequence[CatalogueItem]) -> None:
    """The catalogue becomes exactly `items` (PUT semantics: loading the same file twice is a no-op)."""
    await session.execute(delete(CatalogueItemRow))
    rows = [{column: getattr(item, column) for column in _ITEM_COLUMNS} for item in items]
    for start in range(0, len(rows), 1000):  # stays well under the bind-parameter limit
        await session.execute(insert(CatalogueItemRow), rows[start : start + 1000])


async def catalogue_items(session: AsyncSession, codes: Iterable[str], region: str, on: date) -> list[CatalogueItem]:
    """Versions of these codes that are national or the region's own and valid on the date."""
    rows = await session.scalars(
        select(CatalogueItemRow).where(
            CatalogueItemRow.code.in_(sorted(set(codes))),
            CatalogueItemRow.region.in_(["", region]),
            or_(CatalogueItemRow.valid_from.is_(None), CatalogueItemRow.valid_from <= on),
            or_(CatalogueItemRow.valid_to.is_(None), CatalogueItemRow.valid_to >= on),
        )
    )
    return [_item(r) for r in rows]


async def catalogue_item_versions(session: AsyncSession, code: str) -> list[CatalogueItem]:
    rows = await session.scalars(
        select(CatalogueItemRow).where(CatalogueItemRow.code == code).order_by(CatalogueItemRow.valid_from)
    )
    return [_item(r) for r in rows]


def _item(r: CatalogueItemRow) -> CatalogueItem:
    return CatalogueItem(
        code=r.code,
        name=r.name,
        item_class=r.item_class,  # type: ignore[arg-type]
        preselfpay_ratio=r.preselfpay_ratio,
        limit_price=r.limit_price,
        category=r.category,
        sex=r.sex,  # type: ignore[arg-type]
        min_age=r.min_age,
        max_age=r.max_age,
        min_institution_level=r.min_institution_level,
        max_qty_per_day=r.max_qty_per_day,
        max_qty_per_stay=r.max_qty_per_stay,
        valid_from=r.valid_from,
        valid_to=r.valid_to,
        region=r.region,
    )


# --- policies ----------------------------------------------------------------------------------------


async def insert_policy(session: AsyncSession, record: PolicyRecord, row: dict[str, str]) -> dict[str, str] | None:
    """Insert one version. None if inserted; else the row already stored under that key and version."""
    key = record.key
    values = {
        "region": key.region,
        "scheme": key.scheme,
        "year": key.year,
        "visit_type": key.visit_type,
        "institution_level": key.institution_level,
        "retiree": key.retiree,
        "version": record.version,
    }
    inserted = await session.execute(
        insert(PolicyRow).values(**values, source_row=row).on_conflict_do_nothing().returning(PolicyRow.version)
    )
    if inserted.first() is not None:
        return None
    existing = await session.scalar(
        select(PolicyRow.source_row).where(*(getattr(PolicyRow, k) == v for k, v in values.items()))
    )
    assert existing is not None
    return existing


async def policies(session: AsyncSession, region: str | None = None) -> list[PolicyRecord]:
    statement = select(PolicyRow.source_row).order_by(
        PolicyRow.region,
        PolicyRow.scheme,
        PolicyRow.year,
        PolicyRow.visit_type,
        PolicyRow.institution_level,
        PolicyRow.retiree,
        PolicyRow.version,
    )
    if region is not None:
        statement = statement.where(PolicyRow.region == region)
    return [parse_policy_row(row) for row in await session.scalars(statement)]


# Parsed policy versions per region, keyed by how many versions the region has: versions are only
# ever added (never edited or deleted), so the same count means the same set. Saves parsing every
# version's row on every settlement.
_POLICY_CACHE: dict[str, tuple[int, list[PolicyRecord]]] = {}


async def region_policies(session: AsyncSession, region: str) -> list[PolicyRecord]:
    count = await session.scalar(select(func.count()).select_from(PolicyRow).where(PolicyRow.region == region))
    cached = _POLICY_CACHE.get(region)
    if cached is not None and cached[0] == count:
        return cached[1]
    records = await policies(session, region)
    _POLICY_CACHE[region] = (len(records), records)
    return records


# --- accumulators ------------------------------------------------------------------------------------


def _accumulators(row: AccumulatorRow | None) -> Accumulators:
    if row is None:
        return Accumulators()
    return Accumulators(**{name: getattr(row, name) for name in ACCUMULATOR_FIELDS})


async def lock_accumulators(session: AsyncSession, person_no: str, year: int) -> Accumulators:
    """The person-year row, created if missing, locked until the transaction ends, in one statement.

    Every settlement and reversal of the person and year queues here, so two at once never use the
    same deductible or both pass the cap: ON CONFLICT DO UPDATE locks the existing row as FOR UPDATE
    would, waits for a holder to commit, and returns the row as that holder left it.
    """
    statement = insert(AccumulatorRow).values(person_no=person_no, year=year)
    row = (
        await session.execute(
            statement.on_conflict_do_update(
                index_elements=["person_no", "year"], set_={"person_no": statement.excluded.person_no}
            ).returning(*(AccumulatorRow.__table__.c[name] for name in ACCUMULATOR_FIELDS))
        )
    ).one()
    return Accumulators(**row._asdict())


async def read_accumulators(session: AsyncSession, person_no: str, year: int) -> Accumulators:
    """Without a lock, for a pre-settlement that stores nothing."""
    return _accumulators(await session.get(AccumulatorRow, (person_no, year)))


async def save_accumulators(
    session: AsyncSession, person_no: str, year: int, values: Accumulators, *, settlements_change: int
) -> None:
    await session.execute(
        update(AccumulatorRow)
        .where(AccumulatorRow.person_no == person_no, AccumulatorRow.year == year)
        .values(
            **{name: getattr(values, name) for name in ACCUMULATOR_FIELDS},
            settlements=AccumulatorRow.settlements + settlements_change,
        )
    )


async def get_accumulator_row(session: AsyncSession, person_no: str, year: int) -> AccumulatorRow | None:
    return await session.get(AccumulatorRow, (person_no, year))


# --- personal accounts ------------------------------------------------------------------------------


async def credit_contribution(
    session: AsyncSession, *, contribution_id: UUID, person_no: str, year: int, amount: Decimal, posted_at: datetime
) -> bool:
    """Credit one contribution's 个人账户划入 once; False if it was already credited."""
    inserted = await session.execute(
        insert(AccountCredit)
        .values(contribution_id=contribution_id, person_no=person_no, year=year, amount=amount, posted_at=posted_at)
        .on_conflict_do_nothing()
        .returning(AccountCredit.contribution_id)
    )
    if inserted.first() is None:
        return False
    await change_account(session, person_no, amount)
    return True


async def change_account(session: AsyncSession, person_no: str, amount: Decimal) -> None:
    """Add `amount` (negative to debit) to the balance; the CHECK keeps it at or above zero."""
    if amount < 0:  # a debit needs an account; the insert form would be checked as a negative row first
        await session.execute(
            update(PersonalAccount)
            .where(PersonalAccount.person_no == person_no)
            .values(balance=PersonalAccount.balance + amount, updated_at=func.now())
        )
        return
    statement = insert(PersonalAccount).values(person_no=person_no, balance=amount)
    await session.execute(
        statement.on_conflict_do_update(
            index_elements=["person_no"],
            set_={"balance": PersonalAccount.balance + amount, "updated_at": func.now()},
        )
    )


async def lock_account(session: AsyncSession, person_no: str) -> Decimal:
    """The balance, with the account row held FOR UPDATE (0 and nothing to lock if there is none yet).

    Settlement takes it after the accumulators row, always in that order.
    """
    balance: Decimal | None = await session.scalar(
        select(PersonalAccount.balance).where(PersonalAccount.person_no == person_no).with_for_update()
    )
    return balance if balance is not None else Decimal("0.00")


async def read_account(session: AsyncSession, person_no: str) -> Decimal:
    balance: Decimal | None = await session.scalar(
        select(PersonalAccount.balance).where(PersonalAccount.person_no == person_no)
    )
    return balance if balance is not None else Decimal("0.00")


# --- ledger -----------------------------------------------------------------------------------------


async def post_journal(
    session: AsyncSession,
    *,
    settlement_id: UUID,
    kind: str,
    institution_code: str,
    lines: Sequence[JournalLine],
    business_date: date,
) -> None:
    if lines:
        await session.execute(
            insert(LedgerEntry),
            [
                {
                    "settlement_id": settlement_id,
                    "kind": kind,
                    "institution_code": institution_code,
                    "account": line.account,
                    "debit": line.debit,
                    "credit": line.credit,
                    "region_code": line.region,
                    "counterparty_region": line.counterparty_region,
                    "business_date": business_date,
                }
                for line in lines
            ],
        )


async def trial_balance(
    session: AsyncSession, institution_code: str | None = None, region_code: str | None = None
) -> list[tuple[str, Decimal, Decimal]]:
    """(account, total debits, total credits), by account name."""
    statement = (
        select(LedgerEntry.account, func.sum(LedgerEntry.debit), func.sum(LedgerEntry.credit))
        .group_by(LedgerEntry.account)
        .order_by(LedgerEntry.account)
    )
    if institution_code is not None:
        statement = statement.where(LedgerEntry.institution_code == institution_code)
    if region_code is not None:
        statement = statement.where(LedgerEntry.region_code == region_code)
    return [(account, debit, credit) for account, debit, credit in (await session.execute(statement)).tuples()]


async def institution_day(
    session: AsyncSession, institution_code: str, day: date
) -> tuple[dict[str, tuple[int, Decimal]], Decimal]:
    """The institution's ledger for one business day: per kind (settlement/reversal) the number of
    journals and what they credit to 应付定点机构款, and the net payable for the day."""
    rows = await session.execute(
        select(
            LedgerEntry.kind,
            func.count(func.distinct(LedgerEntry.settlement_id)),
            func.coalesce(func.sum(LedgerEntry.credit - LedgerEntry.debit), 0),
        )
        .where(
            LedgerEntry.institution_code == institution_code,
            LedgerEntry.business_date == day,
            LedgerEntry.account == PAYABLE,
        )
        .group_by(LedgerEntry.kind)
    )
    per_kind = {kind: (count, Decimal(amount)) for kind, count, amount in rows.tuples()}
    return per_kind, sum((amount for _, amount in per_kind.values()), Decimal("0.00"))


async def settlement_totals(
    session: AsyncSession, institution_code: str, start: datetime, end: datetime, *, reversed_: bool
) -> SettlementTotals:
    """Totals of the institution's settlements settled (or, with `reversed_`, reversed) in [start, end)."""
    when = Settlement.reversed_at if reversed_ else Settlement.settled_at
    row = (
        await session.execute(
            select(
                func.count(),
                func.coalesce(func.sum(Settlement.medfee_sumamt), 0),
                func.coalesce(func.sum(Settlement.fund_pay_sumamt), 0),
                func.coalesce(func.sum(Settlement.acct_pay), 0),
                func.coalesce(func.sum(Settlement.psn_cash_pay), 0),
            ).where(Settlement.institution_code == institution_code, when >= start, when < end)
        )
    ).one()
    return SettlementTotals(int(row[0]), *(Decimal(v).quantize(Decimal("0.01")) for v in row[1:]))


async def month_advances(session: AsyncSession, start: date, end: date) -> list[Advance]:
    """应收异地清算款 advanced in [start, end), per (advancing region, home region), net of reversals."""
    rows = await session.execute(
        select(
            LedgerEntry.region_code,
            LedgerEntry.counterparty_region,
            func.sum(LedgerEntry.debit - LedgerEntry.credit),
        )
        .where(
            LedgerEntry.account == RECEIVABLE,
            LedgerEntry.kind != CLEARING_KIND,  # a run's own entries settle receivables, they are no advance
            LedgerEntry.business_date >= start,
            LedgerEntry.business_date < end,
        )
        .group_by(LedgerEntry.region_code, LedgerEntry.counterparty_region)
    )
    return [Advance(creditor, debtor, Decimal(amount)) for creditor, debtor, amount in rows.tuples()]


async def clearing_run(session: AsyncSession, month: str) -> tuple[ClearingRun, list[ClearingRunLine]] | None:
    run = await session.get(ClearingRun, month)
    if run is None:
        return None
    lines = await session.scalars(
        select(ClearingRunLine)
        .where(ClearingRunLine.month == month)
        .order_by(ClearingRunLine.payer_region, ClearingRunLine.payee_region)
    )
    return run, list(lines)


async def claim_clearing_month(session: AsyncSession, month: str, run_at: datetime, run_by: str) -> bool:
    """Insert the month's run; False if another request stored it first (the month is run once)."""
    inserted = await session.execute(
        insert(ClearingRun)
        .values(month=month, run_at=run_at, run_by=run_by)
        .on_conflict_do_nothing()
        .returning(ClearingRun.month)
    )
    return inserted.first() is not None


async def add_clearing_lines(session: AsyncSession, month: str, lines: Sequence[ClearingLine]) -> None:
    if lines:
        await session.execute(
            insert(ClearingRunLine),
            [
                {
                    "month": month,
                    "payer_region": line.payer_region,
                    "payee_region": line.payee_region,
                    "net_amount": line.net_amount,
                    "payee_advanced": line.payee_advanced,
                    "payer_advanced": line.payer_advanced,
                }
                for line in lines
            ],
        )
    await session.flush()


# --- settlements -------------------------------------------------------------------------------------


async def add_settlement(session: AsyncSession, row: Settlement) -> None:
    session.add(row)
    await session.flush()


async def get_settlement(session: AsyncSession, settlement_id: UUID) -> Settlement | None:
    return await session.get(Settlement, settlement_id)


async def lock_settlement(session: AsyncSession, settlement_id: UUID) -> Settlement | None:
    row: Settlement | None = await session.scalar(
        select(Settlement)
        .where(Settlement.id == settlement_id)
        .with_for_update()
        .execution_options(populate_existing=True)
    )
    return row


async def flush(session: AsyncSession) -> None:
    await session.flush()
