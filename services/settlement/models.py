from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from typing import Any
from uuid import UUID

from sqlalchemy import BigInteger, Boolean, Date, DateTime, Integer, Numeric, String, UniqueConstraint, false, func
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

Money = Numeric(14, 2)


class Base(DeclarativeBase):
    pass


class EligibilityPerson(Base):
    """Projection of enrollment's persons (from person.registered)."""

    __tablename__ = "eligibility_persons"

    person_no: Mapped[str] = mapped_column(String(12), primary_key=True)
    birth_date: Mapped[date] = mapped_column(Date)
    sex: Mapped[str] = mapped_column(String(1))
    hukou_region_code: Mapped[str] = mapped_column(String(12))


class EligibilityDeath(Base):
    """From person.deceased; its own table because it may arrive before person.registered."""

    __tablename__ = "eligibility_deaths"

    person_no: Mapped[str] = mapped_column(String(12), primary_key=True)
    died_on: Mapped[date] = mapped_column(Date)


class EligibilityCoverage(Base):
    """Projection of enrollment's active enrollments (from enrollment.activated)."""

    __tablename__ = "eligibility_coverages"

    enrollment_id: Mapped[UUID] = mapped_column(primary_key=True)
    person_no: Mapped[str] = mapped_column(String(12), index=True)
    scheme: Mapped[str] = mapped_column(String(20))
    year: Mapped[int] = mapped_column(Integer)
    region_code: Mapped[str] = mapped_column(String(12))
    effective_from: Mapped[date] = mapped_column(Date)
    effective_to: Mapped[date] = mapped_column(Date)
    status: Mapped[str] = mapped_column(String(20))
    retiree: Mapped[bool] = mapped_column(Boolean, server_default="false")
    # 资助参保 group (特困, 低保, ...) from enrollment.activated; None: no 医疗救助.
    assistance_category: Mapped[str | None] = mapped_column(String(32), nullable=True)
    # When the latest enrollment.activated was published: it lifts a suspension published before it.
    activated_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)


class EligibilityStop(Base):
    """Suspensions and terminations of an enrollment (enrollment.suspended / .terminated).

    Its own table, not columns on the coverage: the stop may arrive before the activation
    (different topics), and activation upserts must never wipe it.
    """

    __tablename__ = "eligibility_stops"

    enrollment_id: Mapped[UUID] = mapped_column(primary_key=True)
    person_no: Mapped[str] = mapped_column(String(12), index=True)
    suspended_from: Mapped[date | None] = mapped_column(Date, nullable=True)
    # When enrollment.suspended was published: a later activation (arrears paid) lifts the suspension.
    suspended_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    terminated_on: Mapped[date | None] = mapped_column(Date, nullable=True)


class Settlement(Base):
    __tablename__ = "settlements"
    __table_args__ = (UniqueConstraint("institution_code", "idempotency_key", name="uq_settlements_idempotency"),)

    id: Mapped[UUID] = mapped_column(primary_key=True)
    institution_code: Mapped[str] = mapped_column(String(20))
    idempotency_key: Mapped[str] = mapped_column(String(200))
    person_no: Mapped[str] = mapped_column(String(12), index=True)
    scheme: Mapped[str] = mapped_column(String(20))
    visit_type: Mapped[str] = mapped_column(String(20))
    admitted_on: Mapped[date] = mapped_column(Date)
    discharged_on: Mapped[date] = mapped_column(Date)
    practitioner_code: Mapped[str] = mapped_column(String(30))
    diagnoses: Mapped[list[str]] = mapped_column(JSONB)
    lines: Mapped[list[dict[str, Any]]] = mapped_column(JSONB)
    medfee_sumamt: Mapped[Decimal] = mapped_column(Money)
    fulamt_ownpay_amt: Mapped[Decimal] = mapped_column(Money)
    overlmt_selfpay: Mapped[Decimal] = mapped_column(Money)
    preselfpay_amt: Mapped[Decimal] = mapped_column(Money)
    inscp_scp_amt: Mapped[Decimal] = mapped_column(Money)
    hifp_pay: Mapped[Decimal] = mapped_column(Money)
    hifmi_pay: Mapped[Decimal] = mapped_column(Money)
    hifob_pay: Mapped[Decimal] = mapped_column(Money)
    maf_pay: Mapped[Decimal] = mapped_column(Money)
    acct_pay: Mapped[Decimal] = mapped_column(Money)
    psn_cash_pay: Mapped[Decimal] = mapped_column(Money)
    fund_pay_sumamt: Mapped[Decimal] = mapped_column(Money)
    status: Mapped[str] = mapped_column(String(20))  # settled / reversed
    settled_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    # Added by migration 0002 (nullable: rows settled by the walking skeleton have none of them).
    year: Mapped[int | None] = mapped_column(Integer, nullable=True)  # the accumulator year
    policy_version: Mapped[str | None] = mapped_column(String(80), nullable=True)
    institution_level: Mapped[int | None] = mapped_column(Integer, nullable=True)
    institution_type: Mapped[str | None] = mapped_column(String(20), nullable=True)
    region_code: Mapped[str | None] = mapped_column(String(12), nullable=True)
    insured_region_code: Mapped[str | None] = mapped_column(String(12), nullable=True)
    explanation: Mapped[list[dict[str, Any]] | None] = mapped_column(JSONB, nullable=True)
    # Exactly what this settlement added to the person-year accumulators (decimal strings): a
    # reversal subtracts these, so it restores the accumulators to the fen (and below).
    accumulator_delta: Mapped[dict[str, str] | None] = mapped_column(JSONB, nullable=True)
    reversed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    # 家庭共济: the bound employee whose personal account paid acct_pay; None: the patient's own account.
    account_payer_person_no: Mapped[str | None] = mapped_column(String(12), nullable=True)
    # 事中审核 unanswered in time (fail-open): stored unchecked, for post audit to review first.
    post_audit_required: Mapped[bool] = mapped_column(Boolean, server_default=false(), default=False)


