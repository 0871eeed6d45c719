"""Events long-term care publishes."""

from __future__ import annotations

from datetime import date, datetime
from typing import ClassVar
from uuid import UUID

from shared.events.contracts import EventPayload, PersonNo, register
from shared.money import Money


@register
class LtcServiceRecorded(EventPayload):
    """A care agency recorded a service visit (长护服务记录); supervision checks it against inpatient stays."""

    event_type: ClassVar[str] = "ltc.service.recorded"
    publisher: ClassVar[str] = "ltc"
    consumers: ClassVar[tuple[str, ...]] = ("supervision",)

    visit_id: UUID
    person_no: PersonNo
    agency_code: str
    service_date: date
    minutes: int
    amount: Money
    recorded_at: datetime
