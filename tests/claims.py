"""Builders of settled claims shared by the tests (supervision's above all): the zero breakdown
and a one-line outpatient claim, so each test file does not write out twelve money fields."""

from __future__ import annotations

import random
import uuid
from datetime import UTC, date, datetime
from decimal import Decimal

from shared.events.contracts import ClaimLine, ClaimSettled, SettlementBreakdown

ZERO = Decimal("0.00")
# Nothing paid by anyone: what supervision's rules never read, but every claim must carry.
ZERO_BREAKDOWN = SettlementBreakdown(**dict.fromkeys(SettlementBreakdown.model_fields, ZERO))


def paid_by_person(total: Decimal) -> SettlementBreakdown:
    """A breakdown of `total`, all within the catalogue and all paid by the person (no fund share)."""
    return ZERO_BREAKDOWN.model_copy(update={"medfee_sumamt": total, "inscp_scp_amt": total, "psn_cash_pay": total})


def one_line_claim(
    institution: str,
    cost: str,
    on: date,
    *,
    diagnosis: str,
    level: int,
    item_code: str = "Y00000042",
    settled_hour_utc: int = 3,
) -> ClaimSettled:
    """An outpatient visit of a random person on `on`, one line costing `cost`, settled that day at
    `settled_hour_utc` (17 or later is the next day in Asia/Shanghai, the business date)."""
    amount = Decimal(cost)
    return ClaimSettled(
        settlement_id=uuid.uuid4(),
        person_no=f"P{random.randrange(10**11):011d}",
        institution_code=institution,
        practitioner_code=f"D{institution}",
        visit_type="outpatient",
        admitted_on=on,
        discharged_on=on,
        diagnoses=[diagnosis],
        lines=[ClaimLine(line_no=1, item_code=item_code, quantity=1, unit_price=amount, amount=amount)],
        breakdown=ZERO_BREAKDOWN,
        settled_at=datetime(on.year, on.month, on.day, settled_hour_utc, tzinfo=UTC),
        institution_level=level,
        institution_type="hospital",
        region_code="350582",
    )
