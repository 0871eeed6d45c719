from __future__ import annotations

from datetime import date, datetime
from typing import Literal, Self
from uuid import UUID

from pydantic import BaseModel, Field, model_validator

from shared.events.contracts import ClaimLine, PersonNo, SettlementBreakdown
from shared.money import Money
from shared.schemas import RequestModel


class LineIn(RequestModel):
    item_code: str = Field(min_length=1, max_length=50, description="catalogue code (医保目录编码)")
    quantity: int = Field(gt=0, le=100000)
    unit_price: Money = Field(ge=0, description='a string, e.g. "12.50"')
    traceability_codes: list[str] = Field(default_factory=list, max_length=1000, description="药品追溯码")


class SettlementCreate(RequestModel):
    person_no: PersonNo
    visit_type: Literal["outpatient", "inpatient"]
    admitted_on: date
    discharged_on: date | None = Field(default=None, description="defaults to admitted_on for outpatient visits")
    practitioner_code: str = Field(min_length=1, max_length=30, description="医保医师代码")
    diagnoses: list[str] = Field(min_length=1, max_length=20, description="ICD-10 codes")
    lines: list[LineIn] = Field(min_length=1, max_length=500)

    @model_validator(mode="after")
    def _dates(self) -> Self:
        if self.discharged_on is None:
            if self.visit_type == "inpatient":
                raise ValueError("an inpatient settlement needs discharged_on")
            self.discharged_on = self.admitted_on
        if self.discharged_on < self.admitted_on:
            raise ValueError("discharged_on is before admitted_on")
        return self


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
    explanation: list[str]
    status: str
    settled_at: datetime
