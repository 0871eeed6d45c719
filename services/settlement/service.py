"""Settlement rules: pure functions, no I/O.

Walking skeleton: every line is in the policy scope and the basic fund pays a flat ratio per
scheme and visit type. The catalogue, deductible, caps, critical-illness and assistance tiers
(the three-tier calculation) replace `skeleton_ratio` in the settlement issue.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from decimal import Decimal

from shared.events.contracts import ClaimLine, SettlementBreakdown
from shared.money import to_fen

ZERO = Decimal("0.00")

# Demo reimbursement ratios (报销比例) near Quanzhou's observed inpatient figures.
SKELETON_RATIOS: dict[tuple[str, str], Decimal] = {
    ("employee", "inpatient"): Decimal("0.88"),
    ("resident", "inpatient"): Decimal("0.70"),
    ("employee", "outpatient"): Decimal("0.60"),
    ("resident", "outpatient"): Decimal("0.50"),
}


@dataclass(frozen=True)
class LineInput:
    item_code: str
    quantity: int
    unit_price: Decimal
    traceability_codes: tuple[str, ...] = ()


@dataclass(frozen=True)
class Coverage:
    scheme: str
    effective_from: date
    effective_to: date


def covering(coverages: list[Coverage], on: date) -> Coverage | None:
    """The enrollment that covers the date of service, if any."""
    for coverage in coverages:
        if coverage.effective_from <= on <= coverage.effective_to:
            return coverage
    return None


def price_lines(lines: list[LineInput]) -> list[ClaimLine]:
    return [
        ClaimLine(
            line_no=i,
            item_code=line.item_code,
            quantity=line.quantity,
            unit_price=line.unit_price,
            amount=to_fen(line.unit_price * line.quantity),
            traceability_codes=list(line.traceability_codes),
        )
        for i, line in enumerate(lines, start=1)
    ]


def skeleton_breakdown(priced: list[ClaimLine], *, ratio: Decimal) -> SettlementBreakdown:
    """Total, fund share at a flat ratio, and the rest in cash; the parts sum to the total."""
    total = sum((line.amount for line in priced), ZERO)
    fund = to_fen(total * ratio)
    return SettlementBreakdown(
        medfee_sumamt=total,
        fulamt_ownpay_amt=ZERO,
        overlmt_selfpay=ZERO,
        preselfpay_amt=ZERO,
        inscp_scp_amt=total,
        hifp_pay=fund,
        hifmi_pay=ZERO,
        hifob_pay=ZERO,
        maf_pay=ZERO,
        acct_pay=ZERO,
        psn_cash_pay=total - fund,
        fund_pay_sumamt=fund,
    )
