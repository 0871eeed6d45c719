"""家庭共济 family mutual aid: who may be bound to an employee's personal account. Pure, no I/O."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from enum import StrEnum


class Relation(StrEnum):
    SPOUSE = "spouse"  # 配偶
    PARENT = "parent"  # 父母
    CHILD = "child"  # 子女


MAX_BOUND_RELATIVES = 6  # parameter: a bureau may set another ceiling
MIN_GENERATION_GAP_YEARS = 12  # a parent must be plausibly older than the child


@dataclass(frozen=True)
class Party:
    person_no: str
    birth_date: date
    alive: bool
    active_schemes: frozenset[str]  # schemes with an active enrollment today


class BindingRefused(ValueError):
    def __init__(self, message: str, *, kind: str, conflict: bool = False) -> None:
        super().__init__(message)
        self.kind = kind
        self.conflict = conflict  # a 409 (state of the world) rather than a 422 (bad request)


def check_binding(
    *,
    holder: Party,
    relative: Party,
    relation: Relation,
    bound_relatives: dict[str, Relation],
    max_bound: int = MAX_BOUND_RELATIVES,
) -> None:
    """Raise BindingRefused unless the employee may bind this relative."""
    if holder.person_no == relative.person_no:
        raise BindingRefused("a person cannot bind themselves", kind="self-binding")
    if not holder.alive or not relative.alive:
        raise BindingRefused("both persons must be alive", kind="person-deceased", conflict=True)
    if "employee" not in holder.active_schemes:
        raise BindingRefused(
            "only a person with an active employee enrollment (职工医保) has a personal account to share",
            kind="holder-not-employee",
            conflict=True,
        )
    if not relative.active_schemes:
        raise BindingRefused(
            "the relative must hold an active basic enrollment", kind="relative-not-insured", conflict=True
        )
    if relative.person_no in bound_relatives:
        raise BindingRefused("this relative is already bound", kind="already-bound", conflict=True)
    if len(bound_relatives) >= max_bound:
        raise BindingRefused(f"at most {max_bound} relatives may be bound", kind="too-many-relatives", conflict=True)
    if relation is Relation.SPOUSE and Relation.SPOUSE in bound_relatives.values():
        raise BindingRefused("a spouse is already bound", kind="spouse-already-bound", conflict=True)
    gap = _years_between(relative.birth_date, holder.birth_date)
    if relation is Relation.PARENT and gap < MIN_GENERATION_GAP_YEARS:
        raise BindingRefused("a parent is born well before the employee", kind="implausible-relation")
    if relation is Relation.CHILD and -gap < MIN_GENERATION_GAP_YEARS:
        raise BindingRefused("a child is born well after the employee", kind="implausible-relation")


def _years_between(earlier: date, later: date) -> int:
    """Whole years from `earlier` to `later` (negative when `earlier` is in fact later)."""
    if earlier > later:
        return -_years_between(later, earlier)
    years = later.year - earlier.year
    if (later.month, later.day) < (earlier.month, earlier.day):
        years -= 1
    return years