class CatalogueItemRow(Base):
    """医保目录 items, as loaded by `PUT /catalogue`; one row per (region, code, valid_from)."""

    __tablename__ = "catalogue_items"

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=True)
    region: Mapped[str] = mapped_column(String(6))  # "" national
    code: Mapped[str] = mapped_column(String(50))
    name: Mapped[str] = mapped_column(String(200))
    category: Mapped[str] = mapped_column(String(10))
    item_class: Mapped[str] = mapped_column(String(1))
    preselfpay_ratio: Mapped[Decimal] = mapped_column(Numeric(5, 4))
    limit_price: Mapped[Decimal | None] = mapped_column(Money, nullable=True)
    sex: Mapped[str | None] = mapped_column(String(1), nullable=True)
    min_age: Mapped[int | None] = mapped_column(Integer, nullable=True)
    max_age: Mapped[int | None] = mapped_column(Integer, nullable=True)
    min_institution_level: Mapped[int | None] = mapped_column(Integer, nullable=True)
    max_qty_per_day: Mapped[int | None] = mapped_column(Integer, nullable=True)
    max_qty_per_stay: Mapped[int | None] = mapped_column(Integer, nullable=True)
    valid_from: Mapped[date | None] = mapped_column(Date, nullable=True)
    valid_to: Mapped[date | None] = mapped_column(Date, nullable=True)


class PolicyRow(Base):
    """One version of a benefit policy (待遇政策). Insert-only: a change is a new version."""

    __tablename__ = "policies"

    region: Mapped[str] = mapped_column(String(6), primary_key=True)
    scheme: Mapped[str] = mapped_column(String(20), primary_key=True)
    year: Mapped[int] = mapped_column(Integer, primary_key=True)
    visit_type: Mapped[str] = mapped_column(String(20), primary_key=True)
    institution_level: Mapped[int] = mapped_column(Integer, primary_key=True)
    retiree: Mapped[bool] = mapped_column(Boolean, primary_key=True)
    version: Mapped[int] = mapped_column(Integer, primary_key=True)
    # The CSV row as loaded (column → text), parsed again by `policies.parse_policy_row`, so the
    # stored policy is exactly the one that was validated.
    source_row: Mapped[dict[str, str]] = mapped_column(JSONB)
    loaded_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())


class Institution(Base):
    """定点医药机构 with its service agreement (协议) status."""

    __tablename__ = "institutions"

    code: Mapped[str] = mapped_column(String(20), primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    level: Mapped[int] = mapped_column(Integer)  # 0 未定级, 1 一级, 2 二级, 3 三级
    region_code: Mapped[str] = mapped_column(String(12))
    institution_type: Mapped[str] = mapped_column(String(20))
    agreement_status: Mapped[str] = mapped_column(String(20))  # active / suspended / terminated
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())


class InstitutionSanction(Base):
    """Projection of supervision's institution.sanctioned (三函两牌)."""

    __tablename__ = "institution_sanctions"

    event_id: Mapped[UUID] = mapped_column(primary_key=True)
    institution_code: Mapped[str] = mapped_column(String(20), index=True)
    sanction: Mapped[str] = mapped_column(String(30))
    refuses_settlement: Mapped[bool] = mapped_column(Boolean)
    effective_from: Mapped[date] = mapped_column(Date)


class PractitionerStatus(Base):
    """Projection of practitioner.suspended / practitioner.reinstated (医保医师记分)."""

    __tablename__ = "practitioner_status"

    practitioner_code: Mapped[str] = mapped_column(String(30), primary_key=True)
    suspended_from: Mapped[date | None] = mapped_column(Date, nullable=True)
    suspended_until: Mapped[date | None] = mapped_column(Date, nullable=True)
    reinstated_on: Mapped[date | None] = mapped_column(Date, nullable=True)
    points: Mapped[int | None] = mapped_column(Integer, nullable=True)
    reason: Mapped[str | None] = mapped_column(String(500), nullable=True)


