from __future__ import annotations

from datetime import date, datetime
from uuid import UUID

from pydantic import BaseModel, ConfigDict, Field

from shared.events.contracts import PersonNo, Scheme, VisitType
from shared.money import Money


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


class PrecheckLine(BaseModel):
    model_config = ConfigDict(extra="forbid")

    item_code: str = Field(min_length=1, max_length=30)
    quantity: int = Field(gt=0, le=100_000)
    unit_price: Money = Field(ge=0)
    traceability_codes: list[str] = Field(default_factory=list, max_length=1000)


class PrecheckIn(BaseModel):
    """A draft order (处方/医嘱) before it is prescribed: 事前提醒."""

    model_config = ConfigDict(extra="forbid")

    person_no: PersonNo
    practitioner_code: str = Field(min_length=1, max_length=30)
    institution_code: str = Field(min_length=1, max_length=20)
    visit_type: VisitType = "outpatient"
    visit_date: date
    discharged_on: date | None = Field(default=None, description="planned discharge for an inpatient order")
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
    recent_points: list[PointsEntryOut]
