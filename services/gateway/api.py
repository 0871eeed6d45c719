"""Gateway routes: API clients and tokens, and the proxy to every service."""

from __future__ import annotations

import asyncio
import secrets
from collections.abc import Awaitable, Callable
from typing import NoReturn

import aiohttp
from fastapi import APIRouter, FastAPI, Request, Response
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.responses import HTMLResponse
from starlette.exceptions import HTTPException
from starlette.routing import Match
from starlette.types import ASGIApp, Message, Receive, Scope, Send
from yarl import URL

from services.gateway import repository
from services.gateway.models import ApiClient
from services.gateway.schemas import ClientCreate, ClientCreated, TokenOut, TokenRequest, UpstreamOut
from services.gateway.service import (
    hash_client_secret,
    is_public,
    new_client_secret,
    request_headers_to_forward,
    response_headers_to_return,
    secret_matches,
    upstream_target,
)
from services.gateway.settings import Settings
from shared.auth import CurrentPrincipal, Role, current_principal, issue_token, require_role
from shared.db import DbSession
from shared.errors import NotFound, ServiceUnavailable, Unauthorized, problem_response
from shared.http_client import pooled_session
from shared.logging import request_id_var
from shared.tracing import current_trace_headers

router = APIRouter(tags=["gateway"])
proxy = APIRouter()


@router.post("/clients", status_code=201, response_model=ClientCreated)
async def create_client(
    body: ClientCreate, request: Request, session: DbSession, principal: CurrentPrincipal
) -> ClientCreated:
    """Register an API client (an app backend or a hospital system). The secret is shown once."""
    require_role(principal, Role.ADMIN)
    settings = request.app.state.settings
    secret = new_client_secret()
    salt = secrets.token_bytes(16)
    client = ApiClient(
        client_id="cl_" + secrets.token_hex(12),
        name=body.name,
        role=body.role.value,
        institution_code=body.institution_code,
        secret_salt=salt,
        secret_hash=await asyncio.to_thread(hash_client_secret, secret, salt, settings.client_secret_iterations),
        secret_iterations=settings.client_secret_iterations,
        active=True,
    )
    await repository.add_client(session, client)
    return ClientCreated(
        client_id=client.client_id,
        client_secret=secret,
        name=client.name,
        role=body.role,
        institution_code=client.institution_code,
    )


@router.post("/tokens", response_model=TokenOut)
async def issue_client_token(body: TokenRequest, request: Request, session: DbSession) -> TokenOut:
    """OAuth2-style client credentials: exchange a client id and secret for a bearer token."""
    settings = request.app.state.settings
    client = await repository.get_client(session, body.client_id)
    ok = client is not None and client.active
    if client is not None:
        ok = ok and await asyncio.to_thread(
            secret_matches, body.client_secret, client.secret_salt, client.secret_iterations, client.secret_hash
        )
    if not ok or client is None:
        raise Unauthorized("Unknown client or wrong secret.", kind="invalid-client")
    token = issue_token(
        settings.jwt_secret,
        subject=client.client_id,
        role=Role(client.role),
        institution_code=client.institution_code,
        ttl_seconds=settings.token_ttl_s,
        issuer=settings.jwt_issuer,
        algorithm=settings.jwt_algorithm,
    )
    return TokenOut(access_token=token, expires_in=settings.token_ttl_s)


@router.get("/services", response_model=list[UpstreamOut])
async def list_services(request: Request) -> list[UpstreamOut]:
    return [UpstreamOut(service=name, openapi=f"/api/v1/{name}/openapi.json") for name in request.app.state.upstreams]


@proxy.get("/docs", include_in_schema=False)
async def all_docs(request: Request) -> HTMLResponse:
    """One Swagger UI for every service's OpenAPI document."""
    urls = [{"url": f"/api/v1/{n}/openapi.json", "name": n} for n in ["gateway", *request.app.state.upstreams]]
    return get_swagger_ui_html(
        openapi_url=urls[0]["url"],
        title="Yibao API",
        swagger_ui_parameters={"urls": urls, "urls.primaryName": "gateway"},
    )


