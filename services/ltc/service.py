"""LTC rules: pure functions, no I/O."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date


@dataclass(frozen=True)
class Cover:
    scheme: str
    covered_from: date
    covered_to: date
    suspended_from: date | None = None  # enrollment.suspended (欠费), not lifted by a later activation
    terminated_on: date | None = None  # enrollment.terminated: covered up to and including this day

    def covers(self, on: date) -> bool:
        if not self.covered_from <= on <= self.covered_to:
            return False
        if self.suspended_from is not None and on >= self.suspended_from:
            return False
        return self.terminated_on is None or on <= self.terminated_on


def age_on(birth_date: date, on: date) -> int:
    """Whole years of age on a date (assessment rules and quotas depend on it)."""
    return on.year - birth_date.year - ((on.month, on.day) < (birth_date.month, birth_date.day))


def current_cover(covers: list[Cover], on: date, died_on: date | None = None) -> Cover | None:
    """Jinjiang's LTC pilot covers everyone in a basic scheme (全民一体化) while that cover lasts (not
    suspended, not terminated). LTC is
    care for the living: once a death is recorded (died_on by `on`) nobody is LTC-insured, whatever cover
    enrollment's earlier events announced."""
    if died_on is not None and died_on <= on:
        return None
    for cover in sorted(covers, key=lambda c: c.covered_from, reverse=True):
        if cover.covers(on):
            return cover
    return None
