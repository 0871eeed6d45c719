"""Traces are shipped over OTLP/HTTP when a collector is configured, and only then."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, HTTPServer
from typing import ClassVar

import pytest

from shared.tracing import context_from_headers, current_trace_headers, tracer_provider


class _Collector(BaseHTTPRequestHandler):
    received: ClassVar[list[tuple[str, str, int]]] = []

    def do_POST(self) -> None:
        length = int(self.headers.get("content-length", 0))
        self.rfile.read(length)
        _Collector.received.append((self.path, self.headers.get("content-type", ""), length))
        self.send_response(200)
        self.end_headers()

    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.fixture
def collector() -> Iterator[str]:
    _Collector.received = []
    server = HTTPServer(("127.0.0.1", 0), _Collector)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}"
    server.shutdown()


def test_spans_are_exported_to_the_configured_collector(collector: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_ENDPOINT", collector)
    provider = tracer_provider("test", {"OTEL_EXPORTER_OTLP_ENDPOINT": collector})
    with provider.get_tracer("t").start_as_current_span("settle"):
        headers = current_trace_headers()
    assert provider.force_flush(5000)
    provider.shutdown()
    assert headers["traceparent"].startswith("00-")
    assert [(path, kind) for path, kind, _ in _Collector.received] == [("/v1/traces", "application/x-protobuf")]
    assert _Collector.received[0][2] > 0


def test_without_a_collector_spans_get_ids_but_go_nowhere(collector: str) -> None:
    provider = tracer_provider("test", {})
    with provider.get_tracer("t").start_as_current_span("settle") as span:
        assert span.get_span_context().is_valid
        assert not span.is_recording()  # nothing would read what it records
        headers = current_trace_headers()
    ids = span.get_span_context()
    _version, trace_id, span_id, flags = headers["traceparent"].split("-")
    assert (trace_id, span_id) == (f"{ids.trace_id:032x}", f"{ids.span_id:016x}")
    assert int(flags, 16) & 1 == 0  # passed on as not sampled
    provider.force_flush(1000)
    provider.shutdown()
    assert _Collector.received == []


def test_without_a_collector_a_callers_sampled_trace_is_continued_and_recorded() -> None:
    provider = tracer_provider("test", {})
    trace_id = "4bf92f3577b34da6a3ce929d0e0e4736"
    parent = context_from_headers({"traceparent": f"00-{trace_id}-00f067aa0ba902b7-01"})
    with provider.get_tracer("t").start_as_current_span("settle", context=parent) as span:
        assert f"{span.get_span_context().trace_id:032x}" == trace_id
        assert span.is_recording()
    provider.shutdown()
