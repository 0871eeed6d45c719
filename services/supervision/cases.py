"""Cases (案件), as pure rules: the workflow and what a conclusion decides.

Flags are grouped into a case against one institution or one practitioner. A case moves
open → investigating → concluded; a conclusion records the finding, the amount to recover
(追回/拒付) and, for an institution, whether a sanction is issued: the next rung of 三函两牌
(`sanctions.next_sanction`) within the rolling year. Nothing here does I/O.
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


def conclude(
    *,
    current: CaseStatus,
    subject_kind: SubjectKind,
    amount_to_recover: Decimal,
    at_stake: Decimal,
    sanction: bool,
    prior_sanctions: list[Sanction],
    concluded_on: date,
) -> Conclusion:
    """Decide a conclusion: the amount to recover is at most what the case's flags put at stake,
    and only an institution receives 三函两牌 sanctions (a doctor's are points)."""
    status = next_status(current, "conclude")
    if amount_to_recover < 0:
        raise ValueError("the amount to recover cannot be negative")
    if amount_to_recover > at_stake:
        raise ValueError(f"the amount to recover {amount_to_recover} is more than the {at_stake} at stake")
    if sanction and subject_kind != "institution":
        raise ValueError("三函两牌 sanctions are for institutions; a practitioner's findings score points")
    decision = next_sanction(prior_sanctions, concluded_on) if sanction else None
    return Conclusion(status, amount_to_recover, decision)
