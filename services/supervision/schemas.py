from __future__ import annotations

import json
from datetime import date, datetime
from decimal import Decimal
from typing import Any, Literal, Self
from uuid import UUID

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from shared.events.contracts import PersonNo, Scheme, VisitType
from shared.money import Money
from shared.schemas import RequestModel, TraceabilityCode


class FlagOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: UUID
    settlement_id: UUID
    rule_id: str
    rule_version: int
    severity: str
    line_no: int | None
    amount_at_stake: Money
    message: str
    created_at: datetime
    status: str = Field(description="active, or withdrawn when the settlement was reversed")
    withdrawn_at: datetime | None = None


class AuditOut(BaseModel):
    settlement_id: UUID
    person_no: str
    institution_code: str
    practitioner_code: str | None
    outcome: str
    rules_run: int
    audited_at: datetime
    withdrawn_at: datetime | None = None
    flags: list[FlagOut]


class FlagPage(BaseModel):
    items: list[FlagOut]
    next_cursor: str | None


MAX_LINE_AMOUNT = Decimal("999999999999.99")  # what NUMERIC(14,2) holds
# Orders are for care now; the bounds keep the rules' date windows inside the calendar.
EARLIEST_VISIT = date(1950, 1, 1)
LATEST_VISIT = date(2199, 12, 31)


class PrecheckLine(RequestModel):
    item_code: str = Field(min_length=1, max_length=50)
    quantity: int = Field(gt=0, le=100_000)
    unit_price: Money = Field(ge=0)
    traceability_codes: list[TraceabilityCode] = Field(default_factory=list, max_length=1000, description="药品追溯码")

    @model_validator(mode="after")
    def _amount_fits(self) -> Self:
        if self.unit_price * self.quantity > MAX_LINE_AMOUNT:
            raise ValueError("quantity × unit_price is larger than any line amount can be")
        return self


class PrecheckIn(RequestModel):
    """A draft order (处方/医嘱) before it is prescribed: 事前提醒."""

    person_no: PersonNo
    practitioner_code: str = Field(min_length=1, max_length=30)
    institution_code: str = Field(min_length=1, max_length=20)
    visit_type: VisitType = "outpatient"
    visit_date: date = Field(ge=EARLIEST_VISIT, le=LATEST_VISIT)
    discharged_on: date | None = Field(
        default=None, ge=EARLIEST_VISIT, le=LATEST_VISIT, description="planned discharge for an inpatient order"
    )
    diagnoses: list[str] = Field(default_factory=list, max_length=20)
    scheme: Scheme | None = None
    lines: list[PrecheckLine] = Field(min_length=1, max_length=500)


class PrecheckWarning(BaseModel):
    rule_id: str
    rule_version: int
    severity: str
    line_no: int | None
    amount_at_stake: Money
    message: str


class PrecheckOut(BaseModel):
    warnings: list[PrecheckWarning]
    rules_run: int
    refused: bool = Field(description="true when any warning has refuse severity: the order would be refused")


class CheckIn(RequestModel):
    """事中审核: a claim as settlement is about to store it; settlement has already priced and checked it."""

    person_no: PersonNo
    practitioner_code: str = Field(min_length=1, max_length=30)
    institution_code: str = Field(min_length=1, max_length=20)
    visit_type: VisitType
    admitted_on: date = Field(ge=EARLIEST_VISIT, le=LATEST_VISIT)
    discharged_on: date = Field(ge=EARLIEST_VISIT, le=LATEST_VISIT)
    diagnoses: list[str] = Field(default_factory=list, max_length=20)
    # What settlement knows of the institution and the person's cover; supervision's own
    # projections may lag behind, so the claim's facts win when given.
    scheme: Scheme | None = None
    institution_level: int | None = Field(default=None, ge=0, le=3)
    institution_type: str | None = Field(default=None, max_length=20)
    region_code: str | None = Field(default=None, max_length=12)
    lines: list[PrecheckLine] = Field(min_length=1, max_length=500)

    @model_validator(mode="after")
    def _dates(self) -> Self:
        if self.discharged_on < self.admitted_on:
            raise ValueError("discharged_on is before admitted_on")
        return self


