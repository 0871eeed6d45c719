"""Sanctions (处理处罚), as pure functions: practitioner points, 三函两牌 escalation, credit grade.

Nothing here does I/O. Callers load the practitioner's tally, the institution's prior sanctions
and recoveries, call these functions and store what they return.

- 医保医师记分: `apply_points` adds the points of new findings to a practitioner's tally for
  the calendar year (a new year starts from zero) and says which thresholds (warning, training,
  suspension at 12 points by default) the tally crossed; each is crossed at most once a year.
- 三函两牌: `next_sanction` escalates one rung above the most severe sanction the institution
  received in the rolling year (365 days) before a new concluded case; a red card (红牌,
  agreement suspended) refuses settlement.
- 信用: `credit_grade` grades an institution A-D from its sanctions and recoveries in the
  rolling year.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date, timedelta
from decimal import Decimal
from typing import Literal

from services.supervision.service import Finding, RuleVersion

# ---------------------------------------------------------------------------------------------
# 医保医师记分: practitioner points
# ---------------------------------------------------------------------------------------------

PointsLevel = Literal["warning", "training", "suspension"]  # 提醒谈话 / 培训 / 暂停医保支付资格
POINTS_LEVELS: tuple[PointsLevel, ...] = ("warning", "training", "suspension")

# Points per finding by (rule family, severity). A parameter table: regions set their own.
DEFAULT_POINTS: Mapping[tuple[str, str], int] = {
    ("policy", "info"): 0,
    ("policy", "warn"): 1,
    ("policy", "refuse"): 2,
    ("management", "info"): 0,
    ("management", "warn"): 2,
    ("management", "refuse"): 4,
    ("medical", "info"): 0,
    ("medical", "warn"): 1,
    ("medical", "refuse"): 3,
}

# Points at which each level is reached within one calendar year (parameters).
DEFAULT_THRESHOLDS: Mapping[PointsLevel, int] = {"warning": 4, "training": 8, "suspension": 12}


def rule_families(rules: Iterable[RuleVersion]) -> dict[str, str]:
    """rule_id → family, from rule versions (findings carry the rule id, not the family)."""
    return {rule.rule_id: rule.family for rule in rules}


@dataclass(frozen=True)
class PointsTally:
    """A practitioner's points in one calendar year, and the levels already reached that year."""

    practitioner_code: str
    year: int
    points: int = 0
    reached: frozenset[PointsLevel] = frozenset()


@dataclass(frozen=True)
class PointsResult:
    tally: PointsTally
    added: int
    crossed: tuple[PointsLevel, ...]  # levels reached by this application, lowest first

    @property
    def highest_crossed(self) -> PointsLevel | None:
        return self.crossed[-1] if self.crossed else None


def points_for(
    finding: Finding, families: Mapping[str, str], table: Mapping[tuple[str, str], int] = DEFAULT_POINTS
) -> int:
    """The points one finding scores. A rule or (family, severity) not in the tables is an error."""
    family = families.get(finding.rule_id)
    if family is None:
        raise KeyError(f"{finding.rule_id}: no family for this rule")
    try:
        return table[(family, finding.severity)]
    except KeyError:
        raise KeyError(f"no points for family {family!r} and severity {finding.severity!r}") from None


def apply_points(
    tally: PointsTally,
    findings: Iterable[Finding],
    on: date,
    families: Mapping[str, str],
    table: Mapping[tuple[str, str], int] = DEFAULT_POINTS,
    thresholds: Mapping[PointsLevel, int] = DEFAULT_THRESHOLDS,
) -> PointsResult:
    """Add the findings' points to the tally for `on`'s year; a new year starts again from zero.

    Returns the new tally and the levels this application crossed (each at most once a year:
    a level already reached this year is not crossed again). A date in a year before the
    tally's is refused: points are applied in order.
    """
    if on.year < tally.year:
        raise ValueError(f"points dated {on} are before the tally's year {tally.year}")
    if on.year > tally.year:
        tally = PointsTally(tally.practitioner_code, on.year)
    added = sum(points_for(finding, families, table) for finding in findings)
    if added < 0:
        raise ValueError("points cannot be negative")
    total = tally.points + added
    crossed = tuple(
        level
        for level in POINTS_LEVELS
        if level not in tally.reached and level in thresholds and total >= thresholds[level]
    )
    new = PointsTally(tally.practitioner_code, tally.year, total, tally.reached | frozenset(crossed))
    return PointsResult(new, added, crossed)


class ReinstatementRefused(ValueError):
    """Why a practitioner cannot be reinstated; `conflict` when the state, not the request, is wrong."""

    def __init__(self, message: str, *, conflict: bool) -> None:
        super().__init__(message)
        self.conflict = conflict


