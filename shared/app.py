"""The one way a Yibao HTTP service is assembled: app factory, middleware, health and metrics."""

from __future__ import annotations

import asyncio
import gc
import logging
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from aiokafka.admin import AIOKafkaAdminClient
from alembic.script import ScriptDirectory
from fastapi import APIRouter, FastAPI, Request
from fastapi.responses import JSONResponse, Response
from fastapi.telemetry import TelemetryConfig
from opentelemetry import context as otel_context
from opentelemetry import propagate, trace
from opentelemetry.trace import SpanKind, StatusCode
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from sqlalchemy import text
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from shared.db import Database
from shared.errors import install_problem_handlers, problem_response
from shared.logging import configure_logging, request_id_var
from shared.metrics import HTTP_LATENCY, HTTP_REQUESTS, time_gc_pauses
from shared.settings import ServiceSettings
from shared.tracing import configure_tracing

access_log = logging.getLogger("yibao.access")
ReadyCheck = Callable[[FastAPI], Awaitable[None]]
UNTRACKED_PATHS = frozenset({"/healthz", "/readyz", "/metrics"})


# FastAPI's own (native) OpenTelemetry layer stays off: RequestContextMiddleware makes the one
# server span itself (decision 0011), and "operation" spans per dependency/endpoint/serialisation
# would triple the spans per request.
NO_NATIVE_TELEMETRY: TelemetryConfig = {"tracing": False, "metrics": False, "logs": False, "operation_spans": False}
# The headers the default propagators (W3C trace context and baggage) read; others (b3, jaeger)
# would need adding here, as the carrier is built from these only (decision 0011).
_TRACE_HEADERS = frozenset({b"traceparent", b"tracestate", b"baggage"})


class RequestContextMiddleware:
    """Everything ops see of a request, in one pure-ASGI pass: the request id (in, out, and in
    every log line), one server span continuing the caller's W3C trace context, the RED metrics
    per route, and one JSON access-log line. One layer and one `send` wrapper instead of four
    (this one, OpenTelemetry's ASGI middleware and its exception layer, FastAPI's native
    telemetry), which each paid their own per-request and per-message cost (decision 0011)."""

    def __init__(self, app: ASGIApp, service: str, tracer_provider: trace.TracerProvider | None = None) -> None:
        self.app = app
        self.service = service
        self.tracer = trace.get_tracer("yibao.http", tracer_provider=tracer_provider)
        self._requests: dict[tuple[str, str, int], Any] = {}
        self._latency: dict[tuple[str, str], Any] = {}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path: str = scope["path"]
        if path in UNTRACKED_PATHS:
            # Probes and scrapes: no span, no log line, no metrics (as before), only the id.
            await self._call_untracked(scope, receive, send)
            return
        request_id = None
        carrier: dict[str, str] = {}
        for key, value in scope["headers"]:
            if key == b"x-request-id":
                request_id = value.decode("latin-1")[:128]
            elif key in _TRACE_HEADERS:
                carrier[key.decode()] = value.decode("latin-1")
        if not request_id:
            request_id = uuid.uuid4().hex
        method: str = scope["method"]
        request_id_token = request_id_var.set(request_id)
        parent = propagate.extract(carrier) if carrier else None
        span = self.tracer.start_span(
            method,
            context=parent,
            kind=SpanKind.SERVER,
            attributes={"http.request.method": method, "url.path": path, "url.scheme": scope.get("scheme", "http")},
        )
        context_token = otel_context.attach(trace.set_span_in_context(span, parent))
        request_id_header = (b"x-request-id", request_id.encode())
        started = time.perf_counter()
        status = 500

        async def send_with_id(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                message["headers"] = [*message.get("headers", ()), request_id_header]
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        except BaseException as exc:
            span.record_exception(exc)
            span.set_attribute("error.type", type(exc).__qualname__)
            raise
        finally:
            elapsed = time.perf_counter() - started
            route = getattr(scope.get("route"), "path", None)
            if route is not None:
                span.update_name(f"{method} {route}")
                span.set_attributes({"http.route": route, "http.response.status_code": status})
            else:
                span.set_attribute("http.response.status_code", status)
            if status >= 500:
                span.set_status(StatusCode.ERROR)
            span.end()
            self._observe(method, route or "unmatched", status, elapsed)
            principal = getattr(scope.get("state", {}).get("principal"), "subject", None)
            access_log.info(
                "%s %s %s",
                method,
                path,
                status,
                extra={
                    "method": method,
                    "path": path,
                    "status": status,
                    "duration_ms": round(elapsed * 1000, 2),
                    "principal": principal,
                },
            )
            otel_context.detach(context_token)
            request_id_var.reset(request_id_token)

    def _observe(self, method: str, route: str, status: int, elapsed: float) -> None:
        # prometheus_client's labels() builds and locks per call; the labelled children are
        # few (routes x methods x statuses), so they are kept.
        key = (method, route, status)
        counter = self._requests.get(key)
        if counter is None:
            counter = self._requests[key] = HTTP_REQUESTS.labels(self.service, method, route, str(status))
        counter.inc()
        latency = self._latency.get((method, route))
        if latency is None:
            latency = self._latency[(method, route)] = HTTP_LATENCY.labels(self.service, method, route)
        latency.observe(elapsed)

    async def _call_untracked(self, scope: Scope, receive: Receive, send: Send) -> None:
        request_id = _header(scope, b"x-request-id") or uuid.uuid4().hex
        token = request_id_var.set(request_id)

        async def send_with_id(message: Message) -> None:
            if message["type"] == "http.response.start":
                message["headers"] = [*message.get("headers", ()), (b"x-request-id", request_id.encode())]
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        finally:
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
    inner_middleware: Sequence[Callable[[ASGIApp], ASGIApp]] = (),
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
        # The modules, routes and settings loaded so far live as long as the process: freeze them
        # out of the collector's view, so its full passes under load walk only the objects of
        # requests in flight (shorter pauses in the latency tail).
        gc.collect()
        gc.freeze()
        # Each collection's pause is a metric (yibao_gc_pause_seconds): under the precheck bench's
        # 200/s, supervision's collector ran 44 young passes in 20 s, 8 ms in all, and no full one.
        time_gc_pauses()
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
        telemetry=NO_NATIVE_TELEMETRY,
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

    # Inside the request context (each sees its request id, span, metrics and access log): a
    # service's own pure-ASGI layers, such as the gateway's proxy fast path.
    for middleware in reversed(inner_middleware):
        app.add_middleware(middleware)
    # The one server span per request, request id, metrics and access log (decision 0011).
    app.add_middleware(RequestContextMiddleware, service=service)
    return app


def cursor_page(items: list[Any], limit: int, cursor_of: Callable[[Any], str]) -> dict[str, Any]:
    """A page of a keyset-paginated list: fetch `limit + 1` rows, pass them here."""
    has_more = len(items) > limit
    page = items[:limit]
    return {"items": page, "next_cursor": cursor_of(page[-1]) if has_more and page else None}
