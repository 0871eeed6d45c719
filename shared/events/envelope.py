"""CloudEvents 1.0 in Kafka binary mode: attributes in `ce_*` headers, the JSON payload as value."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from uuid import UUID

from pydantic import ValidationError
from pydantic_core import SchemaValidator
from uuid6 import uuid7

from shared.events.contracts import EVENT_TYPES, EventPayload, payload_class
from shared.money import plain_amount_json_validator

SPEC_VERSION = "1.0"
CONTENT_TYPE = "application/json"
TRACE_HEADERS = ("traceparent", "tracestate")
_SPECVERSION_HEADER = ("ce_specversion", SPEC_VERSION.encode())
_CONTENT_TYPE_HEADER = ("content-type", CONTENT_TYPE.encode())
_REQUIRED_ORDER = ("ce_id", "ce_type", "ce_source", "ce_time")
_SPEC_VERSION_BYTES = SPEC_VERSION.encode()


@dataclass(frozen=True)
class Event:
    id: UUID
    type: str
    source: str
    time: datetime
    subject: str | None
    payload: EventPayload
    trace_headers: dict[str, str] = field(default_factory=dict)
    # The record's value exactly as received and validated (None for an event built here): a
    # consumer that stores the payload's JSON can keep these bytes instead of dumping it again.
    payload_json: bytes | None = field(default=None, compare=False, repr=False)

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
    return ce_headers(
        event_id=str(event_id),
        event_type=event_type,
        source=source,
        time=time.isoformat(),
        subject=subject,
        trace=trace,
    )


def ce_headers(
    *, event_id: str, event_type: str, source: str, time: str, subject: str | None, trace: dict[str, str]
) -> list[tuple[str, bytes]]:
    """The headers from attributes already formatted: `event_id` a UUID's text, `time` RFC 3339."""
    headers = [
        _SPECVERSION_HEADER,
        ("ce_id", event_id.encode()),
        ("ce_source", source.encode()),
        ("ce_type", event_type.encode()),
        ("ce_time", time.encode()),
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


# Payloads with amounts are first validated with the amounts checked inside pydantic-core (plain
# amount strings, as every publisher writes them); whatever that refuses, the model judges itself.
# Built here, at import, for every registered type (decision 0013).
_PLAIN_AMOUNT_VALIDATORS: dict[type[EventPayload], SchemaValidator] = {
    model: validator for model in EVENT_TYPES.values() if (validator := plain_amount_json_validator(model)) is not None
}


def _validate_payload(model: type[EventPayload], value: bytes) -> EventPayload:
    fast = _PLAIN_AMOUNT_VALIDATORS.get(model)
    if fast is not None:
        try:
            payload: EventPayload = fast.validate_json(value)
            return payload
        except ValidationError:
            pass  # not only plain amounts, or invalid: the model's own answer and errors stand
    return model.model_validate_json(value)


class MalformedEvent(Exception):
    """A record that can never be processed; it goes to the dead-letter topic with `reason`."""

    def __init__(self, reason: str, detail: str) -> None:
        super().__init__(f"{reason}: {detail}")
        self.reason = reason
        self.detail = detail


def decode(value: bytes | None, headers: list[tuple[str, bytes]] | tuple[tuple[str, bytes], ...]) -> Event:
    # Every record of every consumer comes through here: only the attributes used are decoded.
    attrs = dict(headers)
    spec = attrs.get("ce_specversion")
    if spec is not None and spec != _SPEC_VERSION_BYTES:
        raise MalformedEvent("invalid-attribute", f"CloudEvents specversion {_text(spec)} is not 1.0")
    try:
        raw_id, raw_type, raw_source, raw_time = (attrs[name] for name in _REQUIRED_ORDER)
    except KeyError:
        missing = next(r for r in _REQUIRED_ORDER if r not in attrs)
        raise MalformedEvent("missing-attribute", f"header {missing} is missing") from None
    try:
        event_id = UUID(_text(raw_id))
        time = datetime.fromisoformat(_text(raw_time))
    except ValueError as exc:
        raise MalformedEvent("invalid-attribute", str(exc)) from exc
    event_type = _text(raw_type)
    model = payload_class(event_type)
    if model is None:
        raise MalformedEvent("unknown-type", f"no contract for event type {event_type!r}")
    if value is None:
        raise MalformedEvent("not-json", "the record has no value")
    try:
        payload = _validate_payload(model, value)
    except ValidationError as exc:
        if any(error["type"] == "json_invalid" for error in exc.errors()):
            raise MalformedEvent("not-json", exc.errors()[0]["msg"]) from exc
        raise MalformedEvent("invalid-payload", exc.json(include_url=False)[:2000]) from exc
    subject = attrs.get("ce_subject")
    return Event(
        id=event_id,
        type=event_type,
        source=_text(raw_source),
        time=time,
        subject=None if subject is None else _text(subject),
        payload=payload,
        trace_headers={k: _text(attrs[k]) for k in TRACE_HEADERS if k in attrs} if "traceparent" in attrs else {},
        payload_json=value,
    )


def _text(raw: bytes) -> str:
    return raw.decode("utf-8", "replace")