async def forward(request: Request) -> Response:
    """Every request under /api/v1/<service>/ that is not the gateway's own, passed on as it came.

    A plain Starlette route (`proxy.add_route` below), not a FastAPI one: there is nothing to
    validate or inject, and FastAPI's parameter solving was measurable CPU on every request.
    """
    service: str = request.path_params["service"]
    path: str = request.path_params["path"]
    # Starlette's plain routes do not name themselves in the scope (FastAPI's do): without this
    # the request metrics and span called every proxied request "unmatched".
    request.scope["route"] = PROXY_ROUTE
    upstream = request.app.state.upstreams.get(service)
    if service == "gateway":
        await _not_a_gateway_route(request)
    if upstream is None:
        raise NotFound(f"There is no service {service!r}; see /api/v1/gateway/services.", kind="unknown-service")
    headers = request_headers_to_forward(request.headers.items())
    if not is_public(request.method, path):
        principal = await current_principal(request)
        headers["x-yibao-subject"] = principal.subject
        headers["x-yibao-role"] = principal.role.value
    headers["x-request-id"] = request_id_var.get() or ""
    if request.client:
        headers["x-forwarded-for"] = request.client.host
    # The W3C traceparent of this request's span, so the service continues the caller's trace.
    headers.update(current_trace_headers())
    # Already encoded: yarl must not decode or re-quote it.
    url = URL(upstream + upstream_target(request.scope["raw_path"], request.scope["query_string"]), encoded=True)
    session: aiohttp.ClientSession = request.app.state.http
    body = await request.body()
    try:
        async with session.request(
            request.method, url, data=body or None, headers=headers, allow_redirects=False
        ) as answer:
            content = await answer.read()
            status = answer.status
            returned = response_headers_to_return(answer.headers.items())
    except TimeoutError as exc:  # aiohttp's connect and read timeouts are TimeoutErrors
        raise ServiceUnavailable(
            f"The {service} service did not answer in time; the request may or may not have been applied. "
            "Retry with the same Idempotency-Key.",
            status=504,
            kind="upstream-timeout",
            title="Upstream timeout",
        ) from exc
    except aiohttp.ClientError as exc:
        raise ServiceUnavailable(
            f"The {service} service is unreachable; retry later.", kind="upstream-unavailable"
        ) from exc
    return Response(content=content, status_code=status, headers=returned)


async def _not_a_gateway_route(request: Request) -> NoReturn:
    """A `/api/v1/gateway/` path no gateway route took (the proxy's route matches it too, so the
    router's own 404 or 405 never comes): answer as the router would, not "no service 'gateway'"."""
    for route in request.app.router.routes:
        if route.matches(request.scope)[0] is Match.PARTIAL:
            # A gateway route for this path, another method: its own handling raises the router's
            # 405 with the Allow header; nothing is sent, as the scope names the app.
            await route.handle(request.scope, request.receive, _send_nothing)
            raise HTTPException(405)
    raise NotFound(
        f"The gateway has no route {request.method} {request.url.path}; its own are listed in /api/v1/gateway/docs.",
        kind="not-found",
    )


async def _send_nothing(message: Message) -> None:
    raise RuntimeError("a method-not-allowed route tried to answer itself")


PROXIED_METHODS = frozenset({"GET", "POST", "PUT", "PATCH", "DELETE"})
proxy.add_route("/api/v1/{service}/{path:path}", forward, methods=sorted(PROXIED_METHODS), include_in_schema=False)
PROXY_ROUTE = proxy.routes[-1]


class ProxyFastPath:
    """Pure ASGI, just inside the request-context middleware: a request the proxy route would
    take goes straight to `forward`, past Starlette's router (which tries the gateway's own
    routes first), its exception middleware and FastAPI's exit stack: about a fifth of the
    gateway's CPU a proxied request, and the proxy carries all of the platform's traffic.

    It takes exactly what the route would: a proxied method under `/api/v1/<service>/` for any
    service but the gateway's own (whose paths go the usual way, unknown ones included), with
    the path parameters set in the scope as the router would. A `ProblemError` or any other
    exception with a handler of its own becomes that handler's problem response, as the
    exception middleware would make it; anything else propagates to the server-error middleware
    outside (the 500 problem)."""

    _PREFIX = "/api/v1/"

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        path: str = scope.get("path", "")
        if scope["type"] != "http" or scope["method"] not in PROXIED_METHODS or not path.startswith(self._PREFIX):
            await self.app(scope, receive, send)
            return
        service, slash, rest = path[len(self._PREFIX) :].partition("/")
        if not slash or not service or service == "gateway":
            await self.app(scope, receive, send)
            return
        scope["path_params"] = {"service": service, "path": rest}  # `forward` names the route itself
        request = Request(scope, receive)
        try:
            response = await forward(request)
        except Exception as exc:
            handler = _problem_handler(request.app, exc)
            if handler is None:
                raise
            response = await handler(request, exc)
        await response(scope, receive, send)


