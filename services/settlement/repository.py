"""All of settlement's SQL. Functions flush at most; the route or handler boundary commits."""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from typing import Any
from uuid import UUID

from sqlalchemy import delete, func, or_, select, update
from sqlalchemy.dialects.postgresql import JSONB, insert
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
from shared import idempotency
from shared.db import PlainTransaction, PositionalStatement, upsert
from shared.events import outbox

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
    suspended_at: datetime | None = None,
    terminated_on: date | None = None,
) -> None:
    """Set the suspension (and when it was published) or the termination of an enrollment, leaving
    the other as it is."""
    changes: dict[str, Any] = {}
    if suspended_from is not None:
        changes["suspended_from"] = suspended_from
        changes["suspended_at"] = suspended_at
    if terminated_on is not None:
        changes["terminated_on"] = terminated_on
    statement = insert(EligibilityStop).values(enrollment_id=enrollment_id, person_no=person_no, **changes)
    await session.execute(statement.on_conflict_do_update(index_elements=["enrollment_id"], set_=changes))


async def upsert_filing(session: AsyncSession, **values: object) -> None:
    await upsert(session, EligibilityFiling, "filing_id", values)


async def record_filing_revocation(session: AsyncSession, filing_id: UUID, revoked_on: date) -> None:
    await upsert(session, EligibilityFilingRevocation, "filing_id", {"filing_id": filing_id, "revoked_on": revoked_on})


async def upsert_family_binding(session: AsyncSession, **values: object) -> None:
    await upsert(session, EligibilityFamilyBinding, "binding_id", values)


async def record_family_unbinding(session: AsyncSession, binding_id: UUID, unbound_on: date) -> None:
    await upsert(
        session, EligibilityFamilyUnbinding, "binding_id", {"binding_id": binding_id, "unbound_on": unbound_on}
    )


# --- institutions, sanctions, practitioners ---------------------------------------------------------


async def upsert_institution(session: AsyncSession, **values: object) -> None:
    await upsert(session, Institution, "code", values)


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


# --- accumulators ------------------------------------------------------------------------------------


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


_ACCOUNT_BALANCE = PositionalStatement("SELECT balance FROM personal_accounts WHERE person_no = :person_no")
_LOCKED_ACCOUNT_BALANCE = PositionalStatement(
    "SELECT balance FROM personal_accounts WHERE person_no = :person_no FOR UPDATE"
)


async def account_balance(transaction: PlainTransaction, person_no: str, *, lock: bool) -> Decimal:
    """The balance (0 if there is no account yet), in the settle path's plain transaction. With
    `lock` the row is held FOR UPDATE until the transaction ends (0 and nothing to lock if there is
    none yet); settlement takes it after the accumulators row, always in that order."""
    row = await transaction.fetchrow(_LOCKED_ACCOUNT_BALANCE if lock else _ACCOUNT_BALANCE, {"person_no": person_no})
    return Decimal("0.00") if row is None else row["balance"]


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


# --- the settle path: one statement to read, one to write -----------------------------------------
# Every PostgreSQL round trip costs CPU on both sides, so POST /settlements reads everything it
# checks in one statement (settle_context) and writes everything it stores in one (store_settlement),
# as plain SQL text: constant statements, sent by asyncpg itself in a plain transaction
# (shared.db.Database.plain_transaction: prepared once per connection, no SQLAlchemy session; decision
# 0022). Everything else the settle path may read (catalogue and policies when not cached, the
# personal account, a stored idempotent answer) is plain SQL here too, on the same transaction.


@dataclass(frozen=True)
class ClaimantInfo:
    """What the settle path needs of the person (eligibility_persons, eligibility_deaths)."""

    birth_date: date
    sex: str
    died_on: date | None


