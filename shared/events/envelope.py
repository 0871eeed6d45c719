"""CloudEvents 1.0 in Kafka binary mode: attributes in `ce_*` headers, the JSON payload as value."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from uuid import UUID

from pydantic import ValidationError
from uuid6 import uuid7

from shared.events.contracts import EventPayload, payload_class

SPEC_VERSION = "1.0"
CONTENT_TYPE = "application/json"
TRACE_HEADERS = ("traceparent", "tracestate")
_SPECVERSION_HEADER = ("ce_specversion", SPEC_VERSION.encode())
_CONTENT_TYPE_HEADER = ("content-type", CONTENT_TYPE.encode())
_REQUIRED_ORDER = ("ce_id", "ce_type", "ce_source", "ce_time")
_REQUIRED_ATTRIBUTES = frozenset(_REQUIRED_ORDER)


@dataclass(frozen=True)
class Event:
    id: UUID
    type: str
    source: str
    time: datetime
    subject: str | None
    payload: EventPayload
    trace_headers: dict[str, str] = field(default_factory=dict)

    @classmethod
    def new(cls, payload: EventPayload, *, source: str, trace_headers: dict[str, str] | None = None) -> Event:
        return cls(
            id=uuid7(),
            type=payload.event_type,
            source=source,
            time=datetime.now(UTC),
            subject=payload.key(),
            payload=payload,
            trace_headers=dict(trace_headers or {}),
        )

    @property
    def key(self) -> str:
        return self.payload.key()


def kafka_headers(
    *, event_id: UUID, event_type: str, source: str, time: datetime, subject: str | None, trace: dict[str, str]
) -> list[tuple[str, bytes]]:
    headers = [
        _SPECVERSION_HEADER,
        ("ce_id", str(event_id).encode()),
        ("ce_source", source.encode()),
        ("ce_type", event_type.encode()),
        ("ce_time", time.isoformat().encode()),
        _CONTENT_TYPE_HEADER,
    ]
    if subject:
        headers.append(("ce_subject", subject.encode()))
    if trace:
        headers.extend((k, v.encode()) for k, v in trace.items() if k in TRACE_HEADERS)
    return headers


def encode(event: Event) -> tuple[bytes, bytes, list[tuple[str, bytes]]]:
    """(key, value, headers) for a Kafka record."""
    headers = kafka_headers(
        event_id=event.id,
        event_type=event.type,
        source=event.source,
        time=event.time,
        subject=event.subject,
        trace=event.trace_headers,
    )
    return event.key.encode(), event.payload.model_dump_json().encode(), headers


class MalformedEvent(Exception):
    """A record that can never be processed; it goes to the dead-letter topic with `reason`."""

    def __init__(self, reason: str, detail: str) -> None:
        super().__init__(f"{reason}: {detail}")
        self.reason = reason
        self.detail = detail


def decode(value: bytes | None, headers: list[tuple[str, bytes]] | tuple[tuple[str, bytes], ...]) -> Event:
    attrs = {k: v.decode("utf-8", "replace") for k, v in headers}
    if attrs.get("ce_specversion", SPEC_VERSION) != SPEC_VERSION:
        raise MalformedEvent("invalid-attribute", f"CloudEvents specversion {attrs['ce_specversion']} is not 1.0")
    if not attrs.keys() >= _REQUIRED_ATTRIBUTES:
        missing = next(r for r in _REQUIRED_ORDER if r not in attrs)
        raise MalformedEvent("missing-attribute", f"header {missing} is missing")
    try:
        event_id = UUID(attrs["ce_id"])
        time = datetime.fromisoformat(attrs["ce_time"])
    except ValueError as exc:
        raise MalformedEvent("invalid-attribute", str(exc)) from exc
    model = payload_class(attrs["ce_type"])
    if model is None:
        raise MalformedEvent("unknown-type", f"no contract for event type {attrs['ce_type']!r}")
    if value is None:
        raise MalformedEvent("not-json", "the record has no value")
    try:
        payload = model.model_validate_json(value)
    except ValidationError as exc:
        if any(error["type"] == "json_invalid" for error in exc.errors()):
            raise MalformedEvent("not-json", exc.errors()[0]["msg"]) from exc
        raise MalformedEvent("invalid-payload", exc.json(include_url=False)[:2000]) from exc
    return Event(
        id=event_id,
        type=attrs["ce_type"],
        source=attrs["ce_source"],
        time=time,
        subject=attrs.get("ce_subject"),
        payload=payload,
        trace_headers={k: attrs[k] for k in TRACE_HEADERS if k in attrs} if "traceparent" in attrs else {},
    )
