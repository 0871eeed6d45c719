from __future__ import annotations

from datetime import date, datetime
from typing import Literal, Self
from uuid import UUID

from pydantic import BaseModel, Field, model_validator

from shared.events.contracts import ClaimLine, PersonNo, SettlementBreakdown
from shared.money import Money
from shared.schemas import RequestModel, TraceabilityCode


class LineIn(RequestModel):
    item_code: str = Field(min_length=1, max_length=50, description="catalogue code (医保目录编码)")
    quantity: int = Field(gt=0, le=100000)
    unit_price: Money = Field(ge=0, description='a string, e.g. "12.50"')
    traceability_codes: list[TraceabilityCode] = Field(default_factory=list, max_length=1000, description="药品追溯码")


# The dates supervision's in-stage check (事中审核) accepts: a claim it cannot check must not be stored
# unchecked for post audit; the bounds also keep the rules' date windows inside the calendar.
EARLIEST_CARE = date(1950, 1, 1)
LATEST_CARE = date(2199, 12, 31)


class SettlementCreate(RequestModel):
    person_no: PersonNo
    visit_type: Literal["outpatient", "inpatient"]
    admitted_on: date = Field(ge=EARLIEST_CARE, le=LATEST_CARE)
    discharged_on: date | None = Field(
        default=None, ge=EARLIEST_CARE, le=LATEST_CARE, description="defaults to admitted_on for outpatient visits"
    )
    practitioner_code: str = Field(min_length=1, max_length=30, description="医保医师代码")
    diagnoses: list[str] = Field(min_length=1, max_length=20, description="ICD-10 codes")
    lines: list[LineIn] = Field(min_length=1, max_length=500)
    family_account_payer_person_no: PersonNo | None = Field(
        default=None,
        description="家庭共济: a bound employee whose personal account pays the personal part instead of the "
        "patient's own account; refused (422 family-account-not-bound) without a binding in force",
    )

    @model_validator(mode="after")
    def _dates(self) -> Self:
        if self.discharged_on is None:
            if self.visit_type == "inpatient":
                raise ValueError("an inpatient settlement needs discharged_on")
            self.discharged_on = self.admitted_on
        if self.discharged_on < self.admitted_on:
            raise ValueError("discharged_on is before admitted_on")
        return self


class ExplanationStep(BaseModel):
    """Which rule produced an amount, under which policy version (结算明细说明)."""

    rule: str
    amount: Money
    policy_version: str
    detail: str


class PreSettlementOut(BaseModel):
    """预结算: what the settlement would be now; nothing is stored or reserved."""

    person_no: str
    institution_code: str
    scheme: str
    visit_type: str
    policy_version: str
    lines: list[ClaimLine]
    breakdown: SettlementBreakdown
    explanation: list[ExplanationStep]
    post_audit_required: bool = Field(
        default=False,
        description="supervision's in-stage check (事中审核) did not answer in time; post audit reviews it",
    )


class SettlementOut(BaseModel):
    settlement_id: UUID
    institution_code: str
    person_no: str
    scheme: str
    visit_type: str
    admitted_on: date
    discharged_on: date
    practitioner_code: str
    diagnoses: list[str]
    lines: list[ClaimLine]
    breakdown: SettlementBreakdown
    policy_version: str | None
    explanation: list[ExplanationStep]
    status: Literal["settled", "reversed"]
    settled_at: datetime
    reversed_at: datetime | None = None
    family_account_payer_person_no: str | None = Field(
        default=None, description="家庭共济: whose personal account paid acct_pay, when not the patient's"
    )
    post_audit_required: bool = Field(
        default=False,
        description="stored without supervision's in-stage check (事中审核) answering in time (fail-open)",
    )


class AccumulatorsOut(BaseModel):
    """年度累计 of one person and year."""

    person_no: str
    year: int
    deductible_used: Money
    basic_fund_paid: Money
    critical_paid: Money
    inscope_self_paid: Money
    assistance_base: Money
    assistance_paid: Money
    personal_burden: Money
    settlements: int


class AccountOut(BaseModel):
    """个人账户 (employees): credited from contributions, debited by `acct_pay`."""

    person_no: str
    balance: Money


class TrialBalanceAccount(BaseModel):
    account: str
    debit: Money
    credit: Money
    balance: Money = Field(description="debit − credit")


