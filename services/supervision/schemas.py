from __future__ import annotations

from datetime import datetime
from uuid import UUID

from pydantic import BaseModel, ConfigDict

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


class AuditOut(BaseModel):
    settlement_id: UUID
    person_no: str
    institution_code: str
    practitioner_code: str
    outcome: str
    rules_run: int
    audited_at: datetime
    flags: list[FlagOut]


class FlagPage(BaseModel):
    items: list[FlagOut]
    next_cursor: str | None