@dataclass(frozen=True)
class SettleContext:
    """Everything a settlement is checked and calculated on, read in one statement."""

    institution: InstitutionInfo | None
    sanctions: list[SanctionInfo]
    practitioner: PractitionerInfo | None
    person: ClaimantInfo | None
    coverages: list[Coverage]  # active ones, by effective_from; empty for an unknown person
    filings: list[Filing]  # 异地就医备案, revoked ones too
    bindings: list[FamilyBinding]  # of the person to the given 家庭共济 payer's account
    accumulators: Accumulators  # the person-year row; locked (FOR UPDATE) when the key was claimed
    catalogue_generation: int | None  # changes whenever the catalogue is replaced
    policy_generation: int  # changes whenever a policy version is added
    # False only when an idempotency claim was asked for and an earlier request holds the key:
    # then nothing was locked, and the caller answers with idempotency.replay.
    claimed: bool


_ACCUMULATOR_COLUMNS = ", ".join(ACCUMULATOR_FIELDS)
# The settlement's idempotency key is claimed first, and only a request that claimed it (a row from
# `claim`) goes on to the person-year row: created if missing and locked until the transaction ends,
# as lock_accumulators does (ON CONFLICT DO UPDATE waits for a holder to commit and returns the row
# as that holder left it). Reading from `claim` orders the two: a concurrent duplicate waits on the
# key, as with a separate claim statement, and never holds the accumulators row while it waits (no
# deadlock with the request it duplicates); a replay locks nothing. A data-modifying CTE runs once
# and to completion whether or not the main query reads it.
# (S608: every statement here is built from constant names of our own tables, never from input.)
_CLAIM_AND_LOCK = (
    f"claim AS ({idempotency.CLAIM_SQL}), "  # noqa: S608
    "acc AS (INSERT INTO accumulators (person_no, year) "
    "SELECT CAST(:person_no AS varchar), CAST(:year AS integer) FROM claim "
    "ON CONFLICT (person_no, year) DO UPDATE SET person_no = excluded.person_no "
    f"RETURNING {_ACCUMULATOR_COLUMNS})"
)
_READ_ACCUMULATORS = (
    f"acc AS (SELECT {_ACCUMULATOR_COLUMNS} FROM accumulators "  # noqa: S608
    "WHERE person_no = :person_no AND year = :year)"
)
# Rows come back as anonymous records (ROW(...)), arrays of them for the sets: asyncpg decodes both
# with their column types (dates as date, numerics as Decimal), so nothing is parsed from JSON.
_CONTEXT_SELECT = (
    "SELECT"  # noqa: S608
    " (SELECT ROW(i.name, i.level, i.region_code, i.institution_type, i.agreement_status)"
    "  FROM institutions i WHERE i.code = :institution_code) AS institution,"
    " ARRAY(SELECT ROW(s.sanction, s.refuses_settlement, s.effective_from)"
    "  FROM institution_sanctions s WHERE s.institution_code = :institution_code) AS sanctions,"
    " (SELECT ROW(p.suspended_from, p.suspended_until, p.reinstated_on, p.reason)"
    "  FROM practitioner_status p WHERE p.practitioner_code = :practitioner_code) AS practitioner,"
    " (SELECT ROW(e.birth_date, e.sex, d.died_on) FROM eligibility_persons e"
    "  LEFT JOIN eligibility_deaths d ON d.person_no = e.person_no WHERE e.person_no = :person_no) AS person,"
    " ARRAY(SELECT ROW(c.scheme, c.effective_from, c.effective_to, c.region_code, c.retiree,"
    "  c.assistance_category,"
    # A suspension published before the latest activation was lifted by it (arrears paid): no stop.
    "  CASE WHEN st.suspended_at < c.activated_at THEN NULL ELSE st.suspended_from END, st.terminated_on)"
    "  FROM eligibility_coverages c LEFT JOIN eligibility_stops st ON st.enrollment_id = c.enrollment_id"
    "  WHERE c.person_no = :person_no AND c.status = 'active' ORDER BY c.effective_from) AS coverages,"
    " ARRAY(SELECT ROW(f.destination_region_code, f.valid_from, f.valid_to, r.revoked_on)"
    "  FROM eligibility_filings f LEFT JOIN eligibility_filing_revocations r ON r.filing_id = f.filing_id"
    "  WHERE f.person_no = :person_no) AS filings,"
    " ARRAY(SELECT ROW(b.bound_on, u.unbound_on)"
    "  FROM eligibility_family_bindings b LEFT JOIN eligibility_family_unbindings u ON u.binding_id = b.binding_id"
    "  WHERE b.person_no = :payer_person_no AND b.relative_person_no = :person_no) AS bindings,"
    f" (SELECT ROW({_ACCUMULATOR_COLUMNS}) FROM acc) AS accumulators,"
    " (SELECT max(id) FROM catalogue_items) AS catalogue_generation,"
    " (SELECT count(*) FROM policies) AS policy_generation"
)
_CONTEXT_CLAIMED = PositionalStatement(
    f"WITH {_CLAIM_AND_LOCK} {_CONTEXT_SELECT}, EXISTS (SELECT FROM claim) AS claimed"
)
_CONTEXT_READ = PositionalStatement(f"WITH {_READ_ACCUMULATORS} {_CONTEXT_SELECT}, true AS claimed")