class BodySizeLimit:
    """Pure ASGI, outside the proxy: a request body above `max_body_bytes` is a 413 problem. A declared
    Content-Length above it is refused before a byte is read; otherwise the body is counted as it
    streams in and the request is cut off at the first chunk past the limit (so at most the limit
    is ever buffered), whatever the route below was doing with it."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        limit: int = scope["app"].state.settings.max_body_bytes
        declared = next((v for k, v in scope["headers"] if k == b"content-length"), None)
        if declared is not None and declared.isdigit() and int(declared) > limit:
            await _too_large(scope, limit)(scope, receive, send)
            return
        received = 0
        exceeded = started = False

        async def counted() -> Message:
            nonlocal received, exceeded
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    exceeded = True
                    raise _BodyTooLarge
            return message

        async def guarded(message: Message) -> None:
            nonlocal started
            if exceeded:
                return  # whatever the route made of the cut-off read; the 413 goes instead
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, counted, guarded)
        except Exception:
            if not exceeded:
                raise
        if exceeded and not started:
            await _too_large(scope, limit)(scope, receive, send)


class _BodyTooLarge(Exception):
    """Raised from the counted receive: no handler of the app's takes it, so it comes back to BodySizeLimit."""


def _too_large(scope: Scope, limit: int) -> Response:
    return problem_response(
        413,
        "request-too-large",
        "Request body too large",
        f"The request body is larger than the gateway takes ({limit} bytes); "
        "send less per request (a batch import in several files).",
        instance=scope.get("path"),
        headers={"Connection": "close"},  # the rest of the body is not read
    )


def _problem_handler(app: FastAPI, exc: Exception) -> Callable[[Request, Exception], Awaitable[Response]] | None:
    """The app's handler for this exception's nearest class, as Starlette's exception middleware
    looks it up; `Exception`'s own (the 500) is left to the server-error middleware."""
    for cls in type(exc).__mro__:
        if cls is Exception:
            return None
        handler = app.exception_handlers.get(cls)
        if handler is not None:
            return handler  # type: ignore[return-value]
    return None


async def open_upstreams(app: FastAPI) -> None:
    """One pooled session to every service for the app's life (shared.http_client, decision 0007)."""
    settings: Settings = app.state.settings
    # Per phase, as with httpx before: waiting for a pooled connection and reading each chunk
    # of the answer may take upstream_timeout_s, the TCP connect upstream_connect_timeout_s.
    app.state.http = pooled_session(
        max_connections=settings.upstream_max_connections,
        max_connections_per_host=settings.upstream_max_connections_per_service,
        timeout=aiohttp.ClientTimeout(
            total=None,
            connect=settings.upstream_timeout_s,
            sock_connect=settings.upstream_connect_timeout_s,
            sock_read=settings.upstream_timeout_s,
        ),
    )
    # Built once: the proxy looks a service up on every request.
    app.state.upstreams = settings.upstreams()


async def close_upstreams(app: FastAPI) -> None:
    await app.state.http.close()


async def check_upstreams(app: FastAPI) -> None:
    session: aiohttp.ClientSession = app.state.http
    names = list(app.state.upstreams.items())
    probe_timeout = aiohttp.ClientTimeout(total=2.5)

    async def probe(base: str) -> int:
        try:
            async with session.get(f"{base}/readyz", timeout=probe_timeout, allow_redirects=False) as answer:
                return answer.status
        except (TimeoutError, aiohttp.ClientError):
            return 0

    codes = await asyncio.gather(*(probe(base) for _, base in names))
    failing = [name for (name, _), code in zip(names, codes, strict=True) if code != 200]
    if failing:
        raise RuntimeError("not ready: " + ", ".join(failing))
