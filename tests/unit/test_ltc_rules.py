"""LTC rules: age on a date, and the cover in force."""

from __future__ import annotations

from datetime import date, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from services.ltc.service import Cover, age_on, current_cover


@pytest.mark.parametrize(
    ("birth", "on", "age"),
    [
        (date(1950, 6, 15), date(2025, 6, 14), 74),
        (date(1950, 6, 15), date(2025, 6, 15), 75),
        (date(1950, 6, 15), date(2025, 6, 16), 75),
        (date(1950, 12, 31), date(2025, 1, 1), 74),
        (date(2025, 3, 1), date(2025, 3, 1), 0),
        (date(2024, 3, 1), date(2025, 2, 28), 0),
        # 29 February births: a year older on 1 March in common years, on 29 February in leap years.
        (date(2000, 2, 29), date(2001, 2, 28), 0),
        (date(2000, 2, 29), date(2001, 3, 1), 1),
        (date(2000, 2, 29), date(2004, 2, 28), 3),
        (date(2000, 2, 29), date(2004, 2, 29), 4),
        (date(2000, 2, 29), date(2100, 2, 28), 99),
        (date(2000, 2, 29), date(2100, 3, 1), 100),
    ],
)
def test_age_on(birth: date, on: date, age: int) -> None:
    assert age_on(birth, on) == age


@settings(max_examples=150, deadline=None)
@given(st.dates(min_value=date(1900, 1, 1), max_value=date(2100, 12, 31)), st.integers(min_value=0, max_value=40000))
def test_age_never_decreases_and_grows_by_one_a_year(birth: date, days: int) -> None:
    on = birth + timedelta(days=days)
    age = age_on(birth, on)
    assert 0 <= age <= days // 365
    assert age_on(birth, on + timedelta(days=1)) in (age, age + 1)
    assert age_on(birth, on + timedelta(days=366)) in (age + 1, age + 2)


COVERS = [
    Cover("resident", date(2024, 1, 1), date(2024, 12, 31)),
    Cover("employee", date(2025, 1, 1), date(2025, 12, 31)),
]


@pytest.mark.parametrize(
    ("on", "scheme"),
    [
        (date(2024, 1, 1), "resident"),
        (date(2024, 12, 31), "resident"),
        (date(2025, 1, 1), "employee"),
        (date(2025, 12, 31), "employee"),
    ],
)
def test_current_cover(on: date, scheme: str) -> None:
    cover = current_cover(COVERS, on)
    assert cover is not None
    assert cover.scheme == scheme


@pytest.mark.parametrize("on", [date(2023, 12, 31), date(2026, 1, 1)])
def test_no_cover_outside(on: date) -> None:
    assert current_cover(COVERS, on) is None
    assert current_cover([], on) is None


def test_overlapping_covers_prefer_the_latest_start() -> None:
    older = Cover("resident", date(2025, 1, 1), date(2025, 12, 31))
    newer = Cover("employee", date(2025, 7, 1), date(2025, 12, 31))
    assert current_cover([older, newer], date(2025, 8, 1)) is newer
    assert current_cover([newer, older], date(2025, 8, 1)) is newer
    assert current_cover([newer, older], date(2025, 6, 30)) is older


def test_nobody_is_ltc_insured_from_the_day_of_their_death() -> None:
    year = Cover("resident", date(2026, 1, 1), date(2026, 12, 31))
    on = date(2026, 11, 24)
    assert current_cover([year], on, died_on=None) == year
    assert current_cover([year], on, died_on=on + timedelta(days=1)) == year  # a death dated later: not yet
    assert current_cover([year], on, died_on=on) is None
    assert current_cover([year], on, died_on=date(2026, 3, 1)) is None


def test_a_suspension_or_a_termination_ends_ltc_cover_from_its_day() -> None:
    on = date(2026, 11, 24)
    suspended = Cover("resident", date(2026, 1, 1), date(2026, 12, 31), suspended_from=on)
    assert current_cover([suspended], on) is None
    assert current_cover([suspended], on - timedelta(days=1)) == suspended
    terminated = Cover("resident", date(2026, 1, 1), date(2026, 12, 31), terminated_on=on - timedelta(days=1))
    assert current_cover([terminated], on) is None
    assert current_cover([terminated], on - timedelta(days=1)) == terminated
    # Terminated before its cover began: no covered day, though the cover's dates still hold one.
    never = Cover("resident", date(2027, 1, 1), date(2027, 1, 1), terminated_on=on)
    assert current_cover([never], date(2027, 1, 1)) is None
