"""POST /settlements stores and sends SettlementOut.model_dump_json(): the same text as the compact
json.dumps of its JSON-mode dump (idempotency.answer), which it replaced on the hot path."""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal
from uuid import UUID

import pytest

from services.settlement.schemas import ExplanationStep, SettlementOut
from shared import idempotency
from shared.events.contracts import ClaimLine, SettlementBreakdown

_AMOUNTS = ("1015.00", "0.00", "12.34", "5.67", "997.00", "600.10", "0.00", "0.00", "30.00", "0.00", "367.23", "630.10")


def _out(detail: str, payer: str | None, settled_at: datetime) -> SettlementOut:
    breakdown = SettlementBreakdown(
        **{name: Decimal(value) for name, value in zip(SettlementBreakdown.model_fields, _AMOUNTS, strict=True)}
    )
    return SettlementOut(
        settlement_id=UUID("019a0000-0000-7000-8000-000000000001"),
        institution_code="H35058200001",
        person_no="P90000000001",
        scheme="resident",
        visit_type="inpatient",
        admitted_on=date(2026, 11, 1),
        discharged_on=date(2026, 11, 24),
        practitioner_code="D350582001",
        diagnoses=["J18.9", "E11.9"],
        lines=[
            ClaimLine(line_no=1, item_code="XJ01CA0010201", quantity=2, unit_price="12.50", amount="25.00"),
            ClaimLine(
                line_no=2,
                item_code="XR05CB0690402",
                quantity=1,
                unit_price=Decimal("980.00"),
                amount=Decimal("980.00"),
                traceability_codes=["81234567890123456789"],
            ),
        ],
        breakdown=breakdown,
        policy_version="350500-resident-2026-v1",
        explanation=[
            ExplanationStep(rule="deductible", amount=Decimal("600.10"), policy_version="v1", detail=detail),
            ExplanationStep(rule="cap", amount=Decimal("-1.05"), policy_version="v1", detail='quote " and \\ slash /'),
        ],
        status="settled",
        settled_at=settled_at,
        family_account_payer_person_no=payer,
        post_audit_required=payer is None,
    )


@pytest.mark.parametrize(
    ("detail", "payer", "settled_at"),
    [
        ("起付线 600 元（三级医院）", None, datetime(2026, 11, 24, 3, 4, 5, 678901, tzinfo=UTC)),
        ("tab\tnewline\ncontrol\x01 line sep\u2028 emoji 🏥", "P90000000002", datetime(2026, 1, 1, tzinfo=UTC)),
    ],
)
def test_the_answer_text_is_the_compact_json_of_its_dump(detail: str, payer: str | None, settled_at: datetime) -> None:
    out = _out(detail, payer, settled_at)
    assert out.model_dump_json() == idempotency.answer(201, out.model_dump(mode="json")).body
