"""Audit rules: the quantity limit flags only lines above the maximum, with the excess at stake."""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal
from uuid import uuid4

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from services.supervision.service import DEFAULT_RULES, QuantityLimitRule, audit_claim
from shared.events.contracts import ClaimLine, ClaimSettled, SettlementBreakdown

ZERO = Decimal("0.00")


def claim(*lines: tuple[int, str]) -> ClaimSettled:
    """A settled claim with one line per (quantity, unit price)."""
    claim_lines = [
        ClaimLine(
            line_no=i,
            item_code=f"ITEM{i}",
            quantity=quantity,
            unit_price=Decimal(price),
            amount=Decimal(price) * quantity,
        )
        for i, (quantity, price) in enumerate(lines, start=1)
    ]
    total = sum((line.amount for line in claim_lines), ZERO)
    return ClaimSettled(
        settlement_id=uuid4(),
        person_no="P00000000001",
        institution_code="H1",
        practitioner_code="D1",
        visit_type="inpatient",
        admitted_on=date(2025, 1, 1),
        discharged_on=date(2025, 1, 3),
        diagnoses=["I10"],
        lines=claim_lines,
        breakdown=SettlementBreakdown(
            medfee_sumamt=total,
            fulamt_ownpay_amt=ZERO,
            overlmt_selfpay=ZERO,
            preselfpay_amt=ZERO,
            inscp_scp_amt=total,
            hifp_pay=ZERO,
            hifmi_pay=ZERO,
            hifob_pay=ZERO,
            maf_pay=ZERO,
            acct_pay=ZERO,
            psn_cash_pay=total,
            fund_pay_sumamt=ZERO,
        ),
        settled_at=datetime(2025, 1, 3, tzinfo=UTC),
    )


def test_clean_claim_has_no_findings() -> None:
    assert audit_claim(claim((1, "10.00"), (30, "2.50"), (5, "99.99"))) == []


def test_claim_without_lines_has_no_findings() -> None:
    assert audit_claim(claim()) == []


def test_only_lines_above_the_maximum_are_flagged() -> None:
    findings = audit_claim(claim((30, "9.99"), (31, "12.35"), (2, "1.00"), (45, "3.33")))
    assert [f.line_no for f in findings] == [2, 4]
    first, second = findings
    assert first.amount_at_stake == Decimal("12.35")  # 1 unit over
    assert second.amount_at_stake == Decimal("49.95")  # 15 units x 3.33
    for finding in findings:
        assert finding.rule_id == "QTY-MAX-LINE"
        assert finding.rule_version == 1
        assert finding.severity == "warn"
        assert finding.amount_at_stake.as_tuple().exponent == -2
    assert "45" in second.message
    assert "ITEM4" in second.message


def test_custom_maximum() -> None:
    rule = QuantityLimitRule(max_quantity=5)
    findings = rule.check(claim((5, "1.00"), (6, "0.10"), (8, "7.77")))
    assert [(f.line_no, f.amount_at_stake) for f in findings] == [(2, Decimal("0.10")), (3, Decimal("23.31"))]


def test_amount_at_stake_is_rounded_to_the_fen() -> None:
    # Amounts on the bus have two decimals, but a claim built in Python can carry more.
    line = ClaimLine.model_construct(
        line_no=1,
        item_code="X",
        quantity=33,
        unit_price=Decimal("0.125"),
        amount=Decimal("4.13"),
        traceability_codes=[],
    )
    settled = claim().model_copy(update={"lines": [line]})
    (finding,) = QuantityLimitRule().check(settled)
    assert finding.amount_at_stake == Decimal("0.38")  # 3 x 0.125 = 0.375, half-up


def test_default_rules() -> None:
    assert len(DEFAULT_RULES) == 1
    assert DEFAULT_RULES[0].max_quantity == 30


@settings(max_examples=100, deadline=None)
@given(
    st.lists(
        st.tuples(
            st.integers(min_value=1, max_value=200),
            st.decimals(min_value=Decimal("0.01"), max_value=Decimal("9999.99"), places=2).map(str),
        ),
        max_size=10,
    )
)
def test_findings_match_the_lines_above_thirty(lines: list[tuple[int, str]]) -> None:
    findings = audit_claim(claim(*lines))
    expected = [
        (i, Decimal(price) * (quantity - 30)) for i, (quantity, price) in enumerate(lines, start=1) if quantity > 30
    ]
    assert [(f.line_no, f.amount_at_stake) for f in findings] == expected


@pytest.mark.parametrize("quantity", [31, 100])
def test_one_line_over_gives_one_finding(quantity: int) -> None:
    (finding,) = audit_claim(claim((quantity, "1.00")))
    assert finding.amount_at_stake == Decimal(quantity - 30)
