"""A request that finds every pooled connection busy for the pool's timeout gets a 503 problem, not a 500."""

from __future__ import annotations

import httpx
from fastapi import FastAPI
from sqlalchemy import text

from shared.db import Database
from shared.errors import install_problem_handlers
from tests.integration.conftest import FreshDatabase


async def test_an_exhausted_pool_answers_503_database_busy(fresh_database: FreshDatabase) -> None:
    db = Database(await fresh_database("db_pool_busy"), pool_size=1, max_overflow=0, pool_timeout_s=0.2)
    app = FastAPI()
    install_problem_handlers(app)

    @app.get("/count")
    async def count() -> dict[str, int]:
        async with db.transaction() as session:
            return {"n": int(await session.scalar(text("SELECT 1")) or 0)}

    try:
        transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
            assert (await client.get("/count")).json() == {"n": 1}  # the control: a free pool answers
            async with db.transaction() as holder:
                await holder.execute(text("SELECT 1"))  # holds the only connection
                answer = await client.get("/count")
        assert answer.status_code == 503
        assert answer.headers["content-type"].startswith("application/problem+json")
        assert answer.headers["retry-after"] == "1"
        assert answer.json()["type"].endswith("/database-busy")
    finally:
        await db.dispose()
