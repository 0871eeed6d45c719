"""Events enrollment publishes: persons, enrollments, contributions, family binding, filings."""

from __future__ import annotations

from datetime import date, datetime
from typing import ClassVar, Literal
from uuid import UUID

from pydantic import Field

from shared.events.contracts import EventPayload, PersonNo, Scheme, register
from shared.money import Money


@register
class PersonRegistered(EventPayload):
    """A person got their one record (一人一档). Carries only the masked resident ID."""

    event_type: ClassVar[str] = "person.registered"
    publisher: ClassVar[str] = "enrollment"
    consumers: ClassVar[tuple[str, ...]] = ("settlement", "ltc", "supervision")

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
    employer_code: str | None = None
    retiree: bool = Field(default=False, description="退休人员: policies differ for retirees")
    assistance_category: str | None = Field(
        default=None,
        max_length=32,
        description="资助参保 group (e.g. extreme_poverty 特困, minimum_living 低保, poverty_risk 返贫致贫风险); "
        "None for everyone else. Settlement pays medical assistance (医疗救助) to these groups.",
    )


@register
class PersonUpdated(EventPayload):
    """A person's regions or contact details changed (never the ID, which is fixed at registration)."""

    event_type: ClassVar[str] = "person.updated"
    publisher: ClassVar[str] = "enrollment"
    consumers: ClassVar[tuple[str, ...]] = ("settlement", "ltc")

    person_no: PersonNo
    hukou_region_code: str
    residence_region_code: str
    updated_at: datetime


@register
class PersonDeceased(EventPayload):
    """A death was recorded; the person's enrollments terminate on died_on."""

    event_type: ClassVar[str] = "person.deceased"
    publisher: ClassVar[str] = "enrollment"
    consumers: ClassVar[tuple[str, ...]] = ("settlement", "ltc", "supervision")

    person_no: PersonNo
    died_on: date
    recorded_at: datetime


@register
class EnrollmentSuspended(EventPayload):
    """Coverage paused from suspended_from (arrears, 欠费): no benefits until it is active again."""

    event_type: ClassVar[str] = "enrollment.suspended"
    publisher: ClassVar[str] = "enrollment"
    consumers: ClassVar[tuple[str, ...]] = ("settlement", "ltc")

    enrollment_id: UUID
    person_no: PersonNo
    scheme: Scheme
    suspended_from: date
    reason: str


@register
class EnrollmentTerminated(EventPayload):
    """Coverage ended on terminated_on (death, emigration, scheme switch, transfer out)."""

    event_type: ClassVar[str] = "enrollment.terminated"
    publisher: ClassVar[str] = "enrollment"
    consumers: ClassVar[tuple[str, ...]] = ("settlement", "ltc")

    enrollment_id: UUID
    person_no: PersonNo
    scheme: Scheme
    terminated_on: date
    reason: Literal["death", "emigration", "scheme_switch", "transfer", "other"]


@register
class ContributionPosted(EventPayload):
    """A year's contribution was paid (个人缴费, 单位缴费, 财政/资助补助)."""

    event_type: ClassVar[str] = "contribution.posted"
    publisher: ClassVar[str] = "enrollment"
    consumers: ClassVar[tuple[str, ...]] = ("settlement",)

    contribution_id: UUID
    enrollment_id: UUID
    person_no: PersonNo
    scheme: Scheme
    year: int
    individual: Money
    employer: Money
    subsidy: Money
    personal_account_credit: Money = Field(description="个人账户划入: what goes to an employee's personal account")
    posted_at: datetime


FamilyRelation = Literal["spouse", "parent", "child"]


@register
class FamilyBound(EventPayload):
    """家庭共济: an employee's personal account may now pay for this close relative."""

    event_type: ClassVar[str] = "family.bound"
    publisher: ClassVar[str] = "enrollment"
    consumers: ClassVar[tuple[str, ...]] = ("settlement",)

    binding_id: UUID
    person_no: PersonNo = Field(description="the employee who holds the personal account")
    relative_person_no: PersonNo
    relation: FamilyRelation
    bound_on: date


@register
class FamilyUnbound(EventPayload):
    """The binding ended: the employee's personal account no longer pays for this relative."""

    event_type: ClassVar[str] = "family.unbound"
    publisher: ClassVar[str] = "enrollment"
    consumers: ClassVar[tuple[str, ...]] = ("settlement",)

    binding_id: UUID
    person_no: PersonNo
    relative_person_no: PersonNo
    unbound_on: date


# 异地就医备案 types
FilingType = Literal[
    "resettled_retiree",  # 异地安置退休
    "long_term_resident",  # 异地长期居住
    "posted_worker",  # 常驻异地工作
    "referral",  # 转诊转院
    "emergency",  # 急诊抢救
    "temporary",  # 其他临时外出
]


@register
class FilingApproved(EventPayload):
    """A cross-region filing: care in destination_region_code counts as filed from valid_from to valid_to."""

    event_type: ClassVar[str] = "filing.approved"
    publisher: ClassVar[str] = "enrollment"
    consumers: ClassVar[tuple[str, ...]] = ("settlement",)

    filing_id: UUID
    person_no: PersonNo
    filing_type: FilingType
    home_region_code: str
    destination_region_code: str
    valid_from: date
    valid_to: date
    approved_at: datetime


@register
class FilingRevoked(EventPayload):
    """A filing was revoked or expired early: care there is unfiled again from revoked_on."""

    event_type: ClassVar[str] = "filing.revoked"
    publisher: ClassVar[str] = "enrollment"
    consumers: ClassVar[tuple[str, ...]] = ("settlement",)

    filing_id: UUID
    person_no: PersonNo
    revoked_on: date
    reason: str
