"""The precheck bench's pure parts: its history claims and draft orders are what supervision accepts."""

import random
from datetime import date

from bench.precheck import draft_order, history_claim
from services.supervision.schemas import PrecheckIn


def test_history_claims_are_valid_claims_of_the_last_120_days() -> None:
    rng = random.Random(1)
    today = date(2026, 11, 23)
    claims = [history_claim(rng, "P80000000001", today) for _ in range(200)]
    assert all(0 < (today - c.admitted_on).days < 120 and c.discharged_on >= c.admitted_on for c in claims)
    assert {c.visit_type for c in claims} == {"inpatient", "outpatient"}
    assert any(line.traceability_codes for c in claims for line in c.lines)
    for c in claims:
        assert c.breakdown.medfee_sumamt == sum(line.amount for line in c.lines)


def test_draft_orders_validate_as_precheck_requests() -> None:
    rng = random.Random(2)
    order = PrecheckIn.model_validate(draft_order(rng, "P80000000001", date(2026, 11, 23)))
    assert len(order.lines) == 3
    assert len({line.item_code for line in order.lines}) == 3
