"""What a claim may carry is refused at the door when supervision could not judge or store it:
dates its in-stage check (事中审核) refuses (settlement then stored the claim unchecked, fail-open),
traceability codes its audit cannot index (the claim was dead-lettered, never audited)."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from services.settlement.schemas import LineIn, SettlementCreate
from services.supervision.schemas import PrecheckLine


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


def test_a_traceability_code_longer_than_any_real_one_is_refused() -> None:
    """A code of a few kB cannot enter supervision's traceability index: the claim was dead-lettered
    there and never audited. Settlement and supervision's checks refuse it at the door."""
    too_long = {"item_code": "XJ01CA0010201", "quantity": 1, "unit_price": "12.50", "traceability_codes": ["8" * 65]}
    for model in (LineIn, PrecheckLine):
        with pytest.raises(ValidationError):
            model.model_validate(too_long)
        assert model.model_validate(too_long | {"traceability_codes": ["8" * 64]}).traceability_codes == ["8" * 64]
    with pytest.raises(ValidationError):
        LineIn.model_validate(too_long | {"traceability_codes": [""]})
