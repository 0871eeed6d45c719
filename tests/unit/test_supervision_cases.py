"""Cases (pure): the workflow and what a conclusion decides."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest

from services.supervision.cases import InvalidTransition, conclude, next_status
from services.supervision.sanctions import Sanction

ON = date(2026, 11, 23)


def test_a_case_moves_open_investigating_concluded_only() -> None:
    assert next_status("open", "investigate") == "investigating"
    assert next_status("investigating", "conclude") == "concluded"
    for status, action in [("open", "conclude"), ("investigating", "investigate"), ("concluded", "conclude")]:
        with pytest.raises(InvalidTransition, match="cannot"):
            next_status(status, action)  # type: ignore[arg-type]


def test_a_conclusion_escalates_within_the_rolling_year() -> None:
    prior = [Sanction("reminder", date(2026, 3, 1)), Sanction("interview", date(2026, 6, 1))]
    decided = conclude(
        current="investigating",
        subject_kind="institution",
        amount_to_recover=Decimal("10.00"),
        at_stake=Decimal("10.00"),
        sanction=True,
        prior_sanctions=prior,
        concluded_on=ON,
    )
    assert decided.status == "concluded"
    assert decided.sanction is not None
    assert decided.sanction.kind == "warning"
    assert decided.sanction.refuses_settlement is False
    no_sanction = conclude(
        current="investigating",
        subject_kind="institution",
        amount_to_recover=Decimal("0.00"),
        at_stake=Decimal("10.00"),
        sanction=False,
        prior_sanctions=prior,
        concluded_on=ON,
    )
    assert no_sanction.sanction is None


@pytest.mark.parametrize(
    ("kind", "amount", "sanction", "message"),
    [
        ("institution", "10.01", False, "more than"),
        ("institution", "-0.01", False, "negative"),
        ("practitioner", "1.00", True, "institutions"),
    ],
)
def test_a_conclusion_refuses_what_cannot_be(kind: str, amount: str, sanction: bool, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        conclude(
            current="investigating",
            subject_kind=kind,  # type: ignore[arg-type]
            amount_to_recover=Decimal(amount),
            at_stake=Decimal("10.00"),
            sanction=sanction,
            prior_sanctions=[],
            concluded_on=ON,
        )
