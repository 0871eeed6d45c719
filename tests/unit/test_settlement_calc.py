"""Settlement arithmetic: priced lines and the skeleton breakdown always add up to the fen."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from services.settlement.service import (
    SKELETON_RATIOS,
    Coverage,
    LineInput,
    covering,
    price_lines,
    skeleton_breakdown,
)
from shared.events.contracts import SettlementBreakdown

AMOUNT_FIELDS = tuple(SettlementBreakdown.model_fields)

line_inputs = st.builds(
    LineInput,
    item_code=st.sampled_from(["XA01", "XB02", "ZC03"]),
    quantity=st.integers(min_value=1, max_value=1000),
    unit_price=st.decimals(min_value=Decimal("0.00"), max_value=Decimal("99999.99"), places=2),
    traceability_codes=st.just(()),
)


@settings(max_examples=150, deadline=None)
@given(st.lists(line_inputs, max_size=12), st.sampled_from(sorted(SKELETON_RATIOS.values())))
def test_breakdown_adds_up(lines: list[LineInput], ratio: Decimal) -> None:
    priced = price_lines(lines)
    b = skeleton_breakdown(priced, ratio=ratio)
    amounts = {name: getattr(b, name) for name in AMOUNT_FIELDS}
    for name, amount in amounts.items():
        assert amount >= 0, name
        assert amount.as_tuple().exponent == -2, (name, amount)
    assert b.medfee_sumamt == sum((line.unit_price * line.quantity for line in lines), Decimal("0"))
    assert b.fund_pay_sumamt + b.acct_pay + b.psn_cash_pay == b.medfee_sumamt
    assert b.medfee_sumamt == b.fulamt_ownpay_amt + b.overlmt_selfpay + b.preselfpay_amt + b.inscp_scp_amt
    assert b.fund_pay_sumamt == b.hifp_pay + b.hifmi_pay + b.hifob_pay + b.maf_pay
    assert b.hifp_pay <= b.inscp_scp_amt
    # The fund share is the ratio of the policy-scope amount, to the fen.
    assert abs(b.hifp_pay - b.inscp_scp_amt * ratio) <= Decimal("0.005")
    # It survives the JSON trip of the claim.settled event unchanged.
    assert SettlementBreakdown.model_validate_json(b.model_dump_json()) == b


@settings(max_examples=100, deadline=None)
@given(st.lists(line_inputs, max_size=8))
def test_priced_lines_are_numbered_and_amounted(lines: list[LineInput]) -> None:
    priced = price_lines(lines)
    assert [p.line_no for p in priced] == list(range(1, len(lines) + 1))
    for line, p in zip(lines, priced, strict=True):
        assert p.item_code == line.item_code
        assert p.quantity == line.quantity
        assert p.unit_price == line.unit_price
        assert p.amount == line.unit_price * line.quantity
        assert p.amount.as_tuple().exponent == -2


def test_hand_worked_resident_inpatient_claim() -> None:
    ratio = SKELETON_RATIOS[("resident", "inpatient")]
    assert ratio == Decimal("0.70")
    priced = price_lines(
        [
            LineInput(item_code="XA01", quantity=3, unit_price=Decimal("12.50"), traceability_codes=("T1", "T2")),
            LineInput(item_code="XB02", quantity=1, unit_price=Decimal("36.80")),
        ]
    )
    assert [(p.line_no, p.amount) for p in priced] == [(1, Decimal("37.50")), (2, Decimal("36.80"))]
    assert priced[0].traceability_codes == ["T1", "T2"]
    b = skeleton_breakdown(priced, ratio=ratio)
    # 37.50 + 36.80 = 74.30; 74.30 x 0.70 = 52.01; 74.30 - 52.01 = 22.29
    assert b.medfee_sumamt == Decimal("74.30")
    assert b.inscp_scp_amt == Decimal("74.30")
    assert b.hifp_pay == Decimal("52.01")
    assert b.fund_pay_sumamt == Decimal("52.01")
    assert b.psn_cash_pay == Decimal("22.29")
    assert b.model_dump(mode="json")["psn_cash_pay"] == "22.29"


def test_fund_share_rounds_half_up() -> None:
    # 0.25 x 0.50 = 0.125 -> 0.13 in the fund, 0.12 in cash.
    b = skeleton_breakdown(price_lines([LineInput("A", 1, Decimal("0.25"))]), ratio=Decimal("0.50"))
    assert (b.hifp_pay, b.psn_cash_pay) == (Decimal("0.13"), Decimal("0.12"))


def test_empty_claim_is_all_zero() -> None:
    b = skeleton_breakdown([], ratio=Decimal("0.88"))
    assert all(getattr(b, name) == 0 for name in AMOUNT_FIELDS)
    assert b.model_dump(mode="json")["medfee_sumamt"] == "0.00"


def test_ratios_cover_both_schemes_and_visit_types() -> None:
    assert set(SKELETON_RATIOS) == {
        (scheme, visit) for scheme in ("employee", "resident") for visit in ("outpatient", "inpatient")
    }
    assert all(Decimal(0) < r <= Decimal(1) for r in SKELETON_RATIOS.values())


COVERAGES = [
    Coverage("resident", date(2024, 1, 1), date(2024, 12, 31)),
    Coverage("employee", date(2025, 1, 1), date(2025, 12, 31)),
]


@pytest.mark.parametrize(
    ("on", "scheme"),
    [
        (date(2024, 1, 1), "resident"),
        (date(2024, 7, 1), "resident"),
        (date(2024, 12, 31), "resident"),
        (date(2025, 1, 1), "employee"),
        (date(2025, 12, 31), "employee"),
    ],
)
def test_covering_picks_the_enrollment_covering_the_date(on: date, scheme: str) -> None:
    found = covering(COVERAGES, on)
    assert found is not None
    assert found.scheme == scheme


@pytest.mark.parametrize("on", [date(2023, 12, 31), date(2026, 1, 1)])
def test_covering_outside_every_enrollment_is_none(on: date) -> None:
    assert covering(COVERAGES, on) is None


def test_covering_with_no_enrollment_is_none() -> None:
    assert covering([], date(2025, 1, 1)) is None
