"""Gateway: `uvicorn services.gateway.main:app`."""

from pathlib import Path

import httpx
from fastapi import FastAPI
from opentelemetry.instrumentation.httpx import HTTPXClientInstrumentor

from services.gateway.api import check_upstreams, proxy, router
from services.gateway.settings import Settings
from shared.app import check_database, create_service_app

settings = Settings()


async def open_client(app: FastAPI) -> None:
    client = httpx.AsyncClient(
        timeout=httpx.Timeout(settings.upstream_timeout_s, connect=settings.upstream_connect_timeout_s),
        limits=httpx.Limits(
            max_connections=settings.upstream_max_connections,
            max_keepalive_connections=settings.upstream_max_connections,
        ),
    )
    # Carries the W3C traceparent of each request on to the service.
    HTTPXClientInstrumentor.instrument_client(client)
    app.state.http = client


async def close_client(app: FastAPI) -> None:
    await app.state.http.aclose()


app = create_service_app(
    settings,
    title="Yibao gateway",
    description="The one door: API clients and tokens here; every service under /api/v1/<service>/.",
    routers=[router],
    root_routers=[proxy],
    migrations_dir=Path(__file__).parent / "migrations",
    ready_checks={"database": check_database, "services": check_upstreams},
    dependency_checks=frozenset({"services"}),
    on_startup=open_client,
    on_shutdown=close_client,
)
