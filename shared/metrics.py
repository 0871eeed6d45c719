"""Prometheus metrics shared by every service and worker."""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram

HTTP_REQUESTS = Counter("yibao_http_requests_total", "HTTP requests served", ["service", "method", "route", "status"])
HTTP_LATENCY = Histogram(
    "yibao_http_request_duration_seconds",
    "HTTP request latency",
    ["service", "method", "route"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.08, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0),
)
OUTBOX_PUBLISHED = Counter("yibao_outbox_published_total", "Outbox rows published", ["service"])
OUTBOX_PENDING = Gauge("yibao_outbox_pending", "Outbox rows not yet published", ["service"])
EVENTS_CONSUMED = Counter(
    "yibao_events_consumed_total", "Events handled by a consumer", ["consumer", "type", "outcome"]
)
EVENTS_DEAD_LETTERED = Counter(
    "yibao_events_dead_lettered_total", "Events sent to a dead-letter topic", ["consumer", "topic", "reason"]
)
CONSUMER_LAG = Gauge(
    "yibao_consumer_lag", "Records behind the partition's high watermark", ["consumer", "topic", "partition"]
)
