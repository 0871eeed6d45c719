"""Statistics (pure): per-source counts merged into one row per region and month."""

from __future__ import annotations

from decimal import Decimal

from services.supervision.service import merge_statistics


def test_sources_merge_by_region_and_month_with_zeros_where_missing() -> None:
    cases = [
        {
            "region_code": "350582",
            "month": "2026-11",
            "institutions_inspected": 2,
            "cases_concluded": 3,
            "letters": 2,
            "yellow_cards": 0,
            "red_cards": 1,
            "amount_recovered": Decimal("150.00"),
        }
    ]
    flags = [
        {"region_code": "350582", "month": "2026-11", "flags": 7, "amount_refused": Decimal("80.50")},
        {"region_code": "350503", "month": "2026-10", "flags": 1, "amount_refused": 0},
    ]
    merged = merge_statistics(cases, flags)
    assert [(row["month"], row["region_code"]) for row in merged] == [("2026-10", "350503"), ("2026-11", "350582")]
    october, november = merged
    assert october["letters"] == 0
    assert october["flags"] == 1
    assert october["amount_recovered"] == Decimal("0.00")
    assert november["institutions_inspected"] == 2
    assert november["red_cards"] == 1
    assert november["flags"] == 7
    assert november["amount_recovered"] == Decimal("150.00")
    assert november["amount_refused"] == Decimal("80.50")
    assert merge_statistics([], []) == []


def test_penalties_and_collections_merge_beside_the_decided_amounts() -> None:
    cases = [{"region_code": "350582", "month": "2026-11", "cases_concluded": 1, "penalties": Decimal("500.00")}]
    collected = [
        {"region_code": "350582", "month": "2026-11", "amount_collected": Decimal("4.00")},
        {"region_code": "350582", "month": "2026-12", "amount_collected": Decimal("6.00")},
    ]
    november, december = merge_statistics(cases, [], collected)
    assert (november["penalties"], november["amount_collected"]) == (Decimal("500.00"), Decimal("4.00"))
    assert (december["penalties"], december["amount_collected"], december["cases_concluded"]) == (
        Decimal("0.00"),
        Decimal("6.00"),
        0,
    )
