"""Prometheus metrics shared by every service and worker."""

from __future__ import annotations

import gc
import time
from typing import Any

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

GC_PAUSE = Histogram(
    "yibao_gc_pause_seconds",
    "Pauses of Python's cyclic garbage collector (the event loop stands still for each)",
    ["generation"],
    buckets=(0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25),
)


class _GcPauseTimer:
    """A `gc.callbacks` entry timing each collection: a latency tail with no slow statement
    behind it may be the collector (`yibao_gc_pause_seconds`)."""

    def __init__(self) -> None:
        self._started = 0.0
        self._observers = [GC_PAUSE.labels(str(generation)) for generation in range(3)]

    def __call__(self, phase: str, info: dict[str, Any]) -> None:
        if phase == "start":
            self._started = time.perf_counter()
        else:
            self._observers[info["generation"]].observe(time.perf_counter() - self._started)


def time_gc_pauses() -> None:
    """Time every collection of this process from now on (idempotent)."""
    if not any(isinstance(callback, _GcPauseTimer) for callback in gc.callbacks):
        gc.callbacks.append(_GcPauseTimer())
