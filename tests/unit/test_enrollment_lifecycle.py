"""Enrollment lifecycle rules: the transition table, waiting period, newborn cover, contribution split."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest

from services.enrollment.contributions import (
    AssistanceCategory,
    ContributionPolicy,
    ContributionRuleError,
    contribution_due,
    is_paid_in_full,
)
from services.enrollment.lifecycle import (
    TRANSITIONS,
    Action,
    IllegalTransition,
    NoCoverLeft,
    Status,
    WaitingPolicy,
    coverage_on_payment,
    transition,
)

ALLOWED = {
    (Status.PENDING, Action.PAY): Status.ACTIVE,
    (Status.PENDING, Action.TERMINATE): Status.TERMINATED,
    (Status.ACTIVE, Action.SUSPEND): Status.SUSPENDED,
    (Status.ACTIVE, Action.TERMINATE): Status.TERMINATED,
    (Status.SUSPENDED, Action.PAY): Status.ACTIVE,
    (Status.SUSPENDED, Action.TERMINATE): Status.TERMINATED,
}


@pytest.mark.parametrize("state", list(Status))
@pytest.mark.parametrize("action", list(Action))
def test_every_state_and_action(state: Status, action: Action) -> None:
    if (state, action) in ALLOWED:
        assert transition(state, action) is ALLOWED[(state, action)]
    else:
        with pytest.raises(IllegalTransition):
            transition(state.value, action)


def test_the_table_is_exactly_the_documented_lifecycle() -> None:
    assert TRANSITIONS == ALLOWED
    assert all(next_state is not Status.PENDING for next_state in TRANSITIONS.values())


def test_terminated_is_final() -> None:
    for action in Action:
        with pytest.raises(IllegalTransition, match="terminated cannot"):
            transition(Status.TERMINATED, action)


POLICY = WaitingPolicy(first_or_lapsed_days=90, continuous_days=0, newborn_grace_days=90)
ADULT = date(1980, 5, 1)


def test_continuous_payer_is_covered_from_the_start_of_the_year() -> None:
    cover = coverage_on_payment(
        year=2026,
        paid_on=date(2026, 3, 10),
        birth_date=ADULT,
        enrolled_on=date(2026, 3, 1),
        continuous=True,
        policy=POLICY,
    )
    assert (cover.effective_from, cover.effective_to) == (date(2026, 1, 1), date(2026, 12, 31))


def test_first_enrollment_waits_the_waiting_period_from_payment() -> None:
    cover = coverage_on_payment(
        year=2026,
        paid_on=date(2026, 3, 10),
        birth_date=ADULT,
        enrolled_on=date(2026, 3, 1),
        continuous=False,
        policy=POLICY,
    )
    assert cover.effective_from == date(2026, 6, 8)  # 10 March + 90 days
    assert "waiting" in cover.reason


def test_paying_before_the_year_waits_from_the_payment_not_the_year() -> None:
    cover = coverage_on_payment(
        year=2026,
        paid_on=date(2025, 12, 1),
        birth_date=ADULT,
        enrolled_on=date(2025, 11, 1),
        continuous=False,
        policy=POLICY,
    )
    assert cover.effective_from == date(2026, 3, 1)


def test_paying_too_late_for_any_cover_is_refused() -> None:
    with pytest.raises(NoCoverLeft):
        coverage_on_payment(
            year=2026,
            paid_on=date(2026, 11, 1),
            birth_date=ADULT,
            enrolled_on=date(2026, 11, 1),
            continuous=False,
            policy=POLICY,
        )


def test_newborn_within_grace_is_covered_from_birth() -> None:
    born = date(2026, 4, 2)
    cover = coverage_on_payment(
        year=2026, paid_on=date(2026, 6, 20), birth_date=born, enrolled_on=born.replace(month=7, day=1), continuous=False,
        policy=POLICY,
    )  # fmt: skip
    assert cover.effective_from == born  # 90 days after birth is 1 July: still within grace


def test_newborn_after_grace_waits_like_anyone() -> None:
    born = date(2026, 4, 2)
    cover = coverage_on_payment(
        year=2026,
        paid_on=date(2026, 7, 2),
        birth_date=born,
        enrolled_on=date(2026, 7, 2),
        continuous=False,
        policy=POLICY,
    )
    assert cover.effective_from == date(2026, 9, 30)


def test_zero_waiting_period_covers_a_first_enrollment_from_the_year_start() -> None:
    cover = coverage_on_payment(
        year=2026,
        paid_on=date(2026, 3, 10),
        birth_date=ADULT,
        enrolled_on=date(2026, 3, 1),
        continuous=False,
        policy=WaitingPolicy(first_or_lapsed_days=0),
    )
    assert cover.effective_from == date(2026, 1, 1)


# --- contributions and 资助参保 ---


def test_resident_without_assistance_pays_the_whole_individual_part() -> None:
    due = contribution_due(scheme="resident")
    assert (due.individual, due.employer, due.subsidy, due.assistance) == (
        Decimal("400.00"), Decimal("0.00"), Decimal("700.00"), Decimal("0.00"),
    )  # fmt: skip
    assert due.total == Decimal("1100.00")


@pytest.mark.parametrize(
    ("category", "person_pays", "assistance"),
    [
        (AssistanceCategory.EXTREME_POVERTY, "0.00", "400.00"),
        (AssistanceCategory.ORPHAN, "0.00", "400.00"),
        (AssistanceCategory.MINIMUM_LIVING, "120.00", "280.00"),
        (AssistanceCategory.SEVERE_DISABILITY, "120.00", "280.00"),
        (AssistanceCategory.POVERTY_RISK, "200.00", "200.00"),
    ],
)
def test_assistance_pays_its_share_of_the_individual_part(
    category: AssistanceCategory, person_pays: str, assistance: str
) -> None:
    due = contribution_due(scheme="resident", assistance_category=category.value)
    assert due.individual == Decimal(person_pays)
    assert due.assistance == Decimal(assistance)
    assert due.subsidy == Decimal("700.00") + Decimal(assistance)
    assert due.total == Decimal("1100.00")  # the fund receives the same; only who pays changes


def test_assistance_share_rounds_half_up_to_the_fen() -> None:
    policy = ContributionPolicy(
        resident_individual=Decimal("380.05"),
        assistance_share={AssistanceCategory.POVERTY_RISK: Decimal("0.50")},
    )
    due = contribution_due(scheme="resident", assistance_category=AssistanceCategory.POVERTY_RISK, policy=policy)
    assert due.assistance == Decimal("190.03")
    assert due.individual + due.assistance == Decimal("380.05")


def test_employee_split_from_the_monthly_base() -> None:
    due = contribution_due(scheme="employee", contribution_base=Decimal("6000.00"))
    assert due.individual == Decimal("1440.00")  # 6000 × 12 × 2%
    assert due.employer == Decimal("5400.00")  # 6000 × 12 × 7.5%
    assert due.subsidy == Decimal("0.00")
    assert due.personal_account_credit == Decimal("1440.00")


def test_retired_employee_pays_nothing() -> None:
    due = contribution_due(scheme="employee", retiree=True)
    assert due.total == Decimal("0.00")


@pytest.mark.parametrize("base", ["3999.99", "20000.01"])
def test_employee_base_outside_floor_and_ceiling_is_refused(base: str) -> None:
    with pytest.raises(ContributionRuleError, match="between"):
        contribution_due(scheme="employee", contribution_base=Decimal(base))


def test_employee_needs_a_base_and_gets_no_assistance() -> None:
    with pytest.raises(ContributionRuleError, match="base"):
        contribution_due(scheme="employee")
    with pytest.raises(ContributionRuleError, match="resident scheme only"):
        contribution_due(scheme="employee", contribution_base=Decimal("5000"), assistance_category="minimum_living")


def test_paid_in_full_needs_both_the_person_and_the_employer() -> None:
    due = contribution_due(scheme="employee", contribution_base=Decimal("5000.00"))
    assert not is_paid_in_full(due, individual_paid=due.individual, employer_paid=due.employer - Decimal("0.01"))
    assert not is_paid_in_full(due, individual_paid=Decimal("0"), employer_paid=due.employer)
    assert is_paid_in_full(due, individual_paid=due.individual, employer_paid=due.employer)


def test_mid_year_enrollment_is_covered_from_its_start() -> None:
    cover = coverage_on_payment(
        year=2026,
        paid_on=date(2026, 7, 1),
        birth_date=ADULT,
        enrolled_on=date(2026, 7, 1),
        continuous=True,
        policy=POLICY,
        starts_on=date(2026, 7, 1),
    )
    assert cover.effective_from == date(2026, 7, 1)
