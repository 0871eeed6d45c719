"""事中审核: settlement's decision on supervision's answer, the call's deadline and failures, and
supervision's selection of the in-stage refuse-severity findings."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

import pytest
from pydantic import ValidationError

from services.gateway.schemas import ClientCreate
from services.settlement.in_stage_check import (
    Answered,
    CheckLine,
    RefusedFinding,
    Unanswered,
    check_request,
    decide,
    read_answer,
    refusal_detail,
    refusal_errors,
    refused_rules,
)
from services.settlement.settings import Settings
from services.settlement.supervision_client import SupervisionChecker
from services.supervision.schemas import CheckIn
from services.supervision.service import (
    LIBRARY,
    DraftLine,
    History,
    ItemRestriction,
    SoldCode,
    draft_claim,
    in_stage_check,
)
from shared.auth import Role, decode_token

TRACE = RefusedFinding("TRACE-RESOLD", 1, 2, Decimal("12.50"), "line 2 sells a code already sold")
DEATH = RefusedFinding("AFTER-DEATH", 3, None, Decimal("900.00"), "care after the date of death")


def test_refusals_refuse_and_no_refusal_settles_in_either_mode() -> None:
    for mode in ("open", "closed"):
        refused = decide(Answered((TRACE, DEATH)), mode)
        assert (refused.action, refused.findings, refused.post_audit_required) == ("refuse", (TRACE, DEATH), False)
        clean = decide(Answered(()), mode)
        assert (clean.action, clean.post_audit_required, clean.reason) == ("settle", False, None)


@pytest.mark.parametrize("reason", ["timeout", "unreachable", "error"])
def test_no_answer_settles_marked_when_open_and_is_unavailable_when_closed(reason: Any) -> None:
    opened = decide(Unanswered(reason, "x"), "open")
    assert (opened.action, opened.post_audit_required, opened.reason) == ("settle-for-post-audit", True, reason)
    closed = decide(Unanswered(reason, "x"), "closed")
    assert (closed.action, closed.post_audit_required, closed.reason) == ("unavailable", False, reason)


def test_only_a_well_formed_200_is_an_answer() -> None:
    finding = {"rule_id": "TRACE-RESOLD", "rule_version": 1, "line_no": 2, "amount_at_stake": "12.50", "message": "m"}
    assert read_answer(200, {"refused": True, "findings": [finding], "rules_run": 9}) == Answered(
        (RefusedFinding("TRACE-RESOLD", 1, 2, Decimal("12.50"), "m"),)
    )
    assert read_answer(200, {"refused": False, "findings": [], "rules_run": 9}) == Answered(())
    for status, body in [
        (500, {"findings": []}),
        (403, {"type": "forbidden"}),
        (200, None),
        (200, {"refused": True}),
        (200, {"findings": [{"rule_id": "X"}]}),
        (200, {"findings": [{**finding, "amount_at_stake": "lots"}]}),
    ]:
        outcome = read_answer(status, body)
        assert isinstance(outcome, Unanswered), (status, body)
        assert outcome.reason == "error", (status, body)


def test_the_problem_names_each_rule_once_and_points_at_the_lines() -> None:
    twice = (TRACE, DEATH, RefusedFinding("TRACE-RESOLD", 1, 3, Decimal("1.00"), "again"))
    assert refused_rules(twice) == ["TRACE-RESOLD", "AFTER-DEATH"]
    assert "TRACE-RESOLD, AFTER-DEATH" in refusal_detail(twice)
    assert [field for field, _ in refusal_errors(twice)] == ["lines.1", "claim", "lines.2"]


def test_the_request_is_the_claim_supervision_validates() -> None:
    body = check_request(
        person_no="P00000000001",
        practitioner_code="D1",
        institution_code="H35058200001",
        visit_type="inpatient",
        admitted_on=date(2026, 11, 1),
        discharged_on=date(2026, 11, 5),
        diagnoses=["J18.9"],
        lines=[CheckLine("XJ01CA0010201", 2, Decimal("12.5"), ("T1",))],
        scheme="resident",
        institution_level=3,
        institution_type="hospital",
        region_code="350582",
    )
    parsed = CheckIn.model_validate_json(json.dumps(body))
    assert parsed.lines[0].unit_price == Decimal("12.50")
    assert body["lines"][0]["unit_price"] == "12.50"  # money as a string, never a float
    assert (parsed.admitted_on, parsed.discharged_on, parsed.institution_level) == (
        date(2026, 11, 1),
        date(2026, 11, 5),
        3,
    )


def _drafted(*lines: DraftLine, admitted_on: date = date(2026, 11, 3)) -> Any:
    return draft_claim(
        person_no="P00000000001",
        practitioner_code="D1",
        institution_code="H1",
        visit_type="outpatient",
        admitted_on=admitted_on,
        discharged_on=admitted_on,
        diagnoses=["J18.9"],
        lines=lines,
        institution_level=3,
        institution_type="hospital",
        region_code="350582",
        scheme="resident",
        now=datetime(2026, 11, 3, tzinfo=UTC),
    )


def test_supervision_returns_only_refuse_findings_of_in_stage_rules() -> None:
    women_only = ItemRestriction("XG03DA0010101", sex="F")
    other = _drafted(DraftLine("XJ01CA0010201", 1, Decimal("1.00")))
    history = History(sex="M", catalogue=(women_only,), sold_codes=(SoldCode("T1", other.settlement_id),))
    claim = _drafted(
        DraftLine("XG03DA0010101", 1, Decimal("20.00")),  # SEX-CONFLICT: refuse
        DraftLine("XJ01CA0010201", 45, Decimal("12.50")),  # QTY-MAX-LINE: warn only, not returned
        DraftLine("XJ01CA0010201", 1, Decimal("12.50"), ("T1",)),  # TRACE-RESOLD: refuse
    )
    findings, rules_run = in_stage_check(claim, history, LIBRARY)
    assert [(f.rule_id, f.line_no, f.severity) for f in findings] == [
        ("SEX-CONFLICT", 1, "refuse"),
        ("TRACE-RESOLD", 3, "refuse"),
    ]
    # Every library rule with the in stage: all but the three post-only ones.
    assert rules_run == sum(1 for rule in LIBRARY if "in" in rule.stages) == len(LIBRARY) - 3
    clean = _drafted(DraftLine("XJ01CA0010201", 45, Decimal("12.50")))
    assert in_stage_check(clean, history, LIBRARY)[0] == []
    # A rule version not yet in force on the day care began does not refuse.
    before = _drafted(DraftLine("XG03DA0010101", 1, Decimal("20.00")), admitted_on=date(2024, 12, 31))
    assert in_stage_check(before, history, LIBRARY) == ([], 0)


# -- the call: a real local HTTP server that answers, stalls or is not there -------------------


class Server:
    def __init__(self, delay: float, answer: dict[str, Any]) -> None:
        self.delay = delay
        self.answer = answer
        self.requests: list[tuple[str, dict[str, Any]]] = []

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        head = await reader.readuntil(b"\r\n\r\n")
        lines = head.decode().split("\r\n")
        length = next(int(h.split(":")[1]) for h in lines if h.lower().startswith("content-length"))
        auth = next(h.split(":", 1)[1].strip() for h in lines if h.lower().startswith("authorization"))
        self.requests.append((auth, json.loads(await reader.readexactly(length))))
        await asyncio.sleep(self.delay)
        payload = json.dumps(self.answer).encode()
        writer.write(
            b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: %d\r\n\r\n%s"
            % (len(payload), payload)
        )
        await writer.drain()
        writer.close()


@pytest.fixture
async def refusing() -> AsyncIterator[tuple[Server, int]]:
    finding = {"rule_id": "AFTER-DEATH", "rule_version": 1, "line_no": None, "amount_at_stake": "9.00", "message": "m"}
    server = Server(0.0, {"refused": True, "findings": [finding], "rules_run": 11})
    listening = await asyncio.start_server(server.handle, "127.0.0.1", 0)
    async with listening:
        yield server, listening.sockets[0].getsockname()[1]


def _checker(port: int, deadline_ms: int = 150) -> SupervisionChecker:
    return SupervisionChecker(
        Settings(
            database_url="postgresql://x@127.0.0.1/x",
            supervision_url=f"http://127.0.0.1:{port}",
            in_stage_deadline_ms=deadline_ms,
        )
    )


async def test_the_checker_reads_the_answer_with_a_service_token(refusing: tuple[Server, int]) -> None:
    server, port = refusing
    checker = _checker(port)
    try:
        outcome = await checker.ask({"person_no": "P00000000001"})
    finally:
        await checker.aclose()
    assert outcome == Answered((RefusedFinding("AFTER-DEATH", 1, None, Decimal("9.00"), "m"),))
    ((auth, body),) = server.requests
    assert body == {"person_no": "P00000000001"}
    principal = decode_token(auth.removeprefix("Bearer "), Settings(database_url="postgresql://x@h/x").jwt_secret)
    assert (principal.role, principal.subject) == (Role.SERVICE, "settlement")


async def test_a_slow_supervision_is_a_timeout_at_the_deadline(refusing: tuple[Server, int]) -> None:
    server, port = refusing
    server.delay = 2.0
    checker = _checker(port, deadline_ms=100)
    started = asyncio.get_running_loop().time()
    try:
        outcome = await checker.ask({})
    finally:
        await checker.aclose()
    elapsed = asyncio.get_running_loop().time() - started
    assert isinstance(outcome, Unanswered)
    assert outcome.reason == "timeout"
    assert elapsed < 1.0  # bounded by the deadline, not by the server's 2 s


async def test_nothing_listening_is_unreachable() -> None:
    listening = await asyncio.start_server(lambda r, w: None, "127.0.0.1", 0)
    port = listening.sockets[0].getsockname()[1]
    listening.close()
    await listening.wait_closed()
    checker = _checker(port)
    try:
        outcome = await checker.ask({})
    finally:
        await checker.aclose()
    assert isinstance(outcome, Unanswered)
    assert outcome.reason == "unreachable"


def test_no_api_client_gets_the_service_role() -> None:
    with pytest.raises(ValidationError, match="service role"):
        ClientCreate(name="sneaky", role=Role.SERVICE)
    assert ClientCreate(name="ops desk", role=Role.OPS).role is Role.OPS


class KeepAliveServer:
    """Answers every request on a connection, each after the next of `delays`; counts connections."""

    def __init__(self, delays: list[float]) -> None:
        self.delays = delays
        self.connections = 0
        self.answered = 0

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        payload = json.dumps({"refused": False, "findings": [], "rules_run": 11}).encode()
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                length = next(
                    int(h.split(":")[1]) for h in head.decode().split("\r\n") if h.lower().startswith("content-length")
                )
                await reader.readexactly(length)
                await asyncio.sleep(self.delays.pop(0))
                writer.write(
                    b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: %d\r\n\r\n%s"
                    % (len(payload), payload)
                )
                await writer.drain()
                self.answered += 1
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            writer.close()


async def test_a_call_past_its_deadline_finishes_and_its_connection_is_reused() -> None:
    server = KeepAliveServer([0.3, 0.0])
    listening = await asyncio.start_server(server.handle, "127.0.0.1", 0)
    async with listening:
        checker = _checker(listening.sockets[0].getsockname()[1], deadline_ms=100)
        try:
            late = await checker.ask({})
            assert isinstance(late, Unanswered)
            assert late.reason == "timeout"  # the deadline holds: the answer at 300 ms does not count
            await asyncio.sleep(0.5)
            assert server.answered == 1  # the late call was left to finish, not cut off
            assert await checker.ask({}) == Answered(())
        finally:
            await checker.aclose()
    # One TCP connection for both: a missed deadline no longer costs a new one.
    assert server.connections == 1
