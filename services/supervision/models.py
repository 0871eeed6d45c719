"""Supervision's tables: audits and flags, the rule library and knowledge base as data, the
history projections the rules read (fed by events), and practitioner points."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from typing import Any
from uuid import UUID

from sqlalchemy import Boolean, Date, DateTime, ForeignKey, Integer, Numeric, String, Text, UniqueConstraint, func
from sqlalchemy.dialects.postgresql import ARRAY, JSONB
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column


class Base(DeclarativeBase):
    pass


class AuditResult(Base):
    """One per settled claim: the post-event audit's outcome (clean, flagged, or reversed first)."""

    __tablename__ = "audit_results"

    settlement_id: Mapped[UUID] = mapped_column(primary_key=True)
    person_no: Mapped[str] = mapped_column(String(12), index=True)
    institution_code: Mapped[str] = mapped_column(String(20), index=True)
    practitioner_code: Mapped[str | None] = mapped_column(String(30), nullable=True)
    outcome: Mapped[str] = mapped_column(String(20))
    rules_run: Mapped[int] = mapped_column(Integer)
    audited_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    withdrawn_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)


class Flag(Base):
    __tablename__ = "flags"

    id: Mapped[UUID] = mapped_column(primary_key=True)
    settlement_id: Mapped[UUID] = mapped_column(ForeignKey("audit_results.settlement_id"), index=True)
    rule_id: Mapped[str] = mapped_column(String(50))
    rule_version: Mapped[int] = mapped_column(Integer)
    severity: Mapped[str] = mapped_column(String(10))
    line_no: Mapped[int | None] = mapped_column(Integer, nullable=True)
    amount_at_stake: Mapped[Decimal] = mapped_column(Numeric(14, 2))
    message: Mapped[str] = mapped_column(String(500))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    status: Mapped[str] = mapped_column(String(12), server_default="active")  # active / withdrawn
    withdrawn_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)


class RuleVersionRow(Base):
    """规则库: one version of one rule as data; `active` marks the version the audits use."""

    __tablename__ = "rule_versions"

    rule_id: Mapped[str] = mapped_column(String(50), primary_key=True)
    version: Mapped[int] = mapped_column(Integer, primary_key=True)
    family: Mapped[str] = mapped_column(String(20))
    stages: Mapped[list[str]] = mapped_column(ARRAY(String(4)))
    severity: Mapped[str] = mapped_column(String(10))
    parameters: Mapped[dict[str, Any]] = mapped_column(JSONB, server_default="{}")
    scope: Mapped[dict[str, Any]] = mapped_column(JSONB, server_default="{}")
    window_days: Mapped[int | None] = mapped_column(Integer, nullable=True)
    effective_from: Mapped[date] = mapped_column(Date)
    effective_to: Mapped[date | None] = mapped_column(Date, nullable=True)
    active: Mapped[bool] = mapped_column(Boolean, server_default="false")
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())


class ItemRestrictionRow(Base):
    """知识库: the restrictions of one catalogue item that the rules read."""

    __tablename__ = "item_restrictions"

    item_code: Mapped[str] = mapped_column(Text, primary_key=True)
    sex: Mapped[str | None] = mapped_column(String(1), nullable=True)
    min_age: Mapped[int | None] = mapped_column(Integer, nullable=True)
    max_age: Mapped[int | None] = mapped_column(Integer, nullable=True)
    min_institution_level: Mapped[int | None] = mapped_column(Integer, nullable=True)
    max_quantity_per_day: Mapped[int | None] = mapped_column(Integer, nullable=True)
    limit_price: Mapped[Decimal | None] = mapped_column(Numeric(14, 2), nullable=True)
    components: Mapped[list[str]] = mapped_column(ARRAY(Text), server_default="{}")
    drug_group: Mapped[str | None] = mapped_column(String(20), nullable=True)


class PersonFacts(Base):
    """Projection of person.registered (sex, birth date) and person.deceased (date of death)."""

    __tablename__ = "persons"

    person_no: Mapped[str] = mapped_column(String(12), primary_key=True)
    sex: Mapped[str | None] = mapped_column(String(1), nullable=True)
    birth_date: Mapped[date | None] = mapped_column(Date, nullable=True)
    died_on: Mapped[date | None] = mapped_column(Date, nullable=True)


