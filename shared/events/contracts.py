"""Event payload models: the single source of truth for every event on the bus.

Each payload class names its type (also its Kafka topic), the field that keys it (the
person number, so one person's events stay in order), who publishes it and who consumes
it. The AsyncAPI document is generated from this registry. Changes are additive; a
breaking change is a new type.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated, ClassVar, Literal
from uuid import UUID

from pydantic import BaseModel, ConfigDict, Field

from shared.money import Money


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
    return {t: cls for t, cls in EVENT_TYPES.items() if cls.__module__ == __name__}


def all_topics() -> list[str]:
    """Every platform event topic and its dead-letter topic."""
    types = platform_event_types()
    return sorted([*types, *(f"{t}.dlq" for t in types)])


# 个人编号: the internal person number enrollment assigns (P + 11 digits).
PERSON_NO_PATTERN = r"^P\d{11}$"
PersonNo = Annotated[str, Field(pattern=PERSON_NO_PATTERN)]
Scheme = Literal["employee", "resident"]  # 职工医保 / 城乡居民医保
VisitType = Literal["outpatient", "inpatient"]


@register
class PersonRegistered(EventPayload):
    """A person got their one record (一人一档). Carries only the masked resident ID."""

    event_type: ClassVar[str] = "person.registered"
    publisher: ClassVar[str] = "enrollment"
    consumers: ClassVar[tuple[str, ...]] = ("settlement", "ltc")

    person_no: PersonNo
    id_number_masked: str = Field(description="e.g. 350582********123X; the full ID never leaves enrollment")
    birth_date: date
    sex: Literal["M", "F"]
    hukou_region_code: str
    residence_region_code: str
    registered_at: datetime


@register
class EnrollmentActivated(EventPayload):
    """A scheme enrollment became active: the person is covered from effective_from."""

    event_type: ClassVar[str] = "enrollment.activated"
    publisher: ClassVar[str] = "enrollment"
    consumers: ClassVar[tuple[str, ...]] = ("settlement", "ltc")

    enrollment_id: UUID
    person_no: PersonNo
    scheme: Scheme
    year: int
    region_code: str
    effective_from: date
    effective_to: date


class ClaimLine(BaseModel):
    model_config = ConfigDict(frozen=True)

    line_no: int
    item_code: str
    quantity: int
    unit_price: Money
    amount: Money
    traceability_codes: list[str] = Field(default_factory=list)


class SettlementBreakdown(BaseModel):
    """Amounts under the national settlement interface's field names (2207/2305)."""

    model_config = ConfigDict(frozen=True)

    medfee_sumamt: Money  # 医疗费总额 total bill
    fulamt_ownpay_amt: Money  # 全自费 wholly self-paid
    overlmt_selfpay: Money  # 超限价自费 above the limit price
    preselfpay_amt: Money  # 先行自付 乙类 share paid first
    inscp_scp_amt: Money  # 政策范围内费用 policy-scope amount
    hifp_pay: Money  # 统筹基金 basic fund
    hifmi_pay: Money  # 大病保险 critical-illness insurance
    hifob_pay: Money  # 大额医疗补助 large-expense supplement
    maf_pay: Money  # 医疗救助 medical assistance
    acct_pay: Money  # 个人账户 personal account
    psn_cash_pay: Money  # 个人现金 cash
    fund_pay_sumamt: Money  # 基金支付总额 all funds


@register
class ClaimSettled(EventPayload):
    """A designated institution's settlement was paid: the whole claim, for audit."""

    event_type: ClassVar[str] = "claim.settled"
    publisher: ClassVar[str] = "settlement"
    consumers: ClassVar[tuple[str, ...]] = ("supervision",)

    settlement_id: UUID
    person_no: PersonNo
    institution_code: str
    practitioner_code: str
    visit_type: VisitType
    admitted_on: date
    discharged_on: date
    diagnoses: list[str]
    lines: list[ClaimLine]
    breakdown: SettlementBreakdown
    settled_at: datetime


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
