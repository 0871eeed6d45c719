"""The gateway's proxy against a real socket upstream (no database): what crosses, what does
not, and the problems for a slow or missing service."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field

import aiohttp
import pytest
import uvicorn
from fastapi import FastAPI
from opentelemetry.sdk.trace import TracerProvider
from prometheus_client import REGISTRY
from yarl import URL

from services.gateway.api import (
    BodySizeLimit,
    ProxyFastPath,
    check_upstreams,
    close_upstreams,
    open_upstreams,
    proxy,
    router,
)
from services.gateway.settings import Settings
from shared.app import NO_NATIVE_TELEMETRY, RequestContextMiddleware
from shared.auth import Role, issue_token
from shared.errors import install_problem_handlers

TRACE_ID = "4bf92f3577b34da6a3ce929d0e0e4736"
FAST_PATH: list[bool] = [False]


@pytest.fixture(autouse=True, params=[False, True], ids=["router", "fast-path"])
def proxy_path(request: pytest.FixtureRequest) -> bool:
    """Every test runs against the proxy route through Starlette's router and through the gateway's
    `ProxyFastPath` (as services/gateway/main.py mounts it): the two must not differ."""
    FAST_PATH[0] = request.param
    return bool(request.param)


@dataclass
class Seen:
    target: str
    headers: dict[str, str]
    body: bytes


@dataclass
class Upstream:
    """A minimal HTTP/1.1 server that records each request exactly as it arrived."""

    seen: list[Seen] = field(default_factory=list)

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                request_line, *lines = head.decode("latin-1").split("\r\n")
                headers: dict[str, str] = {}
                for line in lines:
                    if line:
                        name, _, value = line.partition(":")
                        headers[name.strip().lower()] = value.strip()
                body = await reader.readexactly(int(headers.get("content-length", "0")))
                target = request_line.split(" ")[1]
                self.seen.append(Seen(target, headers, body))
                writer.write(await self.answer(target))
                await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            writer.close()

    async def answer(self, target: str) -> bytes:
        if target.endswith("/slow"):
            await asyncio.sleep(2.0)
        extra = ""
        status = "201 Created"
        if target.endswith("/redirect"):
            status, extra = "307 Temporary Redirect", "location: /elsewhere\r\n"
        if target.endswith("/cookie"):
            extra = "set-cookie: session=one-callers-secret\r\n"
        if target == "/readyz":
            status = "200 OK"
        payload = b'{"ok":true}'
        return (
            f'HTTP/1.1 {status}\r\ncontent-type: application/json\r\netag: "v7"\r\nx-internal: hidden\r\n'
            f"{extra}content-length: {len(payload)}\r\n\r\n"
        ).encode() + payload


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port


@asynccontextmanager
async def running_gateway(settings: Settings) -> AsyncIterator[str]:
    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        await open_upstreams(app)
        yield
        await close_upstreams(app)

    app = FastAPI(lifespan=lifespan, telemetry=NO_NATIVE_TELEMETRY)
    app.state.settings = settings
    install_problem_handlers(app)
    app.include_router(router, prefix="/api/v1/gateway")  # before the proxy, as create_service_app does
    app.include_router(proxy)
    if FAST_PATH[0]:
        app.add_middleware(ProxyFastPath)
    app.add_middleware(BodySizeLimit)  # outside the fast path, as services/gateway/main.py mounts them
    app.add_middleware(RequestContextMiddleware, service="gateway", tracer_provider=TracerProvider())
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=0, log_level="warning"))
    serving = asyncio.create_task(server.serve())
    while not server.started:
        await asyncio.sleep(0.01)
    port = server.servers[0].sockets[0].getsockname()[1]
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        await serving


@pytest.fixture
async def upstream() -> AsyncIterator[tuple[Upstream, int]]:
    recorder = Upstream()
    listening = await asyncio.start_server(recorder.handle, "127.0.0.1", 0)
    async with listening:
        yield recorder, listening.sockets[0].getsockname()[1]


def gateway_settings(
    supervision_port: int,
    upstream_timeout_s: float = 15.0,
    max_body_bytes: int = Settings.model_fields["max_body_bytes"].default,
) -> Settings:
    nowhere = f"http://127.0.0.1:{closed_port()}"
    return Settings(
        database_url="postgresql://x@127.0.0.1/x",
        supervision_url=f"http://127.0.0.1:{supervision_port}",
        enrollment_url=nowhere,
        settlement_url=nowhere,
        ltc_url=nowhere,
        upstream_timeout_s=upstream_timeout_s,
        max_body_bytes=max_body_bytes,
    )


def hospital_token(settings: Settings) -> str:
    return issue_token(settings.jwt_secret, subject="his-1", role=Role.HOSPITAL, institution_code="H35058200001")


async def test_a_request_reaches_the_service_as_it_came_with_the_callers_identity(
    upstream: tuple[Upstream, int],
) -> None:
    recorder, port = upstream
    settings = gateway_settings(port)
    token = hospital_token(settings)
    labels = {"service": "gateway", "method": "POST", "route": "/api/v1/{service}/{path:path}", "status": "201"}
    counted_before = REGISTRY.get_sample_value("yibao_http_requests_total", labels) or 0.0
    # Percent-encodings (a slash, a space, a Chinese query value) must arrive untouched.
    target = "/api/v1/supervision/items/a%2Fb%20c?q=%E5%8C%BB&x=1"
    async with (
        running_gateway(settings) as gateway,
        aiohttp.ClientSession() as client,
        client.post(
            URL(gateway + target, encoded=True),
            data=b'{"person_no":"P1"}',
            headers={
                "Authorization": f"Bearer {token}",
                "Content-Type": "application/json",
                "Idempotency-Key": "k-1",
                "Cookie": "sid=browser",
                "x-request-id": "req-77",
                "traceparent": f"00-{TRACE_ID}-00f067aa0ba902b7-01",
            },
        ) as answer,
    ):
        assert answer.status == 201
        assert await answer.read() == b'{"ok":true}'
        assert answer.headers["etag"] == '"v7"'
        assert "x-internal" not in answer.headers

    (seen,) = recorder.seen
    assert seen.target == target
    assert seen.body == b'{"person_no":"P1"}'
    assert seen.headers["authorization"] == f"Bearer {token}"
    assert seen.headers["content-type"] == "application/json"
    assert seen.headers["idempotency-key"] == "k-1"
    assert (seen.headers["x-yibao-subject"], seen.headers["x-yibao-role"]) == ("his-1", "hospital")
    assert seen.headers["x-request-id"] == "req-77"
    assert seen.headers["x-forwarded-for"] == "127.0.0.1"
    assert "cookie" not in seen.headers
    # The caller's trace continues through the gateway's span into the service.
    version, trace_id, parent_span, _ = seen.headers["traceparent"].split("-")
    assert (version, trace_id) == ("00", TRACE_ID)
    assert parent_span != "00f067aa0ba902b7"
    # Counted under the proxy route's template, whichever path took it.
    assert REGISTRY.get_sample_value("yibao_http_requests_total", labels) == counted_before + 1


async def test_no_content_type_is_invented_and_no_cookie_or_redirect_is_kept(upstream: tuple[Upstream, int]) -> None:
    recorder, port = upstream
    settings = gateway_settings(port)
    auth = {"Authorization": f"Bearer {hospital_token(settings)}"}
    async with (
        running_gateway(settings) as gateway,
        aiohttp.ClientSession(skip_auto_headers=["Content-Type"]) as client,
    ):
        async with client.post(f"{gateway}/api/v1/supervision/cookie", data=b"{}", headers=auth) as first:
            assert first.status == 201
            assert "set-cookie" not in first.headers
        async with client.get(f"{gateway}/api/v1/supervision/redirect", headers=auth, allow_redirects=False) as moved:
            assert moved.status == 307
            assert moved.headers["location"] == "/elsewhere"
    cookie_post, redirect = recorder.seen
    assert "content-type" not in cookie_post.headers  # FastAPI reads a body without one as JSON
    assert "cookie" not in redirect.headers  # one caller's cookie never rides on another's request
    assert [s.target for s in recorder.seen] == ["/api/v1/supervision/cookie", "/api/v1/supervision/redirect"]


async def test_a_slow_service_is_a_504_and_a_missing_one_a_503(upstream: tuple[Upstream, int]) -> None:
    _, port = upstream
    settings = gateway_settings(port, upstream_timeout_s=0.3)
    auth = {"Authorization": f"Bearer {hospital_token(settings)}"}
    async with running_gateway(settings) as gateway, aiohttp.ClientSession() as client:
        async with client.get(f"{gateway}/api/v1/supervision/slow", headers=auth) as slow:
            assert slow.status == 504
            assert slow.headers["content-type"] == "application/problem+json"
            problem = await slow.json(content_type=None)
            assert problem["type"] == "https://yibao.dev/problems/upstream-timeout"
            assert problem["detail"] == (
                "The supervision service did not answer in time; the request may or may not have been applied. "
                "Retry with the same Idempotency-Key."
            )
        async with client.get(f"{gateway}/api/v1/ltc/persons/P1", headers=auth) as missing:
            assert missing.status == 503
            assert (await missing.json(content_type=None))["type"] == "https://yibao.dev/problems/upstream-unavailable"
        async with client.get(f"{gateway}/api/v1/nosuch/x", headers=auth) as unknown:
            assert unknown.status == 404
            assert (await unknown.json(content_type=None))["type"] == "https://yibao.dev/problems/unknown-service"
        # The gateway's own prefix is never proxied; a method the route does not take is the router's 405.
        # Not "there is no service 'gateway'": the gateway is no upstream, its unknown paths a plain 404.
        async with client.get(f"{gateway}/api/v1/gateway/nothing-here", headers=auth) as own:
            assert own.status == 404
            problem = await own.json(content_type=None)
            assert problem["type"] == "https://yibao.dev/problems/not-found"
            assert "service" not in problem["detail"]
        async with client.options(f"{gateway}/api/v1/supervision/prechecks", headers=auth) as options:
            assert options.status == 405
            assert options.headers["content-type"] == "application/problem+json"


async def test_only_the_openapi_document_passes_without_a_token(upstream: tuple[Upstream, int]) -> None:
    recorder, port = upstream
    async with running_gateway(gateway_settings(port)) as gateway, aiohttp.ClientSession() as client:
        async with client.get(f"{gateway}/api/v1/supervision/prechecks") as anonymous:
            assert anonymous.status == 401
            assert anonymous.headers["content-type"] == "application/problem+json"
        async with client.get(f"{gateway}/api/v1/supervision/openapi.json") as public:
            assert public.status == 201  # what the fake service answers
    (seen,) = recorder.seen
    assert seen.target == "/api/v1/supervision/openapi.json"
    assert "x-yibao-subject" not in seen.headers


async def test_readiness_names_each_service_that_does_not_answer_200(upstream: tuple[Upstream, int]) -> None:
    recorder, port = upstream
    app = FastAPI()
    app.state.settings = gateway_settings(port)
    await open_upstreams(app)
    try:
        with pytest.raises(RuntimeError) as failing:
            await check_upstreams(app)
    finally:
        await close_upstreams(app)
    assert str(failing.value) == "not ready: enrollment, settlement, ltc"
    assert [s.target for s in recorder.seen] == ["/readyz"]


def test_the_gateway_app_mounts_the_fast_path_inside_the_request_context() -> None:
    from services.gateway.main import app

    # Outermost first: the fast path must see each request's id, span, metrics and access log; the body
    # limit must count the body before the proxy reads it.
    mounted: list[object] = [middleware.cls for middleware in app.user_middleware]
    assert mounted == [RequestContextMiddleware, BodySizeLimit, ProxyFastPath]


LIMIT = 4096


async def test_a_body_above_the_limit_is_a_413_problem_and_never_reaches_the_service(
    upstream: tuple[Upstream, int],
) -> None:
    recorder, port = upstream
    settings = gateway_settings(port, max_body_bytes=LIMIT)
    auth = {"Authorization": f"Bearer {hospital_token(settings)}", "Content-Type": "application/json"}
    async with running_gateway(settings) as gateway, aiohttp.ClientSession() as client:
        async with client.post(f"{gateway}/api/v1/supervision/at-limit", data=b"x" * LIMIT, headers=auth) as fits:
            assert fits.status == 201
        assert [(s.target, len(s.body)) for s in recorder.seen] == [("/api/v1/supervision/at-limit", LIMIT)]
        # Declared too large: refused before the body is read.
        async with client.post(f"{gateway}/api/v1/supervision/big", data=b"x" * (LIMIT + 1), headers=auth) as big:
            assert big.status == 413
            assert big.headers["content-type"] == "application/problem+json"
            problem = await big.json(content_type=None)
            assert problem["type"] == "https://yibao.dev/problems/request-too-large"
            assert str(LIMIT) in problem["detail"]
        # The gateway's own routes too.
        async with client.post(f"{gateway}/api/v1/gateway/tokens", data=b" " * (LIMIT + 1), headers=auth) as own:
            assert own.status == 413

        # No Content-Length (chunked): the answer comes as soon as the limit is passed, while the body is
        # still unfinished, so the gateway never waited for (or held) the whole of it. The gateway's own
        # routes too, though FastAPI makes a failed body read its own 400.
        for target in ("/api/v1/supervision/streamed", "/api/v1/gateway/tokens"):
            head = await _unending_chunked_post(gateway, target, auth["Authorization"])
            assert head.startswith(b"HTTP/1.1 413 "), (target, head)
            assert b"application/problem+json" in head
    assert [s.target for s in recorder.seen] == ["/api/v1/supervision/at-limit"], "nothing too large was passed on"


async def _unending_chunked_post(gateway: str, target: str, authorization: str) -> bytes:
    """POST more than LIMIT bytes in chunks, without the terminating chunk; the answer's head."""
    host, _, port = gateway.removeprefix("http://").partition(":")
    reader, writer = await asyncio.open_connection(host, int(port))
    try:
        writer.write(
            f"POST {target} HTTP/1.1\r\nHost: gateway\r\nTransfer-Encoding: chunked\r\n"
            f"Authorization: {authorization}\r\nContent-Type: application/json\r\n\r\n".encode()
        )
        for _ in range(LIMIT // 1024 + 1):
            writer.write(b"400\r\n" + b" " * 1024 + b"\r\n")
        await writer.drain()
        return await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), timeout=5)
    finally:
        writer.close()
