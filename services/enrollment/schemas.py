from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from typing import Literal
from uuid import UUID

from pydantic import BaseModel, Field

from services.enrollment.contributions import AssistanceCategory
from services.enrollment.family import Relation
from services.enrollment.filings import FilingType
from shared.events.contracts import PERSON_NO_PATTERN
from shared.money import Money
from shared.schemas import RequestModel

RegionCode = str


class PersonCreate(RequestModel):
    id_number: str = Field(min_length=1, max_length=32, description="18-character resident ID (公民身份号码)")
    name: str = Field(min_length=1, max_length=100)
    hukou_region_code: RegionCode = Field(pattern=r"^\d{6,15}$", description="户籍 region, down to the grid (网格)")
    residence_region_code: RegionCode = Field(pattern=r"^\d{6,15}$", description="常住 region")


class PersonOut(BaseModel):
    person_no: str
    id_number_masked: str
    name: str
    birth_date: date
    sex: Literal["M", "F"]
    hukou_region_code: str
    residence_region_code: str
    registered_at: datetime


class ContributionIn(RequestModel):
    """Amounts paid now; an omitted amount means "what is still due" for that payer."""

    individual: Money | None = Field(default=None, ge=0, description="个人缴费")
    employer: Money | None = Field(default=None, ge=0, description="单位缴费")
    subsidy: Money | None = Field(default=None, ge=0, description="财政补助 and 资助 (assistance fund)")
    paid_on: date | None = Field(default=None, description="payment date; today when omitted")


class ContributionCreate(ContributionIn):
    year: int = Field(ge=2000, le=2100, description="the enrollment year paid for")


class EnrollmentCreate(RequestModel):
    scheme: Literal["employee", "resident"] = Field(description="职工医保 employee / 城乡居民医保 resident")
    year: int = Field(ge=2000, le=2100)
    region_code: RegionCode = Field(pattern=r"^\d{6,12}$", description="参保地 insuring region")
    starts_on: date | None = Field(
        default=None,
        description="first day of a mid-year enrollment (scheme switch, transfer in); by default 1 January, or the "
        "day after this year's last terminated enrollment",
    )
    employer_code: str | None = Field(
        default=None,
        pattern=r"^[A-Za-z0-9]{1,32}$",
        description="employee scheme: 参保单位 (unified social credit code)",
    )
    contribution_base: Money | None = Field(default=None, gt=0, description="employee scheme: monthly 缴费基数")
    retiree: bool = Field(default=False, description="退休人员 (employee scheme): no contribution due")
    assistance_category: AssistanceCategory | None = Field(
        default=None, description="资助参保 group (resident scheme): the assistance fund pays its share"
    )
    contribution: ContributionIn | None = Field(
        default=None, description="pay at enrollment: the enrollment activates at once when this covers what is due"
    )


class SuspendRequest(RequestModel):
    suspended_from: date | None = Field(default=None, description="today when omitted")
    reason: str = Field(default="arrears", min_length=1, max_length=200, description="e.g. arrears (欠费)")


TerminationReason = Literal["death", "emigration", "scheme_switch", "transfer", "other"]


class TerminateRequest(RequestModel):
    terminated_on: date | None = Field(default=None, description="last covered day; today when omitted")
    reason: TerminationReason


class DeathRequest(RequestModel):
    died_on: date


class ContributionDueOut(BaseModel):
    individual: Money
    employer: Money
    subsidy: Money
    assistance: Money
    personal_account_credit: Money


class EnrollmentOut(BaseModel):
    id: UUID
    person_no: str
    scheme: str
    year: int
    region_code: str
    status: str
    effective_from: date
    effective_to: date
    employer_code: str | None = None
    contribution_base: Money | None = None
    retiree: bool = False
    assistance_category: str | None = None
    coverage_reason: str | None = None
    suspended_from: date | None = None
    terminated_on: date | None = None
    status_reason: str | None = None
    contribution_due: ContributionDueOut | None = None


class ContributionOut(BaseModel):
    id: UUID
    enrollment_id: UUID
    person_no: str
    year: int
    individual: Money
    employer: Money
    subsidy: Money
    personal_account_credit: Money
    paid_on: date
    posted_at: datetime


class ContributionPostedOut(BaseModel):
    contribution: ContributionOut
    enrollment: EnrollmentOut


