"""Cases (案件), as pure rules: the workflow and what a conclusion decides.

Flags are grouped into a case against one institution or one practitioner. A case moves
open → investigating → concluded; a conclusion records the finding, the amount to recover
(追回/拒付) and, for an institution, whether a sanction is issued: the next rung of 三函两牌
(`sanctions.next_sanction`) within the rolling year, and a penalty (罚款). The amount to
recover is then tracked to closure: payments received add up until it is fully recovered.
Nothing here does I/O.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from typing import Literal

from services.supervision.sanctions import Sanction, SanctionDecision, SanctionKind, next_sanction

CaseStatus = Literal["open", "investigating", "concluded"]
CaseAction = Literal["investigate", "conclude"]
SubjectKind = Literal["institution", "practitioner"]
# none: not concluded yet; outstanding: concluded, not all recovered; closed: fully recovered.
RecoveryStatus = Literal["none", "outstanding", "closed"]
_ZERO = Decimal("0.00")

_MOVES: dict[tuple[CaseStatus, CaseAction], CaseStatus] = {
    ("open", "investigate"): "investigating",
    ("investigating", "conclude"): "concluded",
}

# The contract's names for each rung (institution.sanctioned).
SANCTION_EVENT_NAMES: dict[
    SanctionKind, Literal["reminder_letter", "interview_letter", "warning_letter", "yellow_card", "red_card"]
] = {
    "reminder": "reminder_letter",
    "interview": "interview_letter",
    "warning": "warning_letter",
    "yellow": "yellow_card",
    "red": "red_card",
}


class InvalidTransition(ValueError):
    """The case is not in a state that allows the action."""


def next_status(current: CaseStatus, action: CaseAction) -> CaseStatus:
    try:
        return _MOVES[(current, action)]
    except KeyError:
        raise InvalidTransition(f"a case that is {current} cannot {action}") from None


@dataclass(frozen=True)
class Conclusion:
    status: CaseStatus
    amount_to_recover: Decimal
    sanction: SanctionDecision | None  # issued to the institution, or None
    penalty: Decimal = _ZERO
    recovery_status: RecoveryStatus = "outstanding"


def conclude(
    *,
    current: CaseStatus,
    subject_kind: SubjectKind,
    amount_to_recover: Decimal,
    at_stake: Decimal,
    sanction: bool,
    prior_sanctions: list[Sanction],
    concluded_on: date,
    penalty: Decimal = _ZERO,
) -> Conclusion:
    """Decide a conclusion: the amount to recover is at most what the case's flags put at stake,
    and only an institution receives 三函两牌 sanctions (a doctor's are points)."""
    status = next_status(current, "conclude")
    if amount_to_recover < 0:
        raise ValueError("the amount to recover cannot be negative")
    if amount_to_recover > at_stake:
        raise ValueError(f"the amount to recover {amount_to_recover} is more than the {at_stake} at stake")
    if penalty < 0:
        raise ValueError("the penalty cannot be negative")
    if sanction and subject_kind != "institution":
        raise ValueError("三函两牌 sanctions are for institutions; a practitioner's findings score points")
    decision = next_sanction(prior_sanctions, concluded_on) if sanction else None
    # Nothing to recover is recovered already: the case is closed for recovery at once.
    recovery: RecoveryStatus = "closed" if amount_to_recover == 0 else "outstanding"
    return Conclusion(status, amount_to_recover, decision, penalty, recovery)


@dataclass(frozen=True)
class RecoveryState:
    status: RecoveryStatus
    recovered: Decimal
    outstanding: Decimal


def record_recovery(
    *,
    case_status: CaseStatus,
    recovery_status: RecoveryStatus,
    amount_to_recover: Decimal | None,
    recovered: Decimal,
    payment: Decimal,
) -> RecoveryState:
    """追回: a payment received against a concluded case. It never takes the total past the
    amount to recover; the payment that completes it closes the recovery."""
    if case_status != "concluded" or amount_to_recover is None:
        raise InvalidTransition(f"a case that is {case_status} has nothing to recover yet")
    if recovery_status == "closed":
        raise InvalidTransition("the case's recovery is closed: everything was recovered")
    if payment <= 0:
        raise ValueError("a recovered payment must be more than zero")
    outstanding = amount_to_recover - recovered
    if payment > outstanding:
        raise ValueError(f"the payment {payment} is more than the {outstanding} still to recover")
    total = recovered + payment
    return RecoveryState("closed" if total == amount_to_recover else "outstanding", total, amount_to_recover - total)
