"""All of the gateway's SQL."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession

from services.gateway.models import ApiClient


async def add_client(session: AsyncSession, client: ApiClient) -> None:
    session.add(client)
    await session.flush()


async def get_client(session: AsyncSession, client_id: str) -> ApiClient | None:
    return await session.get(ApiClient, client_id)