async def settle_context(
    transaction: PlainTransaction,
    *,
    institution_code: str,
    practitioner_code: str,
    person_no: str,
    payer_person_no: str | None,
    year: int,
    claim: dict[str, object] | None,
) -> SettleContext:
    """The institution with its sanctions, the practitioner's status, the person with their death,
    active coverages and filings, their 家庭共济 bindings to `payer_person_no`, the person-year
    accumulators, and the reference data's generations, in one round trip.

    With `claim` (shared.idempotency.claim_params) the statement also claims the idempotency key
    and, if it did, creates the accumulators row if missing and holds it FOR UPDATE until the
    transaction ends, also when a check then refuses the claim (the refusal rolls back). Without,
    it writes and locks nothing (a pre-settlement).
    """
    params: dict[str, object] = {
        "institution_code": institution_code,
        "practitioner_code": practitioner_code,
        "person_no": person_no,
        "payer_person_no": payer_person_no,
        "year": year,
    }
    row = await transaction.fetchrow(_CONTEXT_READ if claim is None else _CONTEXT_CLAIMED, {**params, **(claim or {})})
    assert row is not None  # a SELECT without FROM: always one row
    institution = None if row["institution"] is None else InstitutionInfo(institution_code, *row["institution"])
    person = None if row["person"] is None else ClaimantInfo(*row["person"])
    practitioner = row["practitioner"]
    accumulators = row["accumulators"]
    return SettleContext(
        institution=institution,
        sanctions=[SanctionInfo(*s) for s in row["sanctions"]],
        practitioner=None if practitioner is None else PractitionerInfo(*practitioner),
        person=person,
        coverages=[] if person is None else [Coverage(*c) for c in row["coverages"]],
        filings=[Filing(*f) for f in row["filings"]],
        bindings=[FamilyBinding(*b) for b in row["bindings"]],
        accumulators=Accumulators() if accumulators is None else Accumulators(*accumulators),
        catalogue_generation=row["catalogue_generation"],
        policy_generation=row["policy_generation"],
        claimed=row["claimed"],
    )


