from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from uuid import UUID

from sqlalchemy import DateTime, ForeignKey, Integer, Numeric, String, func
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column


class Base(DeclarativeBase):
    pass


class AuditResult(Base):
    """One per settled claim: the post-event audit's outcome."""

    __tablename__ = "audit_results"

    settlement_id: Mapped[UUID] = mapped_column(primary_key=True)
    person_no: Mapped[str] = mapped_column(String(12), index=True)
    institution_code: Mapped[str] = mapped_column(String(20), index=True)
    practitioner_code: Mapped[str] = mapped_column(String(30))
    outcome: Mapped[str] = mapped_column(String(20))
    rules_run: Mapped[int] = mapped_column(Integer)
    audited_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())


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
