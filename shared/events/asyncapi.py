"""Generate the AsyncAPI 3 document from the event registry (never written by hand).

`python -m shared.events.asyncapi docs/events/asyncapi.json` writes it; `--check` fails
when the committed file is stale.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

from pydantic.json_schema import models_json_schema

from shared.events.contracts import EventPayload, platform_event_types

SERVICES = ("enrollment", "settlement", "ltc", "supervision")


def _message_name(cls: type[EventPayload]) -> str:
    return cls.__name__


def _cloudevents_headers() -> dict[str, Any]:
    return {
        "type": "object",
        "required": ["ce_specversion", "ce_id", "ce_source", "ce_type", "ce_time"],
        "properties": {
            "ce_specversion": {"type": "string", "const": "1.0"},
            "ce_id": {"type": "string", "format": "uuid", "description": "UUIDv7; consumers deduplicate on it"},
            "ce_source": {"type": "string", "description": "the publishing service, e.g. /yibao/settlement"},
            "ce_type": {"type": "string", "description": "the event type, also the topic"},
            "ce_time": {"type": "string", "format": "date-time"},
            "ce_subject": {
                "type": "string",
                "description": "the key field (the person number for most types); also the record key",
            },
            "content-type": {"type": "string", "const": "application/json"},
            "traceparent": {"type": "string", "description": "W3C trace context of the writing request"},
            "tracestate": {"type": "string"},
        },
    }


def build_document() -> dict[str, Any]:
    types = platform_event_types()
    classes = [types[t] for t in sorted(types)]
    _, schema = models_json_schema(
        [(cls, "serialization") for cls in classes], ref_template="#/components/schemas/{model}"
    )
    schemas: dict[str, Any] = schema.get("$defs", {})
    channels: dict[str, Any] = {}
    operations: dict[str, Any] = {}
    messages: dict[str, Any] = {}
    for cls in classes:
        name = _message_name(cls)
        channel_id = cls.event_type.replace(".", "_")
        messages[name] = {
            "name": name,
            "title": cls.event_type,
            "summary": (cls.__doc__ or "").strip().splitlines()[0],
            "contentType": "application/json",
            "headers": {"$ref": "#/components/schemas/CloudEventsHeaders"},
            "payload": {"$ref": f"#/components/schemas/{cls.__name__}"},
            "bindings": {"kafka": {"key": {"type": "string", "description": f"the {cls.key_field}"}}},
        }
        channels[channel_id] = {
            "address": cls.event_type,
            "description": f"Topic `{cls.event_type}`; dead letters go to `{cls.event_type}.dlq`.",
            "messages": {name: {"$ref": f"#/components/messages/{name}"}},
        }
        operations[f"{cls.publisher}_publishes_{channel_id}"] = {
            "action": "send",
            "summary": f"{cls.publisher} publishes through its outbox",
            "channel": {"$ref": f"#/channels/{channel_id}"},
            "messages": [{"$ref": f"#/channels/{channel_id}/messages/{name}"}],
        }
        for consumer in cls.consumers:
            operations[f"{consumer}_consumes_{channel_id}"] = {
                "action": "receive",
                "summary": f"{consumer} consumes with its inbox (exactly-once effects)",
                "channel": {"$ref": f"#/channels/{channel_id}"},
                "messages": [{"$ref": f"#/channels/{channel_id}/messages/{name}"}],
            }
    schemas["CloudEventsHeaders"] = _cloudevents_headers()
    return {
        "asyncapi": "3.0.0",
        "info": {
            "title": "Yibao events",
            "version": "0.1.0",
            "description": "Every event on the Yibao bus: CloudEvents 1.0 in Kafka binary mode, "
            "one topic per type, keyed by person number. Generated from shared/events/contracts/.",
        },
        "defaultContentType": "application/json",
        "servers": {
            "local": {"host": "127.0.0.1:9092", "protocol": "kafka", "description": "make run"},
        },
        "channels": dict(sorted(channels.items())),
        "operations": dict(sorted(operations.items())),
        "components": {"messages": dict(sorted(messages.items())), "schemas": dict(sorted(schemas.items()))},
    }


def render() -> str:
    return json.dumps(build_document(), indent=2, ensure_ascii=False, sort_keys=False) + "\n"


def main(argv: list[str]) -> int:
    check = "--check" in argv
    paths = [a for a in argv if not a.startswith("--")]
    target = Path(paths[0] if paths else "docs/events/asyncapi.json")
    text = render()
    if check:
        if not target.exists() or target.read_text(encoding="utf-8") != text:
            print(f"{target} is stale: run `make docs` and commit it", file=sys.stderr)
            return 1
        print(f"{target} is current")
        return 0
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(text, encoding="utf-8")
    print(f"wrote {target}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
