"""All of supervision's SQL."""

from __future__ import annotations

from uuid import UUID

from sqlalchemy import select
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from services.supervision.models import AuditResult, Flag


async def claim_audit(session: AsyncSession, **values: object) -> bool:
    """Insert the audit result; False if this claim was audited already."""
    inserted = await session.execute(
        insert(AuditResult).values(**values).on_conflict_do_nothing().returning(AuditResult.settlement_id)
    )
    return inserted.first() is not None


async def add_flags(session: AsyncSession, flags: list[Flag]) -> None:
    session.add_all(flags)
    await session.flush()


async def get_audit(session: AsyncSession, settlement_id: UUID) -> tuple[AuditResult, list[Flag]] | None:
    audit = await session.get(AuditResult, settlement_id)
    if audit is None:
        return None
    flags = await session.scalars(select(Flag).where(Flag.settlement_id == settlement_id).order_by(Flag.id))
    return audit, list(flags)


async def list_flags(session: AsyncSession, *, after: UUID | None, limit: int) -> list[Flag]:
    """Keyset page in flag id order (UUIDv7: creation order)."""
    query = select(Flag).order_by(Flag.id).limit(limit)
    if after is not None:
        query = query.where(Flag.id > after)
    return list(await session.scalars(query))
