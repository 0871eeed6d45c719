"""Building blocks for request models and path parameters, so bad input stops at the door.

PostgreSQL text cannot hold a NUL character and every code column has a length, so input
that would only fail in the database is refused here with a 422 problem instead.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import Path
from pydantic import BaseModel, ConfigDict, StringConstraints, field_validator

from shared.events.contracts import PERSON_NO_PATTERN

PersonNoPath = Annotated[str, Path(pattern=PERSON_NO_PATTERN, description="person number, P + 11 digits")]
# 药品追溯码: 20 digits in the national scheme; 64 leaves room for other formats. Unbounded, a code
# could not be stored in supervision's traceability index (btree entries stop at ~2.7 kB), so the
# claim carrying it was dead-lettered and never audited.
TraceabilityCode = Annotated[str, StringConstraints(min_length=1, max_length=64)]


def _refuse_nul(value: Any) -> Any:
    if isinstance(value, str) and "\x00" in value:
        raise ValueError("must not contain the NUL character")
    if isinstance(value, list):
        for item in value:
            _refuse_nul(item)
    return value


class RequestModel(BaseModel):
    """Base of every request body: unknown fields refused, no NUL characters anywhere."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    @field_validator("*", mode="before")
    @classmethod
    def _no_nul(cls, value: Any) -> Any:
        return _refuse_nul(value)