class ClaimHistory(Base):
    """Projection of claim.settled (minus reversals): the person's visits and stays (就诊历史)."""

    __tablename__ = "claim_history"

    settlement_id: Mapped[UUID] = mapped_column(primary_key=True)
    person_no: Mapped[str] = mapped_column(String(12))
    institution_code: Mapped[str] = mapped_column(String(20))
    practitioner_code: Mapped[str] = mapped_column(String(30))
    visit_type: Mapped[str] = mapped_column(String(12))
    admitted_on: Mapped[date] = mapped_column(Date)
    discharged_on: Mapped[date] = mapped_column(Date)
    diagnoses: Mapped[list[str]] = mapped_column(ARRAY(Text))
    item_codes: Mapped[list[str]] = mapped_column(ARRAY(Text))
    total: Mapped[Decimal] = mapped_column(Numeric(14, 2))
    institution_level: Mapped[int | None] = mapped_column(Integer, nullable=True)
    diagnosis_group: Mapped[str | None] = mapped_column(String(3), nullable=True)
    region_code: Mapped[str | None] = mapped_column(Text, nullable=True)
    settled_on: Mapped[date] = mapped_column(Date)
    claim: Mapped[dict[str, Any]] = mapped_column(JSONB)  # the whole claim.settled payload, for backtests


class DrugPurchaseRow(Base):
    """One drug group bought under one settlement (购药记录), for the doctor-shopping window."""

    __tablename__ = "drug_purchases"

    settlement_id: Mapped[UUID] = mapped_column(primary_key=True)
    drug_group: Mapped[str] = mapped_column(String(20), primary_key=True)
    person_no: Mapped[str] = mapped_column(String(12))
    practitioner_code: Mapped[str] = mapped_column(String(30))
    institution_code: Mapped[str] = mapped_column(String(20))
    purchased_on: Mapped[date] = mapped_column(Date)


class TraceabilityCode(Base):
    """药品追溯码 seen, each with the first settlement that sold it."""

    __tablename__ = "traceability_codes"

    code: Mapped[str] = mapped_column(Text, primary_key=True)
    settlement_id: Mapped[UUID] = mapped_column(index=True)
    person_no: Mapped[str] = mapped_column(String(12))
    sold_on: Mapped[date] = mapped_column(Date)


class LtcServiceRow(Base):
    """Projection of ltc.service.recorded: a day of long-term care the LTC fund paid."""

    __tablename__ = "ltc_services"

    visit_id: Mapped[UUID] = mapped_column(primary_key=True)
    person_no: Mapped[str] = mapped_column(String(12))
    service_date: Mapped[date] = mapped_column(Date)
    amount: Mapped[Decimal] = mapped_column(Numeric(14, 2))


class PeerBaselineRow(Base):
    """A frozen peer baseline (同级同病种基线): one closed month's claims, counted once by ops' action."""

    __tablename__ = "peer_baselines"

    period: Mapped[date] = mapped_column(Date, primary_key=True)  # the month's first day
    taken_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    taken_by: Mapped[str] = mapped_column(String(100))
    institutions: Mapped[int] = mapped_column(Integer)
    diagnosis_groups: Mapped[int] = mapped_column(Integer)  # (level, group) cells with cases
    cases: Mapped[int] = mapped_column(Integer)


class PeerBaselineCost(Base):
    """One institution's cases and cost in one level and diagnosis group, in a baseline's month."""

    __tablename__ = "peer_baseline_costs"

    period: Mapped[date] = mapped_column(
        Date, ForeignKey("peer_baselines.period", ondelete="CASCADE"), primary_key=True
    )
    institution_level: Mapped[int] = mapped_column(Integer, primary_key=True)
    diagnosis_group: Mapped[str] = mapped_column(String(3), primary_key=True)
    institution_code: Mapped[str] = mapped_column(String(20), primary_key=True)
    cases: Mapped[int] = mapped_column(Integer)
    total_cost: Mapped[Decimal] = mapped_column(Numeric(16, 2))


class InstitutionRow(Base):
    """What the last settled claim said about an institution (level, type, region), for prechecks."""

    __tablename__ = "institutions"

    institution_code: Mapped[str] = mapped_column(String(20), primary_key=True)
    institution_level: Mapped[int | None] = mapped_column(Integer, nullable=True)
    institution_type: Mapped[str | None] = mapped_column(Text, nullable=True)
    region_code: Mapped[str | None] = mapped_column(Text, nullable=True)


class PointsParameter(Base):
    """医保医师记分 parameter table: points per finding by rule family and severity."""

    __tablename__ = "points_parameters"

    family: Mapped[str] = mapped_column(String(20), primary_key=True)
    severity: Mapped[str] = mapped_column(String(10), primary_key=True)
    points: Mapped[int] = mapped_column(Integer)


