"""The one way a Yibao HTTP service is assembled: app factory, middleware, health and metrics."""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from aiokafka.admin import AIOKafkaAdminClient
from alembic.script import ScriptDirectory
from fastapi import APIRouter, FastAPI, Request
from fastapi.responses import JSONResponse, Response
from opentelemetry.instrumentation.fastapi import FastAPIInstrumentor
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from sqlalchemy import text
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from shared.db import Database
from shared.errors import install_problem_handlers, problem_response
from shared.logging import configure_logging, request_id_var
from shared.metrics import HTTP_LATENCY, HTTP_REQUESTS
from shared.settings import ServiceSettings
from shared.tracing import configure_tracing

access_log = logging.getLogger("yibao.access")
ReadyCheck = Callable[[FastAPI], Awaitable[None]]
UNTRACKED_PATHS = frozenset({"/healthz", "/readyz", "/metrics"})


class RequestContextMiddleware:
    """Request id in and out, one JSON access-log line, and latency metrics, per request."""

    def __init__(self, app: ASGIApp, service: str) -> None:
        self.app = app
        self.service = service

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        request_id = _header(scope, b"x-request-id") or uuid.uuid4().hex
        token = request_id_var.set(request_id)
        started = time.perf_counter()
        status = 500

        async def send_with_id(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                message.setdefault("headers", [])
                message["headers"] = [*message["headers"], (b"x-request-id", request_id.encode())]
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        finally:
            elapsed = time.perf_counter() - started
            path = scope["path"]
            if path not in UNTRACKED_PATHS:
                route = getattr(scope.get("route"), "path", "unmatched")
                HTTP_REQUESTS.labels(self.service, scope["method"], route, str(status)).inc()
                HTTP_LATENCY.labels(self.service, scope["method"], route).observe(elapsed)
                principal = getattr(scope.get("state", {}).get("principal"), "subject", None)
                access_log.info(
                    "%s %s %s",
                    scope["method"],
                    path,
                    status,
                    extra={
                        "method": scope["method"],
                        "path": path,
                        "status": status,
                        "duration_ms": round(elapsed * 1000, 2),
                        "principal": principal,
                    },
                )
            request_id_var.reset(token)


def _header(scope: Scope, name: bytes) -> str | None:
    for key, value in scope.get("headers", []):
        if key == name:
            decoded: str = value.decode("latin-1")
            return decoded[:128]
    return None


async def check_database(app: FastAPI) -> None:
    db: Database = app.state.db
    async with db.engine.connect() as conn:
        version = await conn.scalar(text("SELECT version_num FROM alembic_version"))
    heads: set[str] = app.state.migration_heads
    behind: set[str] = app.state.migrations_behind_head
    # Behind the code: not ready. Ahead of it (a newer release migrated first, expand-then-
    # contract): still ready, so a rollout's migration Job does not take old pods out.
    if heads and (version is None or version in behind):
        raise RuntimeError(f"database at migration {version}, code needs {sorted(heads)}")


async def check_broker(app: FastAPI) -> None:
    admin: AIOKafkaAdminClient | None = app.state.kafka_admin
    if admin is None:
        settings: ServiceSettings = app.state.settings
        admin = AIOKafkaAdminClient(bootstrap_servers=settings.kafka_bootstrap_servers, request_timeout_ms=3000)
        await admin.start()
        app.state.kafka_admin = admin
    await admin.describe_cluster()


def create_service_app(
    settings: ServiceSettings,
    *,
    title: str,
    description: str,
    routers: list[APIRouter],
    migrations_dir: Path | None,
    ready_checks: dict[str, ReadyCheck] | None = None,
    dependency_checks: frozenset[str] = frozenset(),
    on_startup: Callable[[FastAPI], Awaitable[None]] | None = None,
    on_shutdown: Callable[[FastAPI], Awaitable[None]] | None = None,
    use_database: bool = True,
    root_routers: list[APIRouter] | None = None,
) -> FastAPI:
    service = settings.service_name
    configure_logging(service, settings.log_level)
    configure_tracing(service)
    checks: dict[str, ReadyCheck] = {}
    if use_database:
        checks["database"] = check_database
    checks.update(ready_checks or {"broker": check_broker})

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        app.state.settings = settings
        app.state.kafka_admin = None
        app.state.migration_heads = set()
        app.state.migrations_behind_head = set()
        if migrations_dir is not None:
            script = await asyncio.to_thread(ScriptDirectory, str(migrations_dir))
            app.state.migration_heads = set(script.get_heads())
            known = {rev.revision for rev in script.walk_revisions()}
            app.state.migrations_behind_head = known - app.state.migration_heads
        if use_database:
            app.state.db = Database(
                settings.database_url,
                pool_size=settings.db_pool_size,
                max_overflow=settings.db_max_overflow,
                pool_timeout_s=settings.db_pool_timeout_s,
            )
        if on_startup:
            await on_startup(app)
        try:
            yield
        finally:
            if on_shutdown:
                await on_shutdown(app)
            if app.state.kafka_admin is not None:
                await app.state.kafka_admin.close()
            if use_database:
                await app.state.db.dispose()

    prefix = f"/api/v1/{service}"
    app = FastAPI(
        title=title,
        description=description,
        version="0.1.0",
        lifespan=lifespan,
        openapi_url=f"{prefix}/openapi.json",
        docs_url=f"{prefix}/docs",
        redoc_url=None,
    )
    app.state.settings = settings
    install_problem_handlers(app)
    for router in routers:
        app.include_router(router, prefix=prefix)
    for router in root_routers or []:
        app.include_router(router)

    @app.get("/healthz", include_in_schema=False)
    async def healthz() -> dict[str, str]:
        return {"status": "ok", "service": service}

    @app.get("/readyz", include_in_schema=False)
    async def readyz(request: Request, scope: str = "all") -> Response:
        """`?scope=local` skips `dependency_checks` (other services): for a load balancer's probe,
        so one service being down does not take this one out of rotation."""
        results: dict[str, str] = {}
        selected = {n: c for n, c in checks.items() if scope != "local" or n not in dependency_checks}

        async def run(name: str, check: ReadyCheck) -> None:
            try:
                await asyncio.wait_for(check(request.app), timeout=3.0)
                results[name] = "ok"
            except Exception as exc:
                results[name] = f"failing: {exc or type(exc).__name__}"

        await asyncio.gather(*(run(n, c) for n, c in selected.items()))
        if all(v == "ok" for v in results.values()):
            return JSONResponse({"status": "ready", "service": service, "checks": results})
        failing = ", ".join(f"{k} ({v})" for k, v in results.items() if v != "ok")
        return problem_response(
            503, "not-ready", "Service not ready", f"{service} is not ready: {failing}", extra={"checks": results}
        )

    @app.get("/metrics", include_in_schema=False)
    async def metrics() -> Response:
        return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)

    # One server span per request; not two more per ASGI message (`http send`/`http receive`),
    # which say nothing the server span does not and cost CPU on every request.
    FastAPIInstrumentor.instrument_app(app, excluded_urls="healthz,readyz,metrics", exclude_spans=["receive", "send"])
    app.add_middleware(RequestContextMiddleware, service=service)
    return app


def cursor_page(items: list[Any], limit: int, cursor_of: Callable[[Any], str]) -> dict[str, Any]:
    """A page of a keyset-paginated list: fetch `limit + 1` rows, pass them here."""
    has_more = len(items) > limit
    page = items[:limit]
    return {"items": page, "next_cursor": cursor_of(page[-1]) if has_more and page else None}
