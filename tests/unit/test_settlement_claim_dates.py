"""A claim for care not yet given: its dates after today's business date are refused by name."""

from __future__ import annotations

from datetime import date, timedelta

from hypothesis import given
from hypothesis import strategies as st

from services.settlement.service import dates_in_future

TODAY = date(2026, 11, 24)
TOMORROW = TODAY + timedelta(days=1)


def test_care_given_by_today_has_no_date_in_the_future() -> None:
    assert dates_in_future(TODAY, TODAY, TODAY) == []
    assert dates_in_future(date(2026, 11, 1), TODAY, TODAY) == []


def test_each_date_after_today_is_named() -> None:
    assert dates_in_future(TODAY, TOMORROW, TODAY) == ["discharged_on"]
    assert dates_in_future(TOMORROW, TOMORROW, TODAY) == ["admitted_on", "discharged_on"]


@given(st.dates(date(1950, 1, 1), date(2199, 12, 31)), st.integers(0, 400))
def test_a_date_is_named_exactly_when_it_is_after_today(admitted_on: date, days: int) -> None:
    discharged_on = min(admitted_on + timedelta(days=days), date(2199, 12, 31))
    named = dates_in_future(admitted_on, discharged_on, TODAY)
    assert ("admitted_on" in named) == (admitted_on > TODAY)
    assert ("discharged_on" in named) == (discharged_on > TODAY)