class AccumulatorRow(Base):
    """年度累计 per person and year: the running figures `service.calculate` needs."""

    __tablename__ = "accumulators"

    person_no: Mapped[str] = mapped_column(String(12), primary_key=True)
    year: Mapped[int] = mapped_column(Integer, primary_key=True)
    deductible_used: Mapped[Decimal] = mapped_column(Money, server_default="0")
    basic_fund_paid: Mapped[Decimal] = mapped_column(Money, server_default="0")
    basic_fund_due: Mapped[Decimal] = mapped_column(Numeric, server_default="0")  # unrounded on purpose
    critical_paid: Mapped[Decimal] = mapped_column(Money, server_default="0")
    inscope_self_paid: Mapped[Decimal] = mapped_column(Money, server_default="0")
    assistance_base: Mapped[Decimal] = mapped_column(Money, server_default="0")
    assistance_paid: Mapped[Decimal] = mapped_column(Money, server_default="0")
    personal_burden: Mapped[Decimal] = mapped_column(Money, server_default="0")
    settlements: Mapped[int] = mapped_column(Integer, server_default="0")


class PersonalAccount(Base):
    """个人账户 of an employee: credited from contribution.posted, debited by acct_pay."""

    __tablename__ = "personal_accounts"

    person_no: Mapped[str] = mapped_column(String(12), primary_key=True)
    balance: Mapped[Decimal] = mapped_column(Money, server_default="0")
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())


class AccountCredit(Base):
    """One contribution's 个人账户划入, kept once per contribution."""

    __tablename__ = "account_credits"

    contribution_id: Mapped[UUID] = mapped_column(primary_key=True)
    person_no: Mapped[str] = mapped_column(String(12), index=True)
    year: Mapped[int] = mapped_column(Integer)
    amount: Mapped[Decimal] = mapped_column(Money)
    posted_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class LedgerEntry(Base):
    """One line of the fund's double-entry journal (see ledger.py)."""

    __tablename__ = "ledger_entries"

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=True)
    settlement_id: Mapped[UUID] = mapped_column(index=True)
    kind: Mapped[str] = mapped_column(String(20))
    institution_code: Mapped[str] = mapped_column(String(20), index=True)
    account: Mapped[str] = mapped_column(String(40))
    debit: Mapped[Decimal] = mapped_column(Money)
    credit: Mapped[Decimal] = mapped_column(Money)
    posted_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    # The pooling region whose books hold the line, and for inter-region lines the other region.
    region_code: Mapped[str] = mapped_column(String(12), server_default="")
    counterparty_region: Mapped[str] = mapped_column(String(12), server_default="")
    business_date: Mapped[date] = mapped_column(Date)  # 业务日期 (Asia/Shanghai): reconciliation and clearing


class ClearingRun(Base):
    """One monthly clearing run (清算): stored once per month; asking again returns it."""

    __tablename__ = "clearing_runs"

    month: Mapped[str] = mapped_column(String(7), primary_key=True)  # YYYY-MM
    run_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    run_by: Mapped[str] = mapped_column(String(100))


class ClearingRunLine(Base):
    """What one region pays another for the month, netted per pair."""

    __tablename__ = "clearing_run_lines"

    month: Mapped[str] = mapped_column(String(7), primary_key=True)
    payer_region: Mapped[str] = mapped_column(String(12), primary_key=True)
    payee_region: Mapped[str] = mapped_column(String(12), primary_key=True)
    net_amount: Mapped[Decimal] = mapped_column(Money)
    payee_advanced: Mapped[Decimal] = mapped_column(Money)
    payer_advanced: Mapped[Decimal] = mapped_column(Money)


class EligibilityFiling(Base):
    """Projection of filing.approved (异地就医备案)."""

    __tablename__ = "eligibility_filings"

    filing_id: Mapped[UUID] = mapped_column(primary_key=True)
    person_no: Mapped[str] = mapped_column(String(12), index=True)
    filing_type: Mapped[str] = mapped_column(String(30))
    destination_region_code: Mapped[str] = mapped_column(String(12))
    valid_from: Mapped[date] = mapped_column(Date)
    valid_to: Mapped[date] = mapped_column(Date)


class EligibilityFilingRevocation(Base):
    """Projection of filing.revoked."""

    __tablename__ = "eligibility_filing_revocations"

    filing_id: Mapped[UUID] = mapped_column(primary_key=True)
    revoked_on: Mapped[date] = mapped_column(Date)


class EligibilityFamilyBinding(Base):
    """Projection of family.bound (家庭共济): `person_no`'s personal account may pay for the relative."""

    __tablename__ = "eligibility_family_bindings"

    binding_id: Mapped[UUID] = mapped_column(primary_key=True)
    person_no: Mapped[str] = mapped_column(String(12))
    relative_person_no: Mapped[str] = mapped_column(String(12), index=True)
    relation: Mapped[str] = mapped_column(String(10))
    bound_on: Mapped[date] = mapped_column(Date)


class EligibilityFamilyUnbinding(Base):
    """Projection of family.unbound."""

    __tablename__ = "eligibility_family_unbindings"

    binding_id: Mapped[UUID] = mapped_column(primary_key=True)
    unbound_on: Mapped[date] = mapped_column(Date)