class TrialBalanceOut(BaseModel):
    """试算平衡 of the fund ledger (all institutions, or one)."""

    institution_code: str | None
    accounts: list[TrialBalanceAccount]
    total_debit: Money
    total_credit: Money
    balanced: bool


class DayTotals(BaseModel):
    count: int
    medfee_sumamt: Money
    fund_pay_sumamt: Money
    acct_pay: Money
    psn_cash_pay: Money


class ReconciliationOut(BaseModel):
    """日对账单 of one institution for one business day (Asia/Shanghai)."""

    institution_code: str
    day: date
    settled: DayTotals = Field(description="settlements made that day (also those reversed later)")
    reversed: DayTotals = Field(description="settlements reversed that day")
    owed_to_institution: Money = Field(description="funds + personal accounts, settled − reversed")
    ledger_payable: Money = Field(description="net credit to 应付定点机构款 in the ledger for the day")
    ledger_journals: dict[str, int] = Field(description="journals posted that day, by kind")
    agrees: bool = Field(description="the settlements and the ledger say the same")


CLEARING_MONTH_PATTERN = r"^\d{4}-(0[1-9]|1[0-2])$"  # YYYY-MM


class ClearingRunCreate(RequestModel):
    month: str = Field(pattern=CLEARING_MONTH_PATTERN, examples=["2026-10"])


class ClearingLineOut(BaseModel):
    payer_region: str
    payee_region: str
    net_amount: Money = Field(description="what the payer region transfers to the payee region")
    payee_advanced: Money = Field(description="gross: the payee's fund advanced for the payer's insured")
    payer_advanced: Money = Field(description="gross: the payer's fund advanced for the payee's insured")


class ClearingRunOut(BaseModel):
    """月度清算: per pair of pooling regions, the net owed for the month."""

    month: str
    run_at: datetime
    run_by: str
    lines: list[ClearingLineOut]


InstitutionType = Literal["hospital", "clinic", "village_clinic", "pharmacy"]
AgreementStatus = Literal["active", "suspended", "terminated"]


class InstitutionIn(RequestModel):
    """定点医药机构 and its service agreement (协议)."""

    name: str = Field(min_length=1, max_length=200)
    level: int = Field(ge=0, le=3, description="0 未定级, 1 一级, 2 二级, 3 三级")
    region_code: str = Field(pattern=r"^\d{6}$", description="6-digit 区划代码 where it is (就医地)")
    institution_type: InstitutionType
    agreement_status: AgreementStatus = "active"


class InstitutionOut(BaseModel):
    code: str
    name: str
    level: int
    region_code: str
    institution_type: str
    agreement_status: str
    updated_at: datetime


class CatalogueItemOut(BaseModel):
    """One version of a catalogue item (医保目录) with its 限定支付范围."""

    code: str
    name: str
    category: str
    item_class: str = Field(description="A 甲类, B 乙类, C 丙类")
    preselfpay_ratio: str
    limit_price: Money | None
    sex: str | None
    min_age: int | None
    max_age: int | None
    min_institution_level: int | None
    max_qty_per_day: int | None
    max_qty_per_stay: int | None
    valid_from: date | None
    valid_to: date | None
    region: str = Field(description='"" national, else the 6-digit pooling region')


class CatalogueLoaded(BaseModel):
    items: int = Field(description="catalogue rows now stored (the whole catalogue is replaced)")


class PoliciesLoaded(BaseModel):
    inserted: list[str] = Field(description="policy versions added")
    unchanged: list[str] = Field(description="versions already stored with identical values (a reload)")


class AssistanceGroupOut(BaseModel):
    """医疗救助 of one 救助对象 group under a policy version."""

    group: str = Field(description="资助参保 group, e.g. extreme_poverty, minimum_living")
    name: str = Field(description="the group's Chinese name, e.g. 特困人员")
    share: str = Field(description='救助比例 of what is still owed in scope, e.g. "0.70"')
    cap: str = Field(description="年度救助限额 per person-year")
    deductible: str = Field(description="救助起付线 on the person-year assistance base")


class PolicyOut(BaseModel):
    name: str
    region: str
    scheme: str
    year: int
    visit_type: str
    institution_level: int
    retiree: bool
    version: int
    effective_from: date
    effective_to: date | None
    deductible: str
    ratio: str
    cap: str
    critical_threshold: str
    critical_cap: str
    unfiled_reduction: str
    assistance_by_group: list[AssistanceGroupOut] = Field(
        description="医疗救助 per group; a 救助对象 whose group is not listed gets none under this version"
    )
