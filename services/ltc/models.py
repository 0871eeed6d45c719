from __future__ import annotations

from datetime import date, datetime
from uuid import UUID

from sqlalchemy import Date, DateTime, String, func
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column


class Base(DeclarativeBase):
    pass


class LtcPerson(Base):
    """Projection of enrollment's persons (from person.registered)."""

    __tablename__ = "ltc_persons"

    person_no: Mapped[str] = mapped_column(String(12), primary_key=True)
    birth_date: Mapped[date] = mapped_column(Date)
    sex: Mapped[str] = mapped_column(String(1))
    residence_region_code: Mapped[str] = mapped_column(String(12))
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())


class LtcCoverage(Base):
    """Projection of basic-insurance enrollments (from enrollment.activated).

    Kept apart from persons: the two events travel on different topics, so either may
    arrive first.
    """

    __tablename__ = "ltc_coverages"

    enrollment_id: Mapped[UUID] = mapped_column(primary_key=True)
    person_no: Mapped[str] = mapped_column(String(12), index=True)
    scheme: Mapped[str] = mapped_column(String(20))
    covered_from: Mapped[date] = mapped_column(Date)
    covered_to: Mapped[date] = mapped_column(Date)
    # When enrollment published this activation: a later one lifts an earlier suspension (arrears paid).
    activated_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)


class LtcCoverageStop(Base):
    """Projection of enrollment.suspended and enrollment.terminated, by enrollment. Its own table: a stop
    may arrive before the activation it stops, on another topic."""

    __tablename__ = "ltc_coverage_stops"

    enrollment_id: Mapped[UUID] = mapped_column(primary_key=True)
    person_no: Mapped[str] = mapped_column(String(12), index=True)
    suspended_from: Mapped[date | None] = mapped_column(Date, nullable=True)
    suspended_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    terminated_on: Mapped[date | None] = mapped_column(Date, nullable=True)


class LtcDeath(Base):
    """Projection of enrollment's deaths (from person.deceased). Its own table: the death may arrive
    before person.registered, on another topic."""

    __tablename__ = "ltc_deaths"

    person_no: Mapped[str] = mapped_column(String(12), primary_key=True)
    died_on: Mapped[date] = mapped_column(Date)


class LtcPersonMove(Base):
    """The latest residence from person.updated (变更常住地). Its own table: a move may arrive before
    person.registered, on another topic; a move always postdates the registration, so it wins."""

    __tablename__ = "ltc_person_moves"

    person_no: Mapped[str] = mapped_column(String(12), primary_key=True)
    residence_region_code: Mapped[str] = mapped_column(String(12))
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
