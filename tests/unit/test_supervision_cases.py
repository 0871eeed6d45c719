"""Cases (pure): the workflow and what a conclusion decides."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest

from services.supervision.cases import InvalidTransition, RecoveryState, conclude, next_status, record_recovery
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


# -- recoveries tracked to closure (追回) and penalties ---------------------------------------


def test_a_conclusion_with_nothing_to_recover_is_closed_at_once_and_a_penalty_is_kept() -> None:
    nothing = conclude(
        current="investigating",
        subject_kind="practitioner",
        amount_to_recover=Decimal("0.00"),
        at_stake=Decimal("10.00"),
        sanction=False,
        prior_sanctions=[],
        concluded_on=date(2026, 11, 23),
        penalty=Decimal("200.00"),
    )
    assert (nothing.recovery_status, nothing.penalty) == ("closed", Decimal("200.00"))
    some = conclude(
        current="investigating",
        subject_kind="institution",
        amount_to_recover=Decimal("10.00"),
        at_stake=Decimal("10.00"),
        sanction=False,
        prior_sanctions=[],
        concluded_on=date(2026, 11, 23),
    )
    assert (some.recovery_status, some.penalty) == ("outstanding", Decimal("0.00"))
    with pytest.raises(ValueError, match="penalty"):
        conclude(
            current="investigating",
            subject_kind="institution",
            amount_to_recover=Decimal("1.00"),
            at_stake=Decimal("10.00"),
            sanction=False,
            prior_sanctions=[],
            concluded_on=date(2026, 11, 23),
            penalty=Decimal("-1.00"),
        )


def test_payments_add_up_to_closure_and_never_past_the_amount_to_recover() -> None:
    state = RecoveryState("outstanding", Decimal("0.00"), Decimal("10.00"))
    for payment, expected in [
        (Decimal("4.00"), RecoveryState("outstanding", Decimal("4.00"), Decimal("6.00"))),
        (Decimal("6.00"), RecoveryState("closed", Decimal("10.00"), Decimal("0.00"))),
    ]:
        state = record_recovery(
            case_status="concluded",
            recovery_status=state.status,
            amount_to_recover=Decimal("10.00"),
            recovered=state.recovered,
            payment=payment,
        )
        assert state == expected
    with pytest.raises(InvalidTransition, match="closed"):
        record_recovery(
            case_status="concluded",
            recovery_status="closed",
            amount_to_recover=Decimal("10.00"),
            recovered=Decimal("10.00"),
            payment=Decimal("0.01"),
        )
    with pytest.raises(ValueError, match=r"more than the 6\.00 still to recover"):
        record_recovery(
            case_status="concluded",
            recovery_status="outstanding",
            amount_to_recover=Decimal("10.00"),
            recovered=Decimal("4.00"),
            payment=Decimal("6.01"),
        )
    with pytest.raises(ValueError, match="more than zero"):
        record_recovery(
            case_status="concluded",
            recovery_status="outstanding",
            amount_to_recover=Decimal("10.00"),
            recovered=Decimal("0.00"),
            payment=Decimal("0.00"),
        )
    for status in ("open", "investigating"):
        with pytest.raises(InvalidTransition, match="nothing to recover yet"):
            record_recovery(
                case_status=status,
                recovery_status="none",
                amount_to_recover=None,
                recovered=Decimal("0.00"),
                payment=Decimal("1.00"),
            )
