"""The AsyncAPI document generated from the contracts registry, and the committed copy."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from shared.events.asyncapi import SERVICES, build_document, render
from shared.events.contracts import platform_event_types

EVENT_TYPES = platform_event_types()

REPO_ROOT = Path(__file__).resolve().parents[2]
COMMITTED = REPO_ROOT / "docs" / "events" / "asyncapi.json"


@pytest.fixture(scope="module")
def document() -> dict[str, Any]:
    return build_document()


def _resolve(document: dict[str, Any], ref: str) -> Any:
    assert ref.startswith("#/"), ref
    node: Any = document
    for part in ref[2:].split("/"):
        assert part in node, f"{ref} does not resolve ({part!r} missing)"
        node = node[part]
    return node


def _refs(node: Any) -> list[str]:
    if isinstance(node, dict):
        found = [node["$ref"]] if isinstance(node.get("$ref"), str) else []
        return found + [r for v in node.values() for r in _refs(v)]
    if isinstance(node, list):
        return [r for v in node for r in _refs(v)]
    return []


def test_is_asyncapi_3(document: dict[str, Any]) -> None:
    assert document["asyncapi"] == "3.0.0"
    assert document["defaultContentType"] == "application/json"
    assert document["servers"]["local"]["protocol"] == "kafka"


def test_one_channel_per_event_type_addressed_by_the_type(document: dict[str, Any]) -> None:
    addresses = sorted(channel["address"] for channel in document["channels"].values())
    assert addresses == sorted(EVENT_TYPES)
    for event_type, cls in EVENT_TYPES.items():
        channel = document["channels"][event_type.replace(".", "_")]
        assert channel["address"] == event_type
        assert f"{event_type}.dlq" in channel["description"]
        assert list(channel["messages"]) == [cls.__name__]


def test_a_send_operation_for_each_publisher(document: dict[str, Any]) -> None:
    sends = {
        (op["channel"]["$ref"], name.split("_publishes_")[0])
        for name, op in document["operations"].items()
        if op["action"] == "send"
    }
    expected = {(f"#/channels/{t.replace('.', '_')}", cls.publisher) for t, cls in EVENT_TYPES.items()}
    assert sends == expected


def test_a_receive_operation_per_consumer(document: dict[str, Any]) -> None:
    receives = {
        (op["channel"]["$ref"], name.split("_consumes_")[0])
        for name, op in document["operations"].items()
        if op["action"] == "receive"
    }
    expected = {
        (f"#/channels/{t.replace('.', '_')}", consumer) for t, cls in EVENT_TYPES.items() for consumer in cls.consumers
    }
    assert receives == expected
    assert ("#/channels/claim_settled", "supervision") in receives
    assert ("#/channels/person_registered", "ltc") in receives
    assert {name for _, name in receives} <= set(SERVICES)


def test_operation_messages_belong_to_their_channel(document: dict[str, Any]) -> None:
    for name, op in document["operations"].items():
        channel_ref = op["channel"]["$ref"]
        for message in op["messages"]:
            assert message["$ref"].startswith(channel_ref + "/messages/"), name


def test_every_ref_resolves(document: dict[str, Any]) -> None:
    refs = _refs(document)
    assert refs
    for ref in refs:
        _resolve(document, ref)


def test_message_payloads_are_the_contract_schemas(document: dict[str, Any]) -> None:
    schemas = document["components"]["schemas"]
    for cls in EVENT_TYPES.values():
        message = document["components"]["messages"][cls.__name__]
        assert message["title"] == cls.event_type
        assert message["payload"]["$ref"] == f"#/components/schemas/{cls.__name__}"
        payload = _resolve(document, message["payload"]["$ref"])
        assert set(payload["properties"]) == set(cls.model_fields)
        assert message["headers"]["$ref"] == "#/components/schemas/CloudEventsHeaders"
        assert cls.key_field in payload["properties"]
    assert "ClaimLine" in schemas
    assert "SettlementBreakdown" in schemas


def test_money_is_a_string_in_the_payload_schemas(document: dict[str, Any]) -> None:
    breakdown = document["components"]["schemas"]["SettlementBreakdown"]["properties"]
    assert breakdown["medfee_sumamt"]["type"] == "string"
    assert breakdown["medfee_sumamt"]["pattern"] == r"^-?\d+\.\d{2}$"


def test_cloudevents_headers_schema(document: dict[str, Any]) -> None:
    headers = document["components"]["schemas"]["CloudEventsHeaders"]
    assert set(headers["required"]) == {"ce_specversion", "ce_id", "ce_source", "ce_type", "ce_time"}
    assert headers["properties"]["ce_specversion"]["const"] == "1.0"


def test_render_is_json_of_the_document(document: dict[str, Any]) -> None:
    text = render()
    assert text.endswith("\n")
    assert json.loads(text) == document


def test_committed_document_is_current() -> None:
    assert COMMITTED.read_text(encoding="utf-8") == render()
