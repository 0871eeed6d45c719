"""RequestContextMiddleware: the one layer that gives every request its id, its server span (continuing
the caller's trace), its RED metrics and its access-log line (decision 0011)."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator

import httpx
import pytest
from fastapi import FastAPI
from opentelemetry import baggage, trace
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind, StatusCode
from prometheus_client import REGISTRY

from shared.app import NO_NATIVE_TELEMETRY, RequestContextMiddleware
from shared.errors import NotFound, install_problem_handlers
from shared.logging import request_id_var

SERVICE = "unit-request-context"
CALLER_TRACE = "4bf92f3577b34da6a3ce929d0e0e4736"
CALLER_SPAN = "00f067aa0ba902b7"


@pytest.fixture
def exporter() -> InMemorySpanExporter:
    return InMemorySpanExporter()


@pytest.fixture
async def client(exporter: InMemorySpanExporter) -> AsyncIterator[httpx.AsyncClient]:
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    app = FastAPI(telemetry=NO_NATIVE_TELEMETRY)
    install_problem_handlers(app)

    @app.get("/items/{item_id}")
    async def item(item_id: str) -> dict[str, str | None]:
        context = trace.get_current_span().get_span_context()
        return {"id": item_id, "request_id": request_id_var.get(), "trace_id": format(context.trace_id, "032x")}

    @app.get("/baggage")
    async def caller_baggage() -> dict[str, object]:
        return {"tenant": baggage.get_baggage("tenant")}

    @app.get("/missing")
    async def missing() -> None:
        raise NotFound("nothing here", kind="item-not-found")

    @app.get("/boom")
    async def boom() -> None:
        raise RuntimeError("a bug")

    @app.get("/healthz")
    async def healthz() -> dict[str, str]:
        return {"status": "ok"}

    app.add_middleware(RequestContextMiddleware, service=SERVICE, tracer_provider=provider)
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as http:
        yield http


def requests_counted(route: str, status: int) -> float:
    labels = {"service": SERVICE, "method": "GET", "route": route, "status": str(status)}
    return REGISTRY.get_sample_value("yibao_http_requests_total", labels) or 0.0


def latency_count(route: str) -> float:
    labels = {"service": SERVICE, "method": "GET", "route": route}
    return REGISTRY.get_sample_value("yibao_http_request_duration_seconds_count", labels) or 0.0


def only_span(exporter: InMemorySpanExporter) -> ReadableSpan:
    (span,) = exporter.get_finished_spans()
    return span


async def test_the_callers_trace_and_request_id_continue_through_one_server_span(
    client: httpx.AsyncClient, exporter: InMemorySpanExporter
) -> None:
    answer = await client.get(
        "/items/a-1",
        headers={"x-request-id": "req-42", "traceparent": f"00-{CALLER_TRACE}-{CALLER_SPAN}-01"},
    )
    assert answer.status_code == 200
    assert answer.headers["x-request-id"] == "req-42"
    assert answer.json() == {"id": "a-1", "request_id": "req-42", "trace_id": CALLER_TRACE}
    span = only_span(exporter)
    assert span.kind is SpanKind.SERVER
    assert span.name == "GET /items/{item_id}"
    assert format(span.context.trace_id, "032x") == CALLER_TRACE
    assert span.parent is not None
    assert format(span.parent.span_id, "016x") == CALLER_SPAN
    assert span.attributes is not None
    assert span.attributes["http.route"] == "/items/{item_id}"
    assert span.attributes["http.response.status_code"] == 200
    assert span.attributes["url.path"] == "/items/a-1"
    assert span.status.status_code is StatusCode.UNSET
    # After the request, nothing of it is left in the context.
    assert request_id_var.get() is None
    assert not trace.get_current_span().get_span_context().is_valid


async def test_without_a_caller_a_new_trace_and_request_id_are_made(
    client: httpx.AsyncClient, exporter: InMemorySpanExporter
) -> None:
    answer = await client.get("/items/b")
    request_id = answer.headers["x-request-id"]
    assert len(request_id) == 32
    assert answer.json()["request_id"] == request_id
    span = only_span(exporter)
    assert span.parent is None
    assert answer.json()["trace_id"] == format(span.context.trace_id, "032x")


async def test_red_metrics_count_every_request_per_route_and_status(client: httpx.AsyncClient) -> None:
    ok_before, missing_before = requests_counted("/items/{item_id}", 200), requests_counted("/missing", 404)
    observed_before = latency_count("/items/{item_id}")
    for item in ("x", "y", "z"):
        assert (await client.get(f"/items/{item}")).status_code == 200
    assert (await client.get("/missing")).status_code == 404
    assert requests_counted("/items/{item_id}", 200) == ok_before + 3
    assert requests_counted("/missing", 404) == missing_before + 1
    assert latency_count("/items/{item_id}") == observed_before + 3


async def test_a_problem_is_not_an_error_span_but_a_crash_is(
    client: httpx.AsyncClient, exporter: InMemorySpanExporter
) -> None:
    crashes_before = requests_counted("/boom", 500)
    missing = await client.get("/missing")
    assert missing.status_code == 404
    assert missing.headers["content-type"] == "application/problem+json"
    # The 500 itself is sent by Starlette's ServerErrorMiddleware, outside this one.
    crashed = await client.get("/boom")
    assert crashed.status_code == 500
    not_found, boom = exporter.get_finished_spans()
    assert not_found.status.status_code is StatusCode.UNSET
    assert boom.status.status_code is StatusCode.ERROR
    assert boom.attributes is not None
    assert boom.attributes["error.type"] == "RuntimeError"
    assert requests_counted("/boom", 500) == crashes_before + 1


async def test_probes_get_an_id_but_no_span_metrics_or_log_line(
    client: httpx.AsyncClient, exporter: InMemorySpanExporter, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="yibao.access")
    answer = await client.get("/healthz")
    assert answer.status_code == 200
    assert answer.headers["x-request-id"]
    assert exporter.get_finished_spans() == ()
    assert requests_counted("/healthz", 200) == 0
    assert not [r for r in caplog.records if r.name == "yibao.access"]


async def test_one_access_log_line_per_request_with_status_and_duration(
    client: httpx.AsyncClient, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="yibao.access")
    await client.get("/missing", headers={"x-request-id": "req-log"})
    (line,) = [r for r in caplog.records if r.name == "yibao.access"]
    assert line.getMessage() == "GET /missing 404"
    assert (line.__dict__["status"], line.__dict__["path"]) == (404, "/missing")
    assert line.__dict__["duration_ms"] >= 0


async def test_the_callers_baggage_reaches_the_handler(client: httpx.AsyncClient) -> None:
    answer = await client.get(
        "/baggage", headers={"traceparent": f"00-{CALLER_TRACE}-{CALLER_SPAN}-01", "baggage": "tenant=fj-350500"}
    )
    assert answer.json() == {"tenant": "fj-350500"}
