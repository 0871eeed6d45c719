"""The batch import's events as their contracts' JSON, written directly. Pure, no I/O.

An imported person costs three events (person.registered, contribution.posted, enrollment.activated). Building a
pydantic model per event and dumping it cost more Python time than any other step of the import (decision 0014).
These writers produce the very bytes `Contract(...).model_dump_json()` produces for the same values
(tests/unit/test_enrollment_import_events.py compares them over generated values): every string goes through the
JSON encoder's own escaping, dates and instants in pydantic's format, money as the contract's two-decimal string.
Like model_construct before them they do not re-validate: every value is a validated row's or one the import made
(numbers, ids, instants). The instants and amounts repeat across a chunk and are formatted once each.

A contract that gains, loses or reorders a field fails the import of this module (`_same_fields`), so the writers
cannot silently fall behind the contracts.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import date, datetime, timedelta
from decimal import Decimal
from uuid import UUID

from shared.events.contracts import ContributionPosted, EnrollmentActivated, EventPayload, PersonRegistered
from shared.events.outbox import EncodedEvent
from shared.money import to_fen

_string: Callable[[str], str] = json.encoder.encode_basestring  # C; escapes as pydantic does
_ZERO = timedelta(0)


def _same_fields(contract: type[EventPayload], fields: tuple[str, ...]) -> None:
    if tuple(contract.model_fields) != fields:
        raise RuntimeError(
            f"{contract.__name__} now has fields {tuple(contract.model_fields)}; update services/enrollment/"
            "import_events.py (and its test) to write them"
        )


_same_fields(
    PersonRegistered,
    ("person_no", "id_number_masked", "birth_date", "sex", "hukou_region_code", "residence_region_code",
     "registered_at"),
)  # fmt: skip
_same_fields(
    ContributionPosted,
    ("contribution_id", "enrollment_id", "person_no", "scheme", "year", "individual", "employer", "subsidy",
     "personal_account_credit", "posted_at"),
)  # fmt: skip
_same_fields(
    EnrollmentActivated,
    ("enrollment_id", "person_no", "scheme", "year", "region_code", "effective_from", "effective_to",
     "employer_code", "retiree", "assistance_category"),
)  # fmt: skip


def instant_json(moment: datetime) -> str:
    """An aware instant as pydantic writes it: ISO 8601, UTC as Z."""
    offset = moment.utcoffset()
    if offset is None:
        raise ValueError("an event instant carries its zone")
    if offset == _ZERO:
        return f'"{moment.replace(tzinfo=None).isoformat()}Z"'
    if offset % timedelta(minutes=1):
        raise ValueError("an event instant's offset is whole minutes")  # pydantic drops the seconds; refuse
    return f'"{moment.isoformat()}"'


def _optional(value: str | None) -> str:
    return "null" if value is None else _string(value)


class ImportEvents:
    """Writes one chunk's events; instants and amounts, repeated across the chunk, are formatted once each."""

    def __init__(self) -> None:
        self._instant_seen: tuple[datetime, str] | None = None
        self._amounts: dict[tuple[Decimal, bool], str] = {}

    def _instant(self, moment: datetime) -> str:
        # A chunk has one or two instants (the insert's, the payment's), often the very same object: the last one
        # formatted is kept (hashing an aware datetime for a dict costs more than comparing it).
        seen = self._instant_seen
        if seen is None or not (
            seen[0] is moment or (seen[0] == moment and seen[0].utcoffset() == moment.utcoffset())
        ):  # one instant in two zones is written two ways
            seen = self._instant_seen = (moment, instant_json(moment))
        return seen[1]

    def _money(self, amount: Decimal) -> str:
        key = (amount, amount.is_signed())  # 0 and -0 are equal but written differently
        text = self._amounts.get(key)
        if text is None:
            text = self._amounts[key] = f'"{to_fen(amount)}"'  # shared.money: two decimals, half-up
        return text

    def person_registered(
        self,
        *,
        person_no: str,
        id_number_masked: str,
        birth_date: date,
        sex: str,
        hukou_region_code: str,
        residence_region_code: str,
        registered_at: datetime,
    ) -> EncodedEvent:
        payload = (
            f'{{"person_no":{_string(person_no)},"id_number_masked":{_string(id_number_masked)},'
            f'"birth_date":"{birth_date.isoformat()}","sex":{_string(sex)},'
            f'"hukou_region_code":{_string(hukou_region_code)},'
            f'"residence_region_code":{_string(residence_region_code)},'
            f'"registered_at":{self._instant(registered_at)}}}'
        )
        return EncodedEvent(PersonRegistered.event_type, person_no, payload.encode())

    def contribution_posted(
        self,
        *,
        contribution_id: UUID,
        enrollment_id: UUID,
        person_no: str,
        scheme: str,
        year: int,
        individual: Decimal,
        employer: Decimal,
        subsidy: Decimal,
        personal_account_credit: Decimal,
        posted_at: datetime,
    ) -> EncodedEvent:
        money = self._money
        payload = (
            f'{{"contribution_id":"{contribution_id}","enrollment_id":"{enrollment_id}",'
            f'"person_no":{_string(person_no)},"scheme":{_string(scheme)},"year":{int(year)},'
            f'"individual":{money(individual)},"employer":{money(employer)},"subsidy":{money(subsidy)},'
            f'"personal_account_credit":{money(personal_account_credit)},"posted_at":{self._instant(posted_at)}}}'
        )
        return EncodedEvent(ContributionPosted.event_type, person_no, payload.encode())

    def enrollment_activated(
        self,
        *,
        enrollment_id: UUID,
        person_no: str,
        scheme: str,
        year: int,
        region_code: str,
        effective_from: date,
        effective_to: date,
        employer_code: str | None,
        retiree: bool,
        assistance_category: str | None,
    ) -> EncodedEvent:
        payload = (
            f'{{"enrollment_id":"{enrollment_id}","person_no":{_string(person_no)},"scheme":{_string(scheme)},'
            f'"year":{int(year)},"region_code":{_string(region_code)},'
            f'"effective_from":"{effective_from.isoformat()}","effective_to":"{effective_to.isoformat()}",'
            f'"employer_code":{_optional(employer_code)},"retiree":{"true" if retiree else "false"},'
            f'"assistance_category":{_optional(assistance_category)}}}'
        )
        return EncodedEvent(EnrollmentActivated.event_type, person_no, payload.encode())
