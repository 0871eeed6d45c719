"""Event payload models: the single source of truth for every event on the bus.

Each payload class names its type (also its Kafka topic), the field that keys it (the
person number, so one person's events stay in order), who publishes it and who consumes
it. The AsyncAPI document is generated from this registry. Changes are additive; a
breaking change is a new type.

The base, the registry and the shared field types live here; each publishing service's
contracts live in a module of its own beside this one (enrollment.py, settlement.py, ...),
all imported at the bottom so that importing this package registers every type.
"""

from __future__ import annotations

from typing import Annotated, ClassVar, Literal

from pydantic import BaseModel, ConfigDict, Field


class EventPayload(BaseModel):
    model_config = ConfigDict(frozen=True, extra="ignore")

    event_type: ClassVar[str]
    key_field: ClassVar[str] = "person_no"
    publisher: ClassVar[str]
    consumers: ClassVar[tuple[str, ...]] = ()

    def key(self) -> str:
        return str(getattr(self, self.key_field))


EVENT_TYPES: dict[str, type[EventPayload]] = {}


def register(cls: type[EventPayload]) -> type[EventPayload]:
    if cls.event_type in EVENT_TYPES:
        raise ValueError(f"event type {cls.event_type} registered twice")
    EVENT_TYPES[cls.event_type] = cls
    return cls


def payload_class(event_type: str) -> type[EventPayload] | None:
    return EVENT_TYPES.get(event_type)


def platform_event_types() -> dict[str, type[EventPayload]]:
    """The platform's own contracts (defined here), without types a test or bench registers at run time."""
    return {t: cls for t, cls in EVENT_TYPES.items() if cls.__module__.startswith(__name__)}


def all_topics() -> list[str]:
    """Every platform event topic and its dead-letter topic."""
    types = platform_event_types()
    return sorted([*types, *(f"{t}.dlq" for t in types)])


# 个人编号: the internal person number enrollment assigns (P + 11 digits).
PERSON_NO_PATTERN = r"^P\d{11}$"
PersonNo = Annotated[str, Field(pattern=PERSON_NO_PATTERN)]
Scheme = Literal["employee", "resident"]  # 职工医保 / 城乡居民医保
VisitType = Literal["outpatient", "inpatient"]


# Each service's contracts register themselves on import; re-exported so callers import from here.
from shared.events.contracts.enrollment import (  # noqa: E402
    ContributionPosted,
    EnrollmentActivated,
    EnrollmentSuspended,
    EnrollmentTerminated,
    FamilyBound,
    FamilyRelation,
    FamilyUnbound,
    FilingApproved,
    FilingRevoked,
    FilingType,
    PersonDeceased,
    PersonRegistered,
    PersonUpdated,
)
from shared.events.contracts.ltc import LtcServiceRecorded  # noqa: E402
from shared.events.contracts.settlement import (  # noqa: E402
    BurdenAlerted,
    ClaimLine,
    ClaimReversed,
    ClaimSettled,
    SettlementBreakdown,
)
from shared.events.contracts.supervision import (  # noqa: E402
    AuditFlagged,
    InstitutionSanctioned,
    PractitionerReinstated,
    PractitionerSuspended,
)

__all__ = [
    "EVENT_TYPES",
    "PERSON_NO_PATTERN",
    "AuditFlagged",
    "BurdenAlerted",
    "ClaimLine",
    "ClaimReversed",
    "ClaimSettled",
    "ContributionPosted",
    "EnrollmentActivated",
    "EnrollmentSuspended",
    "EnrollmentTerminated",
    "EventPayload",
    "FamilyBound",
    "FamilyRelation",
    "FamilyUnbound",
    "FilingApproved",
    "FilingRevoked",
    "FilingType",
    "InstitutionSanctioned",
    "LtcServiceRecorded",
    "PersonDeceased",
    "PersonNo",
    "PersonRegistered",
    "PersonUpdated",
    "PractitionerReinstated",
    "PractitionerSuspended",
    "Scheme",
    "SettlementBreakdown",
    "VisitType",
    "all_topics",
    "payload_class",
    "platform_event_types",
    "register",
]
