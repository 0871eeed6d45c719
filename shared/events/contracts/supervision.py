"""Events supervision publishes: audit flags, sanctions, practitioner suspensions."""

from __future__ import annotations

from datetime import date, datetime
from typing import ClassVar, Literal
from uuid import UUID

from pydantic import Field

from shared.events.contracts import EventPayload, PersonNo, register
from shared.money import Money


@register
class AuditFlagged(EventPayload):
    """A post-event audit rule flagged a settled claim."""

    event_type: ClassVar[str] = "audit.flagged"
    publisher: ClassVar[str] = "supervision"
    consumers: ClassVar[tuple[str, ...]] = ()

    flag_id: UUID
    settlement_id: UUID
    person_no: PersonNo
    institution_code: str
    practitioner_code: str
    rule_id: str
    rule_version: int
    severity: Literal["info", "warn", "refuse"]
    amount_at_stake: Money
    message: str
    flagged_at: datetime


@register
class PractitionerSuspended(EventPayload):
    """医保医师记分 reached the suspension threshold: settlement refuses this doctor's new claims."""

    event_type: ClassVar[str] = "practitioner.suspended"
    key_field: ClassVar[str] = "practitioner_code"
    publisher: ClassVar[str] = "supervision"
    consumers: ClassVar[tuple[str, ...]] = ("settlement",)

    practitioner_code: str
    institution_code: str | None = None
    points: int
    suspended_from: date
    suspended_until: date | None = None
    reason: str


@register
class PractitionerReinstated(EventPayload):
    """An operator lifted a suspension (恢复医保支付资格): settlement accepts the doctor again from `reinstated_on`."""

    event_type: ClassVar[str] = "practitioner.reinstated"
    key_field: ClassVar[str] = "practitioner_code"
    publisher: ClassVar[str] = "supervision"
    consumers: ClassVar[tuple[str, ...]] = ("settlement",)

    practitioner_code: str
    reinstated_on: date


@register
class InstitutionSanctioned(EventPayload):
    """三函两牌: a letter or card for a designated institution; a red card stops new settlements."""

    event_type: ClassVar[str] = "institution.sanctioned"
    key_field: ClassVar[str] = "institution_code"
    publisher: ClassVar[str] = "supervision"
    consumers: ClassVar[tuple[str, ...]] = ("settlement",)

    institution_code: str
    sanction: Literal["reminder_letter", "interview_letter", "warning_letter", "yellow_card", "red_card"]
    refuses_settlement: bool = Field(description="true for a red card: settlement refuses new claims")
    effective_from: date
    case_id: UUID | None = None