class _CatalogueCache:
    """Catalogue versions by (code, care region, date of service), valid for one generation.

    The catalogue changes only by a whole replacement (PUT /catalogue: new rows, new ids), so
    `max(id)`, read in settle_context's statement, names the catalogue a request sees: when it
    differs from the cached one, everything cached is dropped. A request therefore never uses
    versions older than those its own statement could see. Absent codes are cached too (empty).
    """

    MAX_ENTRIES = 50_000  # a bound on memory; past it the cache starts again

    def __init__(self) -> None:
        self.generation: int | None = None
        self.entries: dict[tuple[str, str, date], list[CatalogueItem]] = {}

    def lookup(
        self, generation: int | None, codes: Iterable[str], region: str, on: date
    ) -> tuple[list[CatalogueItem], list[str]]:
        """(cached versions, codes not cached) for this generation."""
        if generation != self.generation:
            self.generation = generation
            self.entries = {}
        found: list[CatalogueItem] = []
        missing: list[str] = []
        for code in sorted(set(codes)):
            cached = self.entries.get((code, region, on))
            if cached is None:
                missing.append(code)
            else:
                found.extend(cached)
        return found, missing

    def store(
        self, generation: int | None, codes: Iterable[str], region: str, on: date, items: Iterable[CatalogueItem]
    ) -> None:
        if generation != self.generation:  # replaced while this request read: leave it to the next
            return
        if len(self.entries) > self.MAX_ENTRIES:
            self.entries = {}
        by_code: dict[str, list[CatalogueItem]] = {code: [] for code in codes}
        for item in items:
            by_code.setdefault(item.code, []).append(item)
        for code, versions in by_code.items():
            self.entries[(code, region, on)] = versions


_CATALOGUE_CACHE = _CatalogueCache()


# catalogue_items' statement, for the settle path's plain transaction.
_CATALOGUE_ITEMS = PositionalStatement(
    f"SELECT {', '.join(_ITEM_COLUMNS)} FROM catalogue_items"  # noqa: S608
    " WHERE code = ANY(CAST(:codes AS varchar[])) AND region IN ('', CAST(:region AS varchar))"
    " AND (valid_from IS NULL OR valid_from <= CAST(:on AS date))"
    " AND (valid_to IS NULL OR valid_to >= CAST(:on AS date))"
)


async def catalogue_items_of_generation(
    transaction: PlainTransaction, generation: int | None, codes: Iterable[str], region: str, on: date
) -> list[CatalogueItem]:
    """Versions of these codes that are national or the region's own and valid on the date, served
    from the in-process cache while the catalogue is the same generation."""
    found, missing = _CATALOGUE_CACHE.lookup(generation, codes, region, on)
    if missing:
        rows = await transaction.fetch(_CATALOGUE_ITEMS, {"codes": missing, "region": region, "on": on})
        loaded = [CatalogueItem(**dict(row)) for row in rows]
        _CATALOGUE_CACHE.store(generation, missing, region, on, loaded)
        found.extend(loaded)
    return found


# Parsed policy versions per region, with the number of versions of every region when they were
# read: versions are only ever added (never edited or deleted), so the same count means the same
# set. settle_context reads the count, so this saves a statement and a parse of every version's
# row on every settlement.
_POLICY_CACHE: dict[str, tuple[int, list[PolicyRecord]]] = {}


# policies(session, region)'s statement, for the settle path's plain transaction (the row as JSON text).
_REGION_POLICIES = PositionalStatement(
    "SELECT CAST(source_row AS text) AS source_row FROM policies WHERE region = :region"
    " ORDER BY region, scheme, year, visit_type, institution_level, retiree, version"
)


async def policies_of_generation(transaction: PlainTransaction, generation: int, region: str) -> list[PolicyRecord]:
    cached = _POLICY_CACHE.get(region)
    if cached is not None and cached[0] == generation:
        return cached[1]
    rows = await transaction.fetch(_REGION_POLICIES, {"region": region})
    records = [parse_policy_row(json.loads(row["source_row"])) for row in rows]
    _POLICY_CACHE[region] = (generation, records)  # read after the count: at least as new as it
    return records


