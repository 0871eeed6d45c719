"""The import's event writers give the very bytes the contracts' own JSON serialisation gives (decision 0014)."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime, timedelta, timezone
from decimal import Decimal
from typing import Any
from uuid import uuid4

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from services.enrollment.import_events import ImportEvents, instant_json
from shared.events.contracts import ContributionPosted, EnrollmentActivated, PersonRegistered
from shared.events.outbox import EncodedEvent

texts = st.text(max_size=40)  # any Unicode: quotes, backslashes, control characters, CJK
zones = st.sampled_from([UTC, timezone(timedelta(hours=8)), timezone(timedelta(hours=-5, minutes=-30))])
instants = st.datetimes(timezones=zones)
amounts = st.decimals(min_value=-(10**11), max_value=10**11, allow_nan=False, allow_infinity=False)
optional_texts = st.none() | texts


def _same(event: EncodedEvent, contract: type[Any], values: dict[str, Any]) -> None:
    expected = contract.model_construct(**values).model_dump_json().encode()
    assert event.payload == expected
    assert event.event_type == contract.event_type
    assert event.key == values["person_no"]


@settings(max_examples=300, deadline=None)
@given(person_no=texts, masked=texts, birth=st.dates(), sex=texts, hukou=texts, residence=texts, registered_at=instants)
def test_person_registered_is_the_contracts_json(
    person_no: str, masked: str, birth: date, sex: str, hukou: str, residence: str, registered_at: datetime
) -> None:
    values: dict[str, Any] = {
        "person_no": person_no, "id_number_masked": masked, "birth_date": birth, "sex": sex,
        "hukou_region_code": hukou, "residence_region_code": residence, "registered_at": registered_at,
    }  # fmt: skip
    _same(ImportEvents().person_registered(**values), PersonRegistered, values)


@settings(max_examples=300, deadline=None)
@given(
    ids=st.tuples(st.uuids(), st.uuids()),
    person_no=texts,
    scheme=st.sampled_from(["employee", "resident"]),
    year=st.integers(min_value=-(10**6), max_value=10**6),
    money=st.tuples(amounts, amounts, amounts, amounts),
    posted_at=instants,
)
def test_contribution_posted_is_the_contracts_json(
    ids: tuple[Any, Any], person_no: str, scheme: str, year: int, money: tuple[Decimal, ...], posted_at: datetime
) -> None:
    values: dict[str, Any] = {
        "contribution_id": ids[0], "enrollment_id": ids[1], "person_no": person_no, "scheme": scheme, "year": year,
        "individual": money[0], "employer": money[1], "subsidy": money[2], "personal_account_credit": money[3],
        "posted_at": posted_at,
    }  # fmt: skip
    writer = ImportEvents()
    _same(writer.contribution_posted(**values), ContributionPosted, values)
    _same(writer.contribution_posted(**values), ContributionPosted, values)  # from the chunk's caches


@settings(max_examples=300, deadline=None)
@given(
    enrollment_id=st.uuids(),
    person_no=texts,
    scheme=st.sampled_from(["employee", "resident"]),
    year=st.integers(min_value=2000, max_value=2100),
    region=texts,
    span=st.tuples(st.dates(), st.dates()),
    employer=optional_texts,
    retiree=st.booleans(),
    category=optional_texts,
)
def test_enrollment_activated_is_the_contracts_json(
    enrollment_id: Any, person_no: str, scheme: str, year: int, region: str, span: tuple[date, date],
    employer: str | None, retiree: bool, category: str | None,
) -> None:  # fmt: skip
    values: dict[str, Any] = {
        "enrollment_id": enrollment_id, "person_no": person_no, "scheme": scheme, "year": year,
        "region_code": region, "effective_from": span[0], "effective_to": span[1], "employer_code": employer,
        "retiree": retiree, "assistance_category": category,
    }  # fmt: skip
    _same(ImportEvents().enrollment_activated(**values), EnrollmentActivated, values)


def test_valid_payloads_read_back_through_the_contracts() -> None:
    """Realistic values, through the validating constructor too: what a consumer parses is what was meant."""
    write = ImportEvents()
    now = datetime(2026, 11, 24, 3, 0, 0, 120, tzinfo=UTC)
    activated = write.enrollment_activated(
        enrollment_id="0190f1a2-0000-7000-8000-000000000001",  # type: ignore[arg-type]  # str() is all it needs
        person_no="P00000000042", scheme="resident", year=2026, region_code="350582", effective_from=date(2026, 1, 1),
        effective_to=date(2026, 12, 31), employer_code=None, retiree=False, assistance_category="minimum_living",
    )  # fmt: skip
    parsed = EnrollmentActivated.model_validate_json(activated.payload)
    assert parsed.assistance_category == "minimum_living"  # the import used to leave it out: 医疗救助 needs it
    assert parsed.model_dump_json().encode() == activated.payload
    posted = write.contribution_posted(
        contribution_id="0190f1a2-0000-7000-8000-000000000002",  # type: ignore[arg-type]
        enrollment_id="0190f1a2-0000-7000-8000-000000000001",  # type: ignore[arg-type]
        person_no="P00000000042", scheme="resident", year=2026, individual=Decimal("380"),
        employer=Decimal("0.00"), subsidy=Decimal("670.005"), personal_account_credit=Decimal("0"), posted_at=now,
    )  # fmt: skip
    assert json.loads(posted.payload)["subsidy"] == "670.01"  # half-up to the fen, as shared.money
    assert ContributionPosted.model_validate_json(posted.payload).posted_at == now


def test_an_instant_without_a_zone_or_with_an_odd_offset_is_refused() -> None:
    with pytest.raises(ValueError, match="zone"):
        instant_json(datetime(2026, 1, 1))
    with pytest.raises(ValueError, match="whole minutes"):
        instant_json(datetime(2026, 1, 1, tzinfo=timezone(timedelta(seconds=30))))


def test_equal_instants_and_amounts_written_differently_are_not_confused_by_the_caches() -> None:
    write = ImportEvents()
    utc = datetime(2026, 11, 24, 3, 0, tzinfo=UTC)
    values: dict[str, Any] = {
        "person_no": "P00000000001", "id_number_masked": "350582********0024", "birth_date": date(1990, 3, 7),
        "sex": "F", "hukou_region_code": "350582", "residence_region_code": "350582",
    }  # fmt: skip
    money: dict[str, Any] = {"contribution_id": uuid4(), "enrollment_id": uuid4(), "person_no": "P00000000001",
             "scheme": "resident", "year": 2026, "employer": Decimal("0"), "subsidy": Decimal("1.005"),
             "personal_account_credit": Decimal("0.00"), "posted_at": utc}  # fmt: skip
    for amount in (Decimal("0"), Decimal("-0"), Decimal("0.00"), Decimal("-0.004")):
        _same(write.contribution_posted(**money, individual=amount), ContributionPosted, money | {"individual": amount})
    for moment in (utc, utc.astimezone(timezone(timedelta(hours=8))), utc):
        _same(
            write.person_registered(**values, registered_at=moment),
            PersonRegistered,
            values | {"registered_at": moment},
        )
