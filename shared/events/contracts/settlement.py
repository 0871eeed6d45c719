"""Events settlement publishes: settled and reversed claims, burden alerts."""

from __future__ import annotations

from datetime import date, datetime
from typing import ClassVar, Literal
from uuid import UUID

from pydantic import BaseModel, ConfigDict, Field

from shared.events.contracts import EventPayload, PersonNo, Scheme, VisitType, register
from shared.money import Money


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
    institution_level: int | None = Field(default=None, ge=0, le=3, description="医院等级 1-3, 0 未定级")
    institution_type: str | None = None
    region_code: str | None = Field(default=None, description="where the care was given (就医地)")
    insured_region_code: str | None = Field(default=None, description="the person's insured region (参保地)")
    scheme: Scheme | None = None
    post_audit_required: bool = Field(default=False, description="the in-stage check timed out; audit this one")


@register
class ClaimReversed(EventPayload):
    """A settlement was undone exactly (冲正); its accumulators are restored and its flags withdrawn."""

    event_type: ClassVar[str] = "claim.reversed"
    publisher: ClassVar[str] = "settlement"
    consumers: ClassVar[tuple[str, ...]] = ("supervision",)

    settlement_id: UUID
    person_no: PersonNo
    institution_code: str
    breakdown: SettlementBreakdown = Field(description="the breakdown that was undone")
    reversed_at: datetime


@register
class BurdenAlerted(EventPayload):
    """高额医疗费用负担 watch: a person's yearly personal burden crossed a threshold band."""

    event_type: ClassVar[str] = "burden.alerted"
    publisher: ClassVar[str] = "settlement"
    consumers: ClassVar[tuple[str, ...]] = ()

    person_no: PersonNo
    year: int
    personal_burden: Money
    threshold: Money
    band: Literal["yellow", "orange", "red"]
    alerted_at: datetime
