from __future__ import annotations

from datetime import datetime

from sqlalchemy import Boolean, DateTime, Integer, LargeBinary, String, func
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column


class Base(DeclarativeBase):
    pass


class ApiClient(Base):
    """A system that calls the gateway (an app backend, a hospital) with its own credentials."""

    __tablename__ = "api_clients"

    client_id: Mapped[str] = mapped_column(String(40), primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    role: Mapped[str] = mapped_column(String(20))
    institution_code: Mapped[str | None] = mapped_column(String(20), nullable=True)
    secret_salt: Mapped[bytes] = mapped_column(LargeBinary)
    secret_hash: Mapped[str] = mapped_column(String(128))
    secret_iterations: Mapped[int] = mapped_column(Integer)
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
