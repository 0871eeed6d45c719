from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from uuid import UUID

from sqlalchemy import Boolean, Date, DateTime, ForeignKey, Integer, LargeBinary, Numeric, Sequence, String, func
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column


class Base(DeclarativeBase):
    pass


person_no_seq = Sequence("person_no_seq", metadata=Base.metadata)


class Person(Base):
    """一人一档: one record per person. The full ID is never stored in clear text."""

    __tablename__ = "persons"

    person_no: Mapped[str] = mapped_column(String(12), primary_key=True)
    id_hash: Mapped[str] = mapped_column(String(64), unique=True)
    id_masked: Mapped[str] = mapped_column(String(18))
    # AES-256-GCM copy (身份证号密文), service.encrypt_id_number; NULL for persons registered before 0002.
    id_number_encrypted: Mapped[bytes | None] = mapped_column(LargeBinary, nullable=True)
    name: Mapped[str] = mapped_column(String(100))
    birth_date: Mapped[date] = mapped_column(Date)
    sex: Mapped[str] = mapped_column(String(1))
    hukou_region_code: Mapped[str] = mapped_column(String(15))  # down to the grid cell (网格)
    residence_region_code: Mapped[str] = mapped_column(String(15))
    registered_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    died_on: Mapped[date | None] = mapped_column(Date, nullable=True)


class Enrollment(Base):
    """One scheme enrollment (参保登记) for a year.

    At most one pending, active or suspended enrollment per person at any date: migration 0008 holds it with the
    unique key ux_enrollments_one_live_per_year on (person_no, year) among live rows, and checks that every row's
    dates lie within its year and that a live row covers up to 31 December (so live rows overlap exactly when they
    share a year). It replaced 0003's GiST exclusion constraint over the dates (docs/decisions/0010).
    """

    __tablename__ = "enrollments"

    id: Mapped[UUID] = mapped_column(primary_key=True)
    person_no: Mapped[str] = mapped_column(ForeignKey("persons.person_no"))
    scheme: Mapped[str] = mapped_column(String(20))
    year: Mapped[int] = mapped_column(Integer)
    region_code: Mapped[str] = mapped_column(String(12))
    status: Mapped[str] = mapped_column(String(20))
    effective_from: Mapped[date] = mapped_column(Date)
    effective_to: Mapped[date] = mapped_column(Date)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    employer_code: Mapped[str | None] = mapped_column(String(32), nullable=True)
    contribution_base: Mapped[Decimal | None] = mapped_column(Numeric(14, 2), nullable=True)  # 缴费基数, monthly
    assistance_category: Mapped[str | None] = mapped_column(String(32), nullable=True)  # 资助参保
    retiree: Mapped[bool] = mapped_column(Boolean, server_default="false")
    coverage_reason: Mapped[str | None] = mapped_column(String(200), nullable=True)
    activated_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    suspended_from: Mapped[date | None] = mapped_column(Date, nullable=True)
    terminated_on: Mapped[date | None] = mapped_column(Date, nullable=True)
    status_reason: Mapped[str | None] = mapped_column(String(200), nullable=True)


class Contribution(Base):
    """A posted contribution (缴费记录) towards one enrollment's year."""

    __tablename__ = "contributions"

    id: Mapped[UUID] = mapped_column(primary_key=True)
    enrollment_id: Mapped[UUID] = mapped_column(ForeignKey("enrollments.id"))
    person_no: Mapped[str] = mapped_column(ForeignKey("persons.person_no"))
    year: Mapped[int] = mapped_column(Integer)
    individual: Mapped[Decimal] = mapped_column(Numeric(14, 2))
    employer: Mapped[Decimal] = mapped_column(Numeric(14, 2))
    subsidy: Mapped[Decimal] = mapped_column(Numeric(14, 2))
    personal_account_credit: Mapped[Decimal] = mapped_column(Numeric(14, 2))
    paid_on: Mapped[date] = mapped_column(Date)
    posted_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())


class Filing(Base):
    """异地就医备案: care in destination_region_code counts as filed from valid_from to valid_to."""

    __tablename__ = "filings"

    id: Mapped[UUID] = mapped_column(primary_key=True)
    person_no: Mapped[str] = mapped_column(ForeignKey("persons.person_no"))
    filing_type: Mapped[str] = mapped_column(String(32))
    home_region_code: Mapped[str] = mapped_column(String(12))
    destination_region_code: Mapped[str] = mapped_column(String(12))
    valid_from: Mapped[date] = mapped_column(Date)
    valid_to: Mapped[date] = mapped_column(Date)
    status: Mapped[str] = mapped_column(String(20))  # pending_review | approved | revoked (expired is computed)
    decision_reason: Mapped[str] = mapped_column(String(200))
    filed_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    approved_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    revoked_on: Mapped[date | None] = mapped_column(Date, nullable=True)
    revoke_reason: Mapped[str | None] = mapped_column(String(200), nullable=True)


class FamilyBinding(Base):
    """家庭共济: the employee's (person_no) personal account may pay for relative_person_no."""

    __tablename__ = "family_bindings"

    id: Mapped[UUID] = mapped_column(primary_key=True)
    person_no: Mapped[str] = mapped_column(ForeignKey("persons.person_no"))
    relative_person_no: Mapped[str] = mapped_column(ForeignKey("persons.person_no"))
    relation: Mapped[str] = mapped_column(String(10))
    bound_on: Mapped[date] = mapped_column(Date)
    unbound_on: Mapped[date | None] = mapped_column(Date, nullable=True)


class HukouBaseline(Base):
    """户籍人口基数 imported for a region; it overrides the region file's figure (regions.Region.baseline)."""

    __tablename__ = "hukou_baselines"

    region_code: Mapped[str] = mapped_column(String(15), primary_key=True)
    hukou_population: Mapped[int] = mapped_column(Integer)
    imported_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())


class CoverageSnapshot(Base):
    """The insured hukou residents counted on one day (`coverage_counts`): what GET /stats/coverage
    reads for that day instead of every person (a city-wide count is a pass over all of them)."""

    __tablename__ = "coverage_snapshots"

    as_of: Mapped[date] = mapped_column(Date, primary_key=True)
    taken_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())


class CoverageCount(Base):
    """Insured persons of one scheme with one hukou code (village or grid cell) on a snapshot's day."""

    __tablename__ = "coverage_counts"

    as_of: Mapped[date] = mapped_column(ForeignKey("coverage_snapshots.as_of", ondelete="CASCADE"), primary_key=True)
    hukou_region_code: Mapped[str] = mapped_column(String(15), primary_key=True)
    scheme: Mapped[str] = mapped_column(String(16), primary_key=True)
    insured: Mapped[int] = mapped_column(Integer)