class CheckFinding(BaseModel):
    rule_id: str
    rule_version: int
    line_no: int | None
    amount_at_stake: Money
    message: str


class CheckOut(BaseModel):
    refused: bool = Field(description="true when any in-stage rule of refuse severity found something")
    findings: list[CheckFinding] = Field(description="the refuse-severity findings of the in-stage rules")
    rules_run: int


class PointsEntryOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    settlement_id: UUID
    flag_id: UUID
    rule_id: str
    year: int
    points: int
    recorded_at: datetime


class PractitionerOut(BaseModel):
    practitioner_code: str
    institution_code: str | None
    year: int
    points: int = Field(description="points in `year`; a new year starts again from zero")
    reached: list[str] = Field(description="thresholds reached this year: warning, training, suspension")
    status: str = Field(description="active or suspended")
    suspended_from: date | None
    reinstated_on: date | None = Field(default=None, description="the latest reinstatement (恢复医保支付资格), if any")
    reinstatement_reason: str | None = None
    recent_points: list[PointsEntryOut]


class ReinstatementIn(RequestModel):
    """恢复医保支付资格: lift a practitioner's suspension (ops, admin)."""

    reason: str = Field(min_length=1, max_length=500, description="why: served, appeal upheld, training done, ...")
    reinstated_on: date | None = Field(
        default=None, description="from when settlement accepts the doctor again; today (Asia/Shanghai) by default"
    )


class CaseCreate(RequestModel):
    subject_kind: Literal["institution", "practitioner"]
    subject_code: str = Field(min_length=1, max_length=30)
    flag_ids: list[UUID] = Field(min_length=1, max_length=500)


class CaseConclusion(RequestModel):
    finding: str = Field(min_length=1, max_length=2000, description="what the investigation found")
    amount_to_recover: Money = Field(ge=0, description="追回/拒付: at most the amount the case's flags put at stake")
    sanction: bool = Field(default=False, description="issue the next 三函两牌 rung to the institution")
    penalty: Money = Field(default=Decimal("0.00"), ge=0, description="罚款: a penalty beside the recovery")


class RecoveryPaymentIn(RequestModel):
    """追回: a payment received against a concluded case's amount to recover."""

    amount: Money = Field(gt=0)
    received_on: date = Field(ge=date(2000, 1, 1), le=date(2199, 12, 31))
    reference: str = Field(
        min_length=1, max_length=64, pattern=r"^[0-9A-Za-z_.-]+$", description="the receipt; recorded once per case"
    )


class RecoveryPaymentOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    amount: Money
    received_on: date
    reference: str
    recorded_by: str
    recorded_at: datetime


class CaseOut(BaseModel):
    id: UUID
    subject_kind: str
    subject_code: str
    status: str
    amount_at_stake: Money
    opened_by: str
    opened_at: datetime
    investigating_since: datetime | None
    finding: str | None
    amount_to_recover: Money | None
    sanction: str | None
    concluded_on: date | None
    penalty: Money | None = None
    recovered: Money = Field(description="追回 so far: the payments received")
    outstanding: Money | None = Field(description="still to recover; null before the conclusion")
    recovery_status: str = Field(description="none (not concluded), outstanding, or closed (fully recovered)")
    recovery_closed_on: date | None = None
    recovery_payments: list[RecoveryPaymentOut]
    flag_ids: list[UUID]


class SanctionOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    kind: str
    issued_on: date
    case_id: UUID
    refuses_settlement: bool


class CreditOut(BaseModel):
    institution_code: str
    on: date
    grade: str = Field(description="A-D from the rolling year's sanctions and recoveries")
    score: int
    sanctions: list[SanctionOut]
    recovered: Money


