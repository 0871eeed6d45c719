"""Enrollment lifecycle (参保状态): allowed transitions, waiting period and newborn cover. Pure, no I/O.

pending (待缴费) → active (参保缴费) → suspended (暂停, 欠费) → active again on payment;
any live state → terminated (终止: death, emigration, scheme switch, transfer).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta
from enum import StrEnum


class Status(StrEnum):
    PENDING = "pending"  # 待缴费: enrolled for the year, not paid yet
    ACTIVE = "active"  # 正常参保
    SUSPENDED = "suspended"  # 暂停参保 (欠费 arrears)
    TERMINATED = "terminated"  # 终止参保


class Action(StrEnum):
    PAY = "pay"  # the year's contribution is paid in full
    SUSPEND = "suspend"
    TERMINATE = "terminate"


# The whole lifecycle: (state, action) → next state. Anything absent is illegal.
TRANSITIONS: dict[tuple[Status, Action], Status] = {
    (Status.PENDING, Action.PAY): Status.ACTIVE,
    (Status.PENDING, Action.TERMINATE): Status.TERMINATED,
    (Status.ACTIVE, Action.SUSPEND): Status.SUSPENDED,
    (Status.ACTIVE, Action.TERMINATE): Status.TERMINATED,
    (Status.SUSPENDED, Action.PAY): Status.ACTIVE,
    (Status.SUSPENDED, Action.TERMINATE): Status.TERMINATED,
}

# States that hold the person's one basic enrollment at a date (the database's one-live-enrollment key uses these too).
LIVE_STATES = frozenset({Status.PENDING, Status.ACTIVE, Status.SUSPENDED})


class IllegalTransition(ValueError):
    def __init__(self, current: Status, action: Action) -> None:
        super().__init__(f"an enrollment that is {current.value} cannot {action.value}")
        self.current = current
        self.action = action


def transition(current: Status | str, action: Action) -> Status:
    """The next state, or IllegalTransition (a 409 at the API)."""
    state = Status(current)
    try:
        return TRANSITIONS[(state, action)]
    except KeyError:
        raise IllegalTransition(state, action) from None


@dataclass(frozen=True)
class WaitingPolicy:
    """等待期 parameters (days). Demo defaults; a bureau sets them per region, scheme and year."""

    first_or_lapsed_days: int = 90  # first enrollment, or a gap after the previous year
    continuous_days: int = 0  # paid without a gap: no waiting period
    newborn_grace_days: int = 90  # 新生儿 enrolled within this many days of birth are covered from birth


@dataclass(frozen=True)
class Coverage:
    effective_from: date
    effective_to: date
    reason: str  # why coverage starts when it does


def coverage_on_payment(
    *,
    year: int,
    paid_on: date,
    birth_date: date,
    enrolled_on: date,
    continuous: bool,
    policy: WaitingPolicy,
    starts_on: date | None = None,
) -> Coverage:
    """When coverage starts once the year is paid.

    A newborn enrolled within the grace period is covered from birth; a continuous payer from the start
    of the year (or the payment date, with the continuous waiting period); otherwise after the waiting period.
    """
    # starts_on: a mid-year enrollment (scheme switch, transfer in) covers from then, not from 1 January.
    year_start, year_end = starts_on or date(year, 1, 1), date(year, 12, 31)
    if (
        birth_date.year == year
        and birth_date >= date(year, 1, 1)
        and (enrolled_on - birth_date).days <= policy.newborn_grace_days
    ):
        return Coverage(birth_date, year_end, "newborn covered from birth (新生儿)")
    days = policy.continuous_days if continuous else policy.first_or_lapsed_days
    # Without a waiting period the paid year is covered whole; with one, cover starts that many days after payment.
    start = max(year_start, paid_on + timedelta(days=days)) if days else year_start
    if continuous:
        reason = "continuous payer (连续参保)"
    else:
        reason = f"first or lapsed enrollment: {days}-day waiting period (等待期)"
    if start > year_end:
        raise NoCoverLeft(f"the waiting period ends on {start.isoformat()}, after the {year} coverage year")
    return Coverage(start, year_end, reason)


class NoCoverLeft(ValueError):
    """Paid so late that the waiting period outlasts the coverage year: enroll for the next year instead."""
