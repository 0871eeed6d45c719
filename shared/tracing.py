"""OpenTelemetry: one tracer provider per process; W3C trace context over HTTP and event headers."""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping

from opentelemetry import context as otel_context
from opentelemetry import propagate, trace
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor
from opentelemetry.sdk.trace.sampling import ALWAYS_OFF, ParentBased

_configured = False
OTLP_ENDPOINT_VARIABLES = ("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "OTEL_EXPORTER_OTLP_ENDPOINT")


def tracer_provider(service: str, environ: Mapping[str, str]) -> TracerProvider:
    """Spans always get ids (for logs and propagation); they are recorded and shipped over
    OTLP/HTTP when the standard OTEL_EXPORTER_OTLP_(TRACES_)ENDPOINT names a collector.

    Without one, a trace this process starts is not sampled: its spans keep their ids (logs and
    the `traceparent` passed on still carry them) but record nothing, since nothing would read
    what they record (building a span's attributes and events was ~5% of the gateway's CPU a
    request). A caller's sampled trace is still recorded (parent-based)."""
    exporting = any(environ.get(name) for name in OTLP_ENDPOINT_VARIABLES)
    provider = TracerProvider(
        resource=Resource.create({"service.name": f"yibao-{service}"}),
        sampler=None if exporting else ParentBased(root=ALWAYS_OFF),
    )
    if exporting:
        # The exporter reads the endpoint, headers and timeout from the same OTEL_* variables.
        provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter()))
    return provider


def configure_tracing(service: str) -> None:
    global _configured
    if _configured:
        return
    trace.set_tracer_provider(tracer_provider(service, os.environ))
    _configured = True


def tracer(name: str) -> trace.Tracer:
    return trace.get_tracer(name)


def current_trace_headers() -> dict[str, str]:
    """The `traceparent` (and `tracestate`) of the current context, to carry in an event."""
    carrier: dict[str, str] = {}
    propagate.inject(carrier)
    return carrier


def context_from_headers(headers: Mapping[str, str] | Iterable[tuple[str, bytes]]) -> otel_context.Context:
    carrier = dict(headers) if isinstance(headers, Mapping) else {k: v.decode("utf-8", "replace") for k, v in headers}
    return propagate.extract(carrier)