class StatisticsRow(BaseModel):
    region_code: str = Field(description="the institution's region (就医地); empty when no claim has said it")
    month: str = Field(description="YYYY-MM, Asia/Shanghai")
    institutions_inspected: int = Field(description="distinct institutions with a case concluded this month")
    cases_concluded: int
    letters: int = Field(description="提醒函, 约谈函, 警示函 issued")
    yellow_cards: int
    red_cards: int
    flags: int = Field(description="active flags raised this month")
    amount_recovered: Money = Field(description="追回: amounts to recover decided in concluded cases")
    amount_refused: Money = Field(description="拒付: amount at stake of active refuse-severity flags")
    penalties: Money = Field(description="罚款: penalties decided in cases concluded this month")
    amount_collected: Money = Field(description="recovery payments received this month")


class StatisticsOut(BaseModel):
    from_month: str
    to_month: str
    items: list[StatisticsRow]


class RuleVersionOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    rule_id: str
    version: int
    family: str
    stages: list[str]
    severity: str
    parameters: dict[str, Any]
    scope: dict[str, Any]
    window_days: int | None
    effective_from: date
    effective_to: date | None
    active: bool


class RuleVersionCreate(RequestModel):
    """A new version of a rule: inactive until activated; what it does not say is copied from the latest."""

    stages: list[Literal["pre", "in", "post"]] | None = Field(default=None, min_length=1)
    severity: Literal["info", "warn", "refuse"] | None = None
    parameters: dict[str, int | str | bool] | None = None
    scope: dict[str, list[str] | list[int]] | None = None
    window_days: int | None = Field(default=None, ge=1, le=3660)
    effective_from: date = Field(ge=date(2000, 1, 1), le=date(2199, 12, 31))
    effective_to: date | None = Field(default=None, ge=date(2000, 1, 1), le=date(2199, 12, 31))

    @field_validator("parameters", "scope", mode="before")
    @classmethod
    def _no_nul_in_maps(cls, value: Any) -> Any:
        # Stored as JSONB, which cannot hold a NUL character: refuse it here, not in the database.
        if isinstance(value, dict) and "\\u0000" in json.dumps(value):
            raise ValueError("must not contain the NUL character")
        return value


class BacktestIn(RequestModel):
    from_date: date = Field(ge=date(2000, 1, 1), le=date(2199, 12, 31))
    to_date: date = Field(ge=date(2000, 1, 1), le=date(2199, 12, 31))


class InstitutionHits(BaseModel):
    institution_code: str
    findings: int
    amount_at_stake: Money


class BacktestResult(BaseModel):
    version: int
    claims_hit: int
    findings: int
    amount_at_stake: Money
    top_institutions: list[InstitutionHits]


class BacktestOut(BaseModel):
    rule_id: str
    from_date: date
    to_date: date
    claims_examined: int
    truncated: bool = Field(description="true when the range held more claims than one backtest examines")
    candidate: BacktestResult
    active: BacktestResult | None


class PeerBaselineIn(RequestModel):
    period: str = Field(
        pattern=r"^2[01]\d\d-(0[1-9]|1[0-2])$",
        description="the closed month (YYYY-MM, by settlement date) to freeze the peers' cost per case of",
        examples=["2026-10"],
    )


class PeerBaselineOut(BaseModel):
    period: str = Field(description="YYYY-MM")
    taken_at: datetime
    taken_by: str
    institutions: int = Field(description="institutions with cases in the month")
    diagnosis_groups: int = Field(description="(level, diagnosis group) cells with cases")
    cases: int = Field(description="settled claims counted (reversed ones excluded)")


class PeerBaselinePage(BaseModel):
    items: list[PeerBaselineOut]
    next_cursor: str | None


class PeerCostOut(BaseModel):
    institution_code: str
    cases: int
    total_cost: Money
    cost_per_case: Money = Field(description="rounded to the fen for display; the rule computes unrounded")


class PeerGroupOut(BaseModel):
    period: str = Field(description="YYYY-MM")
    taken_at: datetime
    institution_level: int
    diagnosis_group: str = Field(description="ICD-10 category of the main diagnosis")
    items: list[PeerCostOut] = Field(description="every institution with cases in the group, by institution code")
