from __future__ import annotations

from datetime import date, datetime
from uuid import UUID

from sqlalchemy import Date, DateTime, ForeignKey, Integer, LargeBinary, Sequence, String, UniqueConstraint, func
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
    hukou_region_code: Mapped[str] = mapped_column(String(12))
    residence_region_code: Mapped[str] = mapped_column(String(12))
    registered_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())


class Enrollment(Base):
    __tablename__ = "enrollments"
    __table_args__ = (UniqueConstraint("person_no", "year", name="uq_enrollments_person_year"),)

    id: Mapped[UUID] = mapped_column(primary_key=True)
    person_no: Mapped[str] = mapped_column(ForeignKey("persons.person_no"))
    scheme: Mapped[str] = mapped_column(String(20))
    year: Mapped[int] = mapped_column(Integer)
    region_code: Mapped[str] = mapped_column(String(12))
    status: Mapped[str] = mapped_column(String(20))
    effective_from: Mapped[date] = mapped_column(Date)
    effective_to: Mapped[date] = mapped_column(Date)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
