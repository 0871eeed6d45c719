from __future__ import annotations

from datetime import date, datetime
from typing import Literal
from uuid import UUID

from pydantic import BaseModel, Field

from shared.schemas import RequestModel

RegionCode = str


class PersonCreate(RequestModel):
    id_number: str = Field(min_length=1, max_length=32, description="18-character resident ID (公民身份号码)")
    name: str = Field(min_length=1, max_length=100)
    hukou_region_code: RegionCode = Field(pattern=r"^\d{6,12}$", description="户籍 region")
    residence_region_code: RegionCode = Field(pattern=r"^\d{6,12}$", description="常住 region")


class PersonOut(BaseModel):
    person_no: str
    id_number_masked: str
    name: str
    birth_date: date
    sex: Literal["M", "F"]
    hukou_region_code: str
    residence_region_code: str
    registered_at: datetime


class EnrollmentCreate(RequestModel):
    scheme: Literal["employee", "resident"] = Field(description="职工医保 employee / 城乡居民医保 resident")
    year: int = Field(ge=2000, le=2100)
    region_code: RegionCode = Field(pattern=r"^\d{6,12}$", description="参保地 insuring region")


class EnrollmentOut(BaseModel):
    id: UUID
    person_no: str
    scheme: str
    year: int
    region_code: str
    status: str
    effective_from: date
    effective_to: date