# The settlement row, the accumulators after it, the personal account's debit, the journal lines,
# the outbox rows and the idempotency key's answer: one statement of data-modifying CTEs, so one
# round trip. They all see the statement's snapshot, and none reads what another writes; the
# accumulators and account rows were locked by earlier statements of the transaction, and every
# constraint (the account's balance >= 0, the unique keys) is checked as in separate statements.
_SETTLEMENT_COLUMNS = tuple(c.name for c in Settlement.__table__.columns)
_JSONB_COLUMNS = frozenset(c.name for c in Settlement.__table__.columns if isinstance(c.type, JSONB))
_STORE_SETTLEMENT = PositionalStatement(
    "WITH settlement AS (INSERT INTO settlements ("  # noqa: S608
    + ", ".join(_SETTLEMENT_COLUMNS)
    + ") VALUES ("
    + ", ".join(f"CAST(:s_{c} AS jsonb)" if c in _JSONB_COLUMNS else f":s_{c}" for c in _SETTLEMENT_COLUMNS)
    + ")), accumulators AS (UPDATE accumulators SET "
    + ", ".join(f"{name} = :a_{name}" for name in ACCUMULATOR_FIELDS)
    + ", settlements = settlements + 1 WHERE person_no = :s_person_no AND year = :s_year),"  # noqa: S608
    " account AS (UPDATE personal_accounts SET balance = balance - CAST(:account_debit AS numeric),"
    " updated_at = now() WHERE person_no = :account_holder AND CAST(:account_debit AS numeric) > 0),"
    " journal AS (INSERT INTO ledger_entries (settlement_id, kind, institution_code, account, debit, credit,"
    " region_code, counterparty_region, business_date)"
    " SELECT CAST(:s_id AS uuid), 'settlement', CAST(:s_institution_code AS varchar), a, d, c, r, cr,"
    " CAST(:business_date AS date) FROM unnest("
    "CAST(:journal_accounts AS varchar[]), CAST(:journal_debits AS numeric[]), CAST(:journal_credits AS numeric[]), "
    "CAST(:journal_regions AS varchar[]), CAST(:journal_counterparties AS varchar[])) "
    "WITH ORDINALITY AS line(a, d, c, r, cr, n) ORDER BY n),"
    f" events AS ({outbox.INSERT_SQL}),"
    f" answer AS ({idempotency.FINISH_SQL})"
    " SELECT 1"
)


async def store_settlement(
    transaction: PlainTransaction,
    settlement: Mapping[str, object],
    *,
    accumulators: Accumulators,
    account_holder: str,
    journal_lines: Sequence[JournalLine],
    business_date: date,
    outbox_params: dict[str, list[object]],
    answer: dict[str, object],
) -> None:
    """Store a settlement and everything that goes with it in one statement.

    `settlement` holds a value for every column of `settlements` (JSONB ones as Python values).
    `outbox_params` come from shared.events.outbox.stage, `answer` from shared.idempotency.finish_params.
    The accumulators row gets `accumulators` and one more settlement; the account holder's balance
    loses acct_pay (when above zero).
    """
    missing = set(_SETTLEMENT_COLUMNS) - settlement.keys()
    assert not missing, f"settlement columns without a value: {sorted(missing)}"
    params: dict[str, object] = {}
    for column in _SETTLEMENT_COLUMNS:
        value = settlement[column]
        params[f"s_{column}"] = (
            json.dumps(value, ensure_ascii=False) if column in _JSONB_COLUMNS and value is not None else value
        )
    for name in ACCUMULATOR_FIELDS:
        params[f"a_{name}"] = getattr(accumulators, name)
    params["account_debit"] = settlement["acct_pay"]
    params["account_holder"] = account_holder
    params["business_date"] = business_date
    params["journal_accounts"] = [line.account for line in journal_lines]
    params["journal_debits"] = [line.debit for line in journal_lines]
    params["journal_credits"] = [line.credit for line in journal_lines]
    params["journal_regions"] = [line.region for line in journal_lines]
    params["journal_counterparties"] = [line.counterparty_region for line in journal_lines]
    clash = params.keys() & (outbox_params.keys() | answer.keys())
    assert not clash, f"parameter names used twice: {clash}"
    await transaction.fetchrow(_STORE_SETTLEMENT, {**params, **outbox_params, **answer})
