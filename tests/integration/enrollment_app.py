"""Enrollment's ASGI app in-process, on a database of its own migrated by enrollment's Alembic migrations:
for the integration tests that need the real routes on a database they may change or slow down."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import httpx

from devstack.infra import REPO_ROOT
from devstack.stack import Stack
from services.enrollment.api import router
from services.enrollment.regions import parse_regions
from services.enrollment.settings import Settings
from shared.app import create_service_app
from tests.integration.migration_steps import alembic, scratch_database

ENROLLMENT = REPO_ROOT / "services" / "enrollment"


@asynccontextmanager
async def enrollment_app(infra: Stack, prefix: str, **settings: Any) -> AsyncIterator[tuple[httpx.AsyncClient, str]]:
    """A client of the app (lifespan run, the demo region tree) and its database's URL; `settings` override
    enrollment's Settings. The database is dropped afterwards."""
    async with scratch_database(infra, prefix) as url:
        await alembic("enrollment", url, "upgrade", "head")
        app = create_service_app(
            Settings(database_url=url, kafka_bootstrap_servers=infra.bootstrap, **settings),
            title=f"enrollment ({prefix})",
            description="test",
            routers=[router],
            migrations_dir=ENROLLMENT / "migrations",
        )
        app.state.regions = parse_regions((ENROLLMENT / "data" / "regions.csv").read_text(encoding="utf-8"))
        async with app.router.lifespan_context(app):
            transport = httpx.ASGITransport(app=app)
            async with httpx.AsyncClient(transport=transport, base_url="http://enrollment", timeout=120) as client:
                yield client, url
