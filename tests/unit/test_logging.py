"""The JSON log line: JsonLineFormatter writes what python-json-logger's JsonFormatter wrote before
(as configure_logging set it up), only cheaper (decision 0011)."""

from __future__ import annotations

import json
import logging
import sys
from datetime import UTC, date, datetime
from decimal import Decimal
from uuid import UUID

import pytest
from pythonjsonlogger.json import JsonFormatter

from shared.logging import ContextFilter, JsonLineFormatter, request_id_var

# The formatter configure_logging used before decision 0011, kept here as the reference.
REFERENCE = JsonFormatter(
    "{asctime}{levelname}{name}{message}",
    style="{",
    rename_fields={"asctime": "time", "levelname": "level", "name": "logger"},
    timestamp=False,
)


def record(msg: str, *args: object, extra: dict[str, object] | None = None, error: bool = False) -> logging.LogRecord:
    exc_info = None
    if error:
        try:
            raise ValueError("金额 must not be a float")
        except ValueError:
            exc_info = sys.exc_info()
    made = logging.getLogger("yibao.test").makeRecord(
        "yibao.test", logging.WARNING, __file__, 1, msg, args, exc_info, extra=extra
    )
    ContextFilter("settlement").filter(made)
    return made


CASES = {
    "access line": record(
        "%s %s %s",
        "POST",
        "/api/v1/settlement/settlements",
        201,
        extra={"method": "POST", "path": "/x", "status": 201, "duration_ms": 4.25, "principal": None},
    ),
    "chinese text and odd values": record(
        "结算 %s",
        "完成",
        extra={
            "amount": Decimal("12.30"),
            "at": datetime(2026, 11, 24, 2, 0, tzinfo=UTC),
            "day": date(2026, 11, 24),
            "id": UUID("0190b1c2-0000-7000-8000-000000000001"),
            "codes": ["A01", "B02"],
            "_private": "never shown",
        },
    ),
    "exception": record("settling failed", error=True),
}


@pytest.mark.parametrize("name", CASES)
def test_lines_are_those_of_the_previous_formatter(name: str) -> None:
    made = CASES[name]
    ours = JsonLineFormatter().format(made)
    assert ours == REFERENCE.format(made)
    parsed = json.loads(ours)
    assert list(parsed)[:4] == ["time", "level", "logger", "message"]
    assert parsed["service"] == "settlement"
    assert "_private" not in parsed


def test_the_request_id_rides_on_every_line() -> None:
    token = request_id_var.set("req-9")
    try:
        line = json.loads(JsonLineFormatter().format(record("hello")))
    finally:
        request_id_var.reset(token)
    assert line["request_id"] == "req-9"
    assert line["message"] == "hello"
    assert line["level"] == "WARNING"
