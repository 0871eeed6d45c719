from __future__ import annotations

from datetime import date

from pydantic import BaseModel


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
    current_cover: CoverOut | None
    ltc_insured: bool
