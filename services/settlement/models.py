from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from typing import Any
from uuid import UUID

from sqlalchemy import Date, DateTime, Integer, Numeric, String, UniqueConstraint, func
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
    status: Mapped[str] = mapped_column(String(20))
    settled_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
