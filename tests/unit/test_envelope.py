"""CloudEvents envelope and the contracts registry."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import ClassVar
from uuid import UUID, uuid4

import pytest

from shared.events.contracts import (
    EVENT_TYPES,
    AuditFlagged,
    BurdenAlerted,
    ClaimLine,
    ClaimReversed,
    ClaimSettled,
    ContributionPosted,
    EnrollmentActivated,
    EnrollmentSuspended,
    EnrollmentTerminated,
    EventPayload,
    FamilyBound,
    FamilyUnbound,
    FilingApproved,
    FilingRevoked,
    InstitutionSanctioned,
    LtcServiceRecorded,
    PersonDeceased,
    PersonRegistered,
    PersonUpdated,
    PractitionerReinstated,
    PractitionerSuspended,
    SettlementBreakdown,
    all_topics,
    platform_event_types,
    register,
)
from shared.events.envelope import Event, MalformedEvent, decode, encode

PERSON = "P00000000007"
NOW = datetime(2025, 3, 4, 5, 6, 7, 891011, tzinfo=UTC)
TRACEPARENT = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"


def _breakdown() -> SettlementBreakdown:
    zero = Decimal("0.00")
    return SettlementBreakdown(
        medfee_sumamt=Decimal("74.30"),
        fulamt_ownpay_amt=zero,
        overlmt_selfpay=zero,
        preselfpay_amt=zero,
        inscp_scp_amt=Decimal("74.30"),
        hifp_pay=Decimal("52.01"),
        hifmi_pay=zero,
        hifob_pay=zero,
        maf_pay=zero,
        acct_pay=zero,
        psn_cash_pay=Decimal("22.29"),
        fund_pay_sumamt=Decimal("52.01"),
    )


def _payloads() -> list[EventPayload]:
    return [
        PersonRegistered(
            person_no=PERSON,
            id_number_masked="350582********123X",
            birth_date=date(1990, 1, 1),
            sex="F",
            hukou_region_code="350582",
            residence_region_code="350582",
            registered_at=NOW,
        ),
        EnrollmentActivated(
            enrollment_id=uuid4(),
            person_no=PERSON,
            scheme="resident",
            year=2025,
            region_code="350582",
            effective_from=date(2025, 1, 1),
            effective_to=date(2025, 12, 31),
        ),
        ClaimSettled(
            settlement_id=uuid4(),
            person_no=PERSON,
            institution_code="H35058200001",
            practitioner_code="D001",
            visit_type="inpatient",
            admitted_on=date(2025, 3, 1),
            discharged_on=date(2025, 3, 4),
            diagnoses=["J18.9"],
            lines=[
                ClaimLine(
                    line_no=1,
                    item_code="XA01",
                    quantity=3,
                    unit_price=Decimal("12.50"),
                    amount=Decimal("37.50"),
                    traceability_codes=["8" * 20],
                ),
                ClaimLine(
                    line_no=2, item_code="XB02", quantity=1, unit_price=Decimal("36.80"), amount=Decimal("36.80")
                ),
            ],
            breakdown=_breakdown(),
            settled_at=NOW,
        ),
        AuditFlagged(
            flag_id=uuid4(),
            settlement_id=uuid4(),
            person_no=PERSON,
            institution_code="H35058200001",
            practitioner_code="D001",
            rule_id="QTY-MAX-LINE",
            rule_version=1,
            severity="warn",
            amount_at_stake=Decimal("12.35"),
            message="too many",
            flagged_at=NOW,
        ),
        PersonUpdated(person_no=PERSON, hukou_region_code="350582", residence_region_code="350503", updated_at=NOW),
        PersonDeceased(person_no=PERSON, died_on=date(2025, 3, 1), recorded_at=NOW),
        EnrollmentSuspended(
            enrollment_id=uuid4(), person_no=PERSON, scheme="resident", suspended_from=date(2025, 3, 1), reason="欠费"
        ),
        EnrollmentTerminated(
            enrollment_id=uuid4(), person_no=PERSON, scheme="employee", terminated_on=NOW.date(), reason="death"
        ),
        ContributionPosted(
            contribution_id=uuid4(),
            enrollment_id=uuid4(),
            person_no=PERSON,
            scheme="employee",
            year=2025,
            individual=Decimal("960.00"),
            employer=Decimal("3600.00"),
            subsidy=Decimal("0.00"),
            personal_account_credit=Decimal("960.00"),
            posted_at=NOW,
        ),
        FamilyBound(
            binding_id=uuid4(),
            person_no=PERSON,
            relative_person_no="P00000000008",
            relation="spouse",
            bound_on=NOW.date(),
        ),
        FamilyUnbound(binding_id=uuid4(), person_no=PERSON, relative_person_no="P00000000008", unbound_on=NOW.date()),
        FilingApproved(
            filing_id=uuid4(),
            person_no=PERSON,
            filing_type="resettled_retiree",
            home_region_code="350582",
            destination_region_code="440300",
            valid_from=date(2025, 1, 1),
            valid_to=date(2025, 12, 31),
            approved_at=NOW,
        ),
        FilingRevoked(filing_id=uuid4(), person_no=PERSON, revoked_on=NOW.date(), reason="moved back"),
        ClaimReversed(
            settlement_id=uuid4(),
            person_no=PERSON,
            institution_code="H35058200001",
            breakdown=_breakdown(),
            reversed_at=NOW,
        ),
        BurdenAlerted(
            person_no=PERSON,
            year=2025,
            personal_burden=Decimal("51234.00"),
            threshold=Decimal("50000.00"),
            band="yellow",
            alerted_at=NOW,
        ),
        PractitionerSuspended(
            practitioner_code="D001", points=12, suspended_from=NOW.date(), reason="12 points in 2025"
        ),
        PractitionerReinstated(practitioner_code="D001", reinstated_on=NOW.date()),
        InstitutionSanctioned(
            institution_code="H35058200001", sanction="red_card", refuses_settlement=True, effective_from=NOW.date()
        ),
        LtcServiceRecorded(
            visit_id=uuid4(),
            person_no=PERSON,
            agency_code="A001",
            service_date=NOW.date(),
            minutes=60,
            amount=Decimal("50.00"),
            recorded_at=NOW,
        ),
    ]


PAYLOADS = _payloads()


def test_every_registered_type_has_a_payload_here() -> None:
    assert sorted(p.event_type for p in PAYLOADS) == sorted(platform_event_types())


def _headers(event: Event) -> dict[str, bytes]:
    _, _, headers = encode(event)
    return dict(headers)


@pytest.mark.parametrize("payload", PAYLOADS, ids=lambda p: p.event_type)
def test_encode_decode_round_trip(payload: EventPayload) -> None:
    event = Event.new(payload, source="/yibao/test", trace_headers={"traceparent": TRACEPARENT})
    key, value, headers = encode(event)
    assert key == payload.key().encode()
    decoded = decode(value, headers)
    assert decoded == event
    assert type(decoded.payload) is type(payload)
    assert decoded.payload == payload


@pytest.mark.parametrize("payload", PAYLOADS, ids=lambda p: p.event_type)
def test_headers_are_cloudevents_binary_mode(payload: EventPayload) -> None:
    event = Event.new(payload, source="/yibao/test", trace_headers={"traceparent": TRACEPARENT})
    headers = _headers(event)
    assert headers["ce_specversion"] == b"1.0"
    event_id = UUID(headers["ce_id"].decode())
    assert event_id.version == 7
    assert event_id == event.id
    assert headers["ce_type"] == payload.event_type.encode()
    assert headers["ce_source"] == b"/yibao/test"
    assert datetime.fromisoformat(headers["ce_time"].decode()) == event.time
    assert headers["ce_subject"] == payload.key().encode()
    assert headers["content-type"] == b"application/json"
    assert headers["traceparent"] == TRACEPARENT.encode()


def test_event_ids_are_unique_and_time_ordered() -> None:
    ids = [Event.new(PAYLOADS[0], source="/s").id for _ in range(50)]
    assert len(set(ids)) == 50
    assert ids == sorted(ids)


def test_event_time_is_aware_utc() -> None:
    event = Event.new(PAYLOADS[0], source="/s")
    assert event.time.utcoffset() is not None
    assert abs((datetime.now(UTC) - event.time).total_seconds()) < 60


def test_no_traceparent_header_without_trace_context() -> None:
    headers = _headers(Event.new(PAYLOADS[0], source="/s"))
    assert "traceparent" not in headers
    assert "tracestate" not in headers


def test_only_trace_context_headers_are_carried() -> None:
    event = Event.new(
        PAYLOADS[0], source="/s", trace_headers={"traceparent": TRACEPARENT, "tracestate": "a=1", "baggage": "x=y"}
    )
    headers = _headers(event)
    assert headers["tracestate"] == b"a=1"
    assert "baggage" not in headers
    assert decode(encode(event)[1], list(headers.items())).trace_headers == {
        "traceparent": TRACEPARENT,
        "tracestate": "a=1",
    }


def test_decode_accepts_a_tuple_of_headers() -> None:
    event = Event.new(PAYLOADS[1], source="/s")
    _, value, headers = encode(event)
    assert decode(value, tuple(headers)) == event


def _valid_record() -> tuple[bytes, list[tuple[str, bytes]]]:
    _, value, headers = encode(Event.new(PAYLOADS[1], source="/yibao/enrollment"))
    return value, headers


def _replace(headers: list[tuple[str, bytes]], name: str, value: bytes) -> list[tuple[str, bytes]]:
    return [(k, value if k == name else v) for k, v in headers]


@pytest.mark.parametrize("value", [b"{not json", b"\xff\xfe\x00", b"", None])
def test_decode_not_json(value: bytes | None) -> None:
    _, headers = _valid_record()
    with pytest.raises(MalformedEvent) as info:
        decode(value, headers)
    assert info.value.reason == "not-json"


def test_decode_unknown_type() -> None:
    value, headers = _valid_record()
    with pytest.raises(MalformedEvent) as info:
        decode(value, _replace(headers, "ce_type", b"person.teleported"))
    assert info.value.reason == "unknown-type"
    assert "person.teleported" in info.value.detail


@pytest.mark.parametrize("value", [b"{}", b"[]", b'"text"', b'{"person_no": "P1", "year": "next"}'])
def test_decode_invalid_payload(value: bytes) -> None:
    _, headers = _valid_record()
    with pytest.raises(MalformedEvent) as info:
        decode(value, headers)
    assert info.value.reason == "invalid-payload"


def test_decode_payload_of_another_type_is_invalid() -> None:
    _, value, _ = encode(Event.new(PAYLOADS[0], source="/s"))  # a PersonRegistered body
    _, headers = _valid_record()  # labelled enrollment.activated
    with pytest.raises(MalformedEvent) as info:
        decode(value, headers)
    assert info.value.reason == "invalid-payload"


@pytest.mark.parametrize("missing", ["ce_id", "ce_type", "ce_source", "ce_time"])
def test_decode_missing_attribute(missing: str) -> None:
    value, headers = _valid_record()
    with pytest.raises(MalformedEvent) as info:
        decode(value, [(k, v) for k, v in headers if k != missing])
    assert info.value.reason == "missing-attribute"
    assert missing in info.value.detail


@pytest.mark.parametrize(("name", "bad"), [("ce_id", b"not-a-uuid"), ("ce_time", b"yesterday at noon")])
def test_decode_invalid_attribute(name: str, bad: bytes) -> None:
    value, headers = _valid_record()
    with pytest.raises(MalformedEvent) as info:
        decode(value, _replace(headers, name, bad))
    assert info.value.reason == "invalid-attribute"


def test_malformed_event_message_carries_reason_and_detail() -> None:
    error = MalformedEvent("not-json", "line 1")
    assert str(error) == "not-json: line 1"


def test_all_topics_lists_every_type_and_its_dead_letter_topic() -> None:
    topics = all_topics()
    assert topics == sorted(topics)
    types = platform_event_types()
    assert set(topics) == set(types) | {f"{t}.dlq" for t in types}
    assert len(topics) == 2 * len(types)
    for expected in ("person.registered", "enrollment.activated", "claim.settled", "audit.flagged"):
        assert expected in topics
        assert f"{expected}.dlq" in topics


def test_registering_a_type_twice_raises() -> None:
    before = dict(EVENT_TYPES)
    with pytest.raises(ValueError, match="registered twice"):
        register(PersonRegistered)

    class Impostor(EventPayload):
        event_type: ClassVar[str] = "claim.settled"
        publisher: ClassVar[str] = "nobody"
        person_no: str

    with pytest.raises(ValueError, match=r"claim\.settled"):
        register(Impostor)
    assert before == EVENT_TYPES
    assert EVENT_TYPES["claim.settled"] is ClaimSettled


def test_payloads_are_keyed_by_their_key_field() -> None:
    # One person's events stay in order; a doctor's or an institution's sanctions likewise.
    expected = {"practitioner_code": "D001", "institution_code": "H35058200001"}
    for payload in PAYLOADS:
        assert payload.key() == expected.get(payload.key_field, PERSON)
        assert Event.new(payload, source="/s").key == payload.key()


def test_every_type_names_its_publisher_and_consumers_among_the_services() -> None:
    services = {"enrollment", "settlement", "ltc", "supervision"}
    for cls in platform_event_types().values():
        assert cls.publisher in services
        assert set(cls.consumers) <= services
        assert cls.publisher not in cls.consumers


def _claim_record(amount: object) -> tuple[bytes, list[tuple[str, bytes]]]:
    claim = next(p for p in PAYLOADS if isinstance(p, ClaimSettled))
    _key, value, headers = encode(Event.new(claim, source="/yibao/settlement"))
    body = json.loads(value)
    body["lines"][0]["amount"] = amount
    return json.dumps(body).encode(), headers


def test_decode_judges_amounts_it_cannot_check_in_core_by_the_contract_itself() -> None:
    # The amounts are first checked inside pydantic-core as plain strings; anything else is the
    # contract's own business, with Money's own errors (decision 0013).
    value, headers = _claim_record("37.50")
    decoded = decode(value, headers).payload
    assert isinstance(decoded, ClaimSettled)
    assert decoded.lines[0].amount == Decimal("37.50")
    assert decoded == ClaimSettled.model_validate_json(value)
    value, headers = _claim_record(37)  # an integer: Money accepts it, only not on the fast path
    decoded = decode(value, headers).payload
    assert isinstance(decoded, ClaimSettled)
    assert decoded.lines[0].amount == Decimal("37")
    for bad, error in ((37.5, "send money as a string"), ("37.505", "decimal_max_places"), ("x", "decimal_parsing")):
        value, headers = _claim_record(bad)
        with pytest.raises(MalformedEvent) as info:
            decode(value, headers)
        assert info.value.reason == "invalid-payload"
        assert error in info.value.detail
        assert "lines" in info.value.detail


def test_inbox_ids_from_asyncpg_match_event_ids_as_uuids() -> None:
    # The consumer runner matches the inbox's RETURNING ids (asyncpg's own UUID type) against the
    # events' uuid.UUID ids in a set, without formatting either as text.
    from asyncpg.pgproto import pgproto

    event_id = Event.new(PAYLOADS[1], source="/s").id
    returned = pgproto.UUID(event_id.bytes)
    assert returned == event_id
    assert returned in {event_id}
    assert event_id in {returned}
    assert pgproto.UUID(uuid4().bytes) not in {event_id}
