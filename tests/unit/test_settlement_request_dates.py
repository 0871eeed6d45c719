"""A claim's dates are refused at the door when supervision's in-stage check (事中审核) could not
judge them: otherwise settlement would store the claim unchecked, for post audit (fail-open)."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from services.settlement.schemas import SettlementCreate


def _claim(**dates: str) -> dict[str, object]:
    body: dict[str, object] = {
        "person_no": "P00000000001",
        "visit_type": "inpatient",
        "practitioner_code": "D000000001",
        "diagnoses": ["J18.9"],
        "lines": [{"item_code": "XJ01CA0010201", "quantity": 1, "unit_price": "12.50"}],
    }
    return body | dates


@pytest.mark.parametrize(
    ("admitted_on", "discharged_on"),
    [
        ("1900-01-01", "2026-11-24"),
        ("0001-01-01", "2026-11-24"),
        ("1949-12-31", "1950-01-02"),
        ("2199-12-31", "2200-01-01"),
    ],
)
def test_dates_supervision_cannot_check_are_refused(admitted_on: str, discharged_on: str) -> None:
    with pytest.raises(ValidationError):
        SettlementCreate.model_validate(_claim(admitted_on=admitted_on, discharged_on=discharged_on))


def test_dates_within_the_bounds_pass() -> None:
    body = SettlementCreate.model_validate(_claim(admitted_on="1950-01-01", discharged_on="2199-12-31"))
    assert body.admitted_on.year == 1950
    outpatient = SettlementCreate.model_validate(_claim(visit_type="outpatient", admitted_on="2026-11-24"))
    assert outpatient.discharged_on == outpatient.admitted_on