class FilingCreate(RequestModel):
    filing_type: FilingType = Field(
        description="异地安置退休 resettled_retiree, 异地长期居住 long_term_resident, 常驻异地工作 posted_worker, "
        "转诊转院 referral, 急诊抢救 emergency, 其他临时外出 temporary"
    )
    destination_region_code: RegionCode = Field(pattern=r"^\d{6,12}$", description="就医地 region of treatment")
    valid_from: date
    valid_to: date
    commitment: bool = Field(
        default=False, description="个人承诺: the person commits to the facts, so a long-term filing needs no review"
    )


class FilingRevoke(RequestModel):
    reason: str = Field(default="revoked on request", min_length=1, max_length=200)


class FilingOut(BaseModel):
    id: UUID
    person_no: str
    filing_type: str
    home_region_code: str
    destination_region_code: str
    valid_from: date
    valid_to: date
    status: str
    decision_reason: str
    filed_at: datetime
    approved_at: datetime | None
    revoked_on: date | None
    revoke_reason: str | None


class FamilyBind(RequestModel):
    relative_person_no: str = Field(pattern=PERSON_NO_PATTERN)
    relation: Relation = Field(description="spouse 配偶, parent 父母, child 子女 (of the employee)")


class FamilyBindingOut(BaseModel):
    id: UUID
    person_no: str
    relative_person_no: str
    relation: str
    bound_on: date
    unbound_on: date | None


class CoverageLineOut(BaseModel):
    code: str
    name: str
    level: str
    hukou_baseline: int = Field(description="户籍人口")
    insured: int = Field(description="insured hukou residents, actively covered on as_of")
    coverage_rate: Decimal | None = Field(description="户籍人口参保率 = insured / hukou_baseline, four places")
    insured_by_scheme: dict[str, int]
    rate_by_scheme: dict[str, Decimal | None]


class CoverageOut(BaseModel):
    as_of: date
    source: Literal["live", "snapshot"] = Field(
        description="live: counted from every person now; snapshot: from the coverage snapshot of as_of"
    )
    snapshot_taken_at: datetime | None = Field(default=None, description="when that snapshot was counted")
    region: CoverageLineOut
    children: list[CoverageLineOut]


class CoverageSnapshotIn(RequestModel):
    as_of: date | None = Field(default=None, description="the day to count; today when omitted")


class CoverageSnapshotOut(BaseModel):
    as_of: date
    taken_at: datetime
    insured: int = Field(description="insured hukou residents counted, summed over schemes")


class UninsuredOut(BaseModel):
    person_no: str
    name: str
    id_number_masked: str
    hukou_region_code: str
    birth_date: date


class ImportRejectionOut(BaseModel):
    line: int
    reason: str


class ImportReport(BaseModel):
    kind: str
    rows: int = Field(description="data rows read")
    applied: int = Field(description="rows that changed something")
    unchanged: int = Field(description="rows an earlier run already applied")
    rejected: list[ImportRejectionOut] = Field(description="every rejected row with its reason; nothing of it was kept")


class PersonSearch(RequestModel):
    """By resident ID (matched through its keyed hash), or by name and/or region (prefix). A POST body, so the ID
    never appears in a URL or an access log."""

    id_number: str | None = Field(default=None, min_length=1, max_length=32)
    name: str | None = Field(default=None, min_length=1, max_length=100)
    region_code: str | None = Field(default=None, pattern=r"^\d{4,15}$", description="hukou code or its prefix")
    limit: int = Field(default=50, ge=1, le=500)
    cursor: str | None = Field(default=None, pattern=PERSON_NO_PATTERN, description="the last person_no seen")


class PersonPage(BaseModel):
    items: list[PersonOut]
    next_cursor: str | None


class PersonUpdate(RequestModel):
    """Regions and name only: the resident ID, birth date and sex are fixed at registration."""

    name: str | None = Field(default=None, min_length=1, max_length=100)
    hukou_region_code: RegionCode | None = Field(default=None, pattern=r"^\d{6,15}$")
    residence_region_code: RegionCode | None = Field(default=None, pattern=r"^\d{6,15}$")


class TransferRequest(RequestModel):
    """关系转移接续: move an active enrollment to another insuring region, keeping continuous cover."""

    to_region_code: RegionCode = Field(pattern=r"^\d{6,12}$")
    transfer_on: date | None = Field(default=None, description="first day in the new region; tomorrow when omitted")