class Practitioner(Base):
    """A practitioner's points tally for `year` and insurance-prescribing status."""

    __tablename__ = "practitioners"

    practitioner_code: Mapped[str] = mapped_column(String(30), primary_key=True)
    institution_code: Mapped[str | None] = mapped_column(String(20), nullable=True)
    year: Mapped[int] = mapped_column(Integer)
    points: Mapped[int] = mapped_column(Integer, server_default="0")
    reached: Mapped[list[str]] = mapped_column(ARRAY(String(12)), server_default="{}")
    status: Mapped[str] = mapped_column(String(12), server_default="active")  # active / suspended
    suspended_from: Mapped[date | None] = mapped_column(Date, nullable=True)
    # 恢复: the latest reinstatement (an operator's decision; migration 0007)
    reinstated_on: Mapped[date | None] = mapped_column(Date, nullable=True)
    reinstatement_reason: Mapped[str | None] = mapped_column(String(500), nullable=True)
    reinstated_by: Mapped[str | None] = mapped_column(String(100), nullable=True)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())


class PointsEntry(Base):
    """The points ledger: one row per scored flag, and a negative one when that flag is withdrawn."""

    __tablename__ = "practitioner_points"

    id: Mapped[UUID] = mapped_column(primary_key=True)
    practitioner_code: Mapped[str] = mapped_column(String(30))
    year: Mapped[int] = mapped_column(Integer)
    settlement_id: Mapped[UUID]
    flag_id: Mapped[UUID] = mapped_column(ForeignKey("flags.id"))
    rule_id: Mapped[str] = mapped_column(String(50))
    points: Mapped[int] = mapped_column(Integer)
    recorded_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())


class Case(Base):
    """案件: flags grouped against one institution or practitioner, open → investigating → concluded."""

    __tablename__ = "cases"

    id: Mapped[UUID] = mapped_column(primary_key=True)
    subject_kind: Mapped[str] = mapped_column(String(12))
    subject_code: Mapped[str] = mapped_column(String(30))
    status: Mapped[str] = mapped_column(String(14))
    amount_at_stake: Mapped[Decimal] = mapped_column(Numeric(14, 2))
    opened_by: Mapped[str] = mapped_column(String(100))
    opened_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    investigating_since: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    finding: Mapped[str | None] = mapped_column(String(2000), nullable=True)
    amount_to_recover: Mapped[Decimal | None] = mapped_column(Numeric(14, 2), nullable=True)
    sanction: Mapped[str | None] = mapped_column(String(10), nullable=True)
    concluded_on: Mapped[date | None] = mapped_column(Date, nullable=True)
    penalty: Mapped[Decimal | None] = mapped_column(Numeric(14, 2), nullable=True)  # 罚款
    recovered: Mapped[Decimal] = mapped_column(Numeric(14, 2), server_default="0", default=Decimal("0.00"))
    recovery_status: Mapped[str] = mapped_column(String(12), server_default="none", default="none")
    recovery_closed_on: Mapped[date | None] = mapped_column(Date, nullable=True)


class RecoveryPayment(Base):
    """追回: one payment received against a concluded case's amount to recover."""

    __tablename__ = "recovery_payments"
    __table_args__ = (UniqueConstraint("case_id", "reference", name="uq_recovery_payments_reference"),)

    id: Mapped[UUID] = mapped_column(primary_key=True)
    case_id: Mapped[UUID] = mapped_column(ForeignKey("cases.id"))
    amount: Mapped[Decimal] = mapped_column(Numeric(14, 2))
    received_on: Mapped[date] = mapped_column(Date, index=True)
    reference: Mapped[str] = mapped_column(String(64))
    recorded_by: Mapped[str] = mapped_column(String(100))
    recorded_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())


class CaseFlag(Base):
    __tablename__ = "case_flags"

    flag_id: Mapped[UUID] = mapped_column(ForeignKey("flags.id"), primary_key=True)
    case_id: Mapped[UUID] = mapped_column(ForeignKey("cases.id"), index=True)


class SanctionRow(Base):
    """三函两牌: a letter or card an institution received, from a concluded case."""

    __tablename__ = "sanctions"

    id: Mapped[UUID] = mapped_column(primary_key=True)
    institution_code: Mapped[str] = mapped_column(String(20))
    kind: Mapped[str] = mapped_column(String(10))
    issued_on: Mapped[date] = mapped_column(Date)
    case_id: Mapped[UUID] = mapped_column(ForeignKey("cases.id"), unique=True)
    refuses_settlement: Mapped[bool] = mapped_column(Boolean)
