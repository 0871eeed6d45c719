"""publish_encoded's outbox rows as COPY text (decision 0014): every column as the binary COPY wrote it."""

from __future__ import annotations

import json
from datetime import UTC, datetime

from shared.events.outbox import EncodedEvent, outbox_copy_lines, shard_of
from shared.uuids import time_ordered_uuids

NOW = datetime(2026, 11, 24, 3, 4, 5, 600, tzinfo=UTC)


def _field(text: str) -> str:
    """PostgreSQL's reading of a COPY text field."""
    out, chars = [], iter(text)
    for c in chars:
        out.append({"\\": "\\", "t": "\t", "n": "\n", "r": "\r"}[next(chars)] if c == "\\" else c)
    return "".join(out)


def test_each_event_is_one_line_of_ten_columns_with_the_payload_as_bytea_hex() -> None:
    payloads = [b'{"person_no":"P00000000001","name":"\\u5f20\\t\\\\"}', '{"x":"晋江\\n"}'.encode()]
    events = [
        EncodedEvent("person.registered", "P00000000001", payloads[0]),
        EncodedEvent("contribution.posted", "P00000000002", payloads[1]),
    ]
    ids = time_ordered_uuids(2, NOW)
    headers = json.dumps({"traceparent": "00-abc-def-01", "odd": "tab\there\\"})
    lines = outbox_copy_lines(events, ids, source="/yibao/enrollment", occurred_at=NOW, headers=headers)
    assert len(lines) == 2
    for line, event, event_id in zip(lines, events, ids, strict=True):
        assert line.endswith("\n")
        assert line.count("\n") == 1
        fields = [_field(f) for f in line[:-1].split("\t")]
        assert fields[:8] == [
            str(event_id), event.event_type, event.event_type, event.key, str(shard_of(event.key)),
            "/yibao/enrollment", event.key, "2026-11-24T03:04:05.000600+00:00",
        ]  # fmt: skip
        assert fields[8].startswith("\\x")
        assert bytes.fromhex(fields[8][2:]) == event.payload
        assert json.loads(fields[9]) == json.loads(headers)