def check_reinstatement(status: str, suspended_from: date | None, reinstated_on: date, today: date) -> None:
    """恢复医保支付资格: only a suspended practitioner is reinstated, on a day within the suspension.

    A suspension lasts until an operator lifts it (its length is the bureau's decision, case by case:
    served, appealed, training done); a new year restarts the points, not the prescribing right.
    """
    if status != "suspended" or suspended_from is None:
        raise ReinstatementRefused("the practitioner is not suspended", conflict=True)
    if reinstated_on < suspended_from:
        raise ReinstatementRefused(
            f"reinstated_on {reinstated_on} is before the suspension began ({suspended_from})", conflict=False
        )
    if reinstated_on > today:
        raise ReinstatementRefused(f"reinstated_on {reinstated_on} is in the future (today is {today})", conflict=False)


# ---------------------------------------------------------------------------------------------
# 三函两牌: escalation for institutions within a rolling year
# ---------------------------------------------------------------------------------------------

SanctionKind = Literal["reminder", "interview", "warning", "yellow", "red"]  # 提醒函 约谈函 警示函 黄牌 红牌
LADDER: tuple[SanctionKind, ...] = ("reminder", "interview", "warning", "yellow", "red")
ROLLING_DAYS = 365


@dataclass(frozen=True)
class Sanction:
    """A sanction an institution received (letter or card) and the day it was issued."""

    kind: SanctionKind
    issued_on: date


@dataclass(frozen=True)
class SanctionDecision:
    kind: SanctionKind
    refuses_settlement: bool  # 红牌: the agreement is suspended; new settlements are refused
    counted: tuple[Sanction, ...]  # the prior sanctions still inside the rolling window


def in_window(sanctions: Iterable[Sanction], on: date, window_days: int = ROLLING_DAYS) -> tuple[Sanction, ...]:
    """Sanctions issued on or before `on` and at most `window_days` days before it (older drop out)."""
    earliest = on - timedelta(days=window_days)
    return tuple(s for s in sanctions if earliest <= s.issued_on <= on)


def next_sanction(prior: Iterable[Sanction], concluded_on: date, window_days: int = ROLLING_DAYS) -> SanctionDecision:
    """The sanction for a new concluded case: one rung above the most severe one in the window.

    With nothing in the window it is a reminder letter; after a red card it stays red.
    """
    counted = in_window(prior, concluded_on, window_days)
    top = max((LADDER.index(s.kind) for s in counted), default=-1)
    kind = LADDER[min(top + 1, len(LADDER) - 1)]
    return SanctionDecision(kind, kind == "red", counted)


# ---------------------------------------------------------------------------------------------
# 信用: institution credit grade
# ---------------------------------------------------------------------------------------------

CreditGrade = Literal["A", "B", "C", "D"]


@dataclass(frozen=True)
class Recovery:
    """Money recovered or refused from the institution (追回/拒付) in one concluded case."""

    amount: Decimal
    concluded_on: date


@dataclass(frozen=True)
class CreditParameters:
    """A score starts at 100; sanctions and recoveries in the rolling year take points off."""

    deductions: Mapping[SanctionKind, int] = field(
        default_factory=lambda: {"reminder": 3, "interview": 6, "warning": 10, "yellow": 20, "red": 40}
    )
    points_per_recovery_unit: int = 1  # taken off per full `recovery_unit` recovered in the window
    recovery_unit: Decimal = Decimal("10000.00")  # 1万元
    max_recovery_deduction: int = 30
    floors: Mapping[CreditGrade, int] = field(default_factory=lambda: {"A": 90, "B": 75, "C": 60})
    window_days: int = ROLLING_DAYS


DEFAULT_CREDIT = CreditParameters()


@dataclass(frozen=True)
class CreditResult:
    grade: CreditGrade
    score: int


def credit_grade(
    sanctions: Iterable[Sanction],
    recoveries: Iterable[Recovery],
    on: date,
    params: CreditParameters = DEFAULT_CREDIT,
) -> CreditResult:
    """Grade an institution on `on` from its sanctions and recoveries in the rolling year.

    Score = 100 − sanction deductions − min(cap, per-unit deduction × whole units recovered);
    A/B/C by the floors, else D. A red card in the window means D whatever the score; a yellow
    card means at best C.
    """
    counted = in_window(sanctions, on, params.window_days)
    earliest = on - timedelta(days=params.window_days)
    recovered = sum((r.amount for r in recoveries if earliest <= r.concluded_on <= on), Decimal("0.00"))
    units = int(recovered // params.recovery_unit)
    score = (
        100
        - sum(params.deductions[s.kind] for s in counted)
        - min(params.max_recovery_deduction, units * params.points_per_recovery_unit)
    )
    grade: CreditGrade = "D"
    ranked: tuple[CreditGrade, ...] = ("A", "B", "C")
    for candidate in ranked:
        if score >= params.floors[candidate]:
            grade = candidate
            break
    kinds = {s.kind for s in counted}
    if "red" in kinds:
        grade = "D"
    elif "yellow" in kinds and grade in ("A", "B"):
        grade = "C"
    return CreditResult(grade, score)
