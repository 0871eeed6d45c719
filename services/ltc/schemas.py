from __future__ import annotations

from datetime import date

from pydantic import BaseModel, Field


class CoverOut(BaseModel):
    scheme: str
    covered_from: date
    covered_to: date


class LtcPersonOut(BaseModel):
    person_no: str
    birth_date: date
    age: int
    sex: str
    residence_region_code: str
    died_on: date | None = Field(default=None, description="from person.deceased: no LTC cover from this day")
    current_cover: CoverOut | None
    ltc_insured: bool
