"""Backtests and new rule versions (pure): tallies, running a version as if in force, refusing
parameters a rule cannot read."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, date, datetime
from decimal import Decimal

import pydantic
import pytest

from services.supervision.schemas import RuleVersionCreate
from services.supervision.service import (
    LIBRARY,
    DraftLine,
    Finding,
    History,
    RuleVersion,
    check_rule_version,
    draft_claim,
    run_as_if_in_force,
    tally_backtest,
)


def finding(amount: str) -> Finding:
    return Finding("QTY-MAX-LINE", 1, "warn", 1, Decimal(amount), "x")


def rule(rule_id: str) -> RuleVersion:
    return next(r for r in LIBRARY if r.rule_id == rule_id)


def test_a_tally_counts_claims_findings_amounts_and_ranks_institutions() -> None:
    tally = tally_backtest(
        [
            ("H1/a", finding("10.00")),
            ("H1/a", finding("5.00")),
            ("H2/b", finding("40.00")),
            ("H3/c", finding("1.00")),
        ],
        top=2,
    )
    assert tally.claims_hit == 3
    assert tally.findings == 4
    assert tally.amount_at_stake == Decimal("56.00")
    assert tally.top_institutions == (("H2", 1, Decimal("40.00")), ("H1", 2, Decimal("15.00")))
    assert tally_backtest([]).claims_hit == 0


def test_a_version_runs_as_if_in_force_whatever_its_dates_and_stages() -> None:
    claim = draft_claim(
        person_no="P00000000001",
        practitioner_code="D1",
        institution_code="H1",
        visit_type="outpatient",
        admitted_on=date(2026, 3, 1),
        discharged_on=date(2026, 3, 1),
        diagnoses=[],
        lines=[DraftLine("XA01AAA001", 45, Decimal("10.00"))],
        institution_level=None,
        institution_type=None,
        region_code=None,
        scheme=None,
        now=datetime(2026, 3, 1, tzinfo=UTC),
    )
    later = replace(
        rule("QTY-MAX-LINE"),
        version=2,
        effective_from=date(2027, 1, 1),
        stages=frozenset({"pre"}),
        parameters={"max_quantity": 40},
    )
    (hit,) = run_as_if_in_force(later, claim, History())
    assert (hit.rule_version, hit.amount_at_stake) == (2, Decimal("50.00"))


@pytest.mark.parametrize(
    ("rule_id", "parameters"),
    [
        ("QTY-MAX-LINE", {"max_quantity": "many"}),
        ("DOCTOR-SHOPPING", {"window_days": "ninety"}),
        ("PEER-OUTLIER", {"z_threshold": "high"}),
    ],
)
def test_parameters_a_rule_cannot_read_are_refused(rule_id: str, parameters: dict[str, object]) -> None:
    with pytest.raises(ValueError, match=rule_id):
        check_rule_version(replace(rule(rule_id), version=2, parameters=parameters))


def test_every_library_rule_passes_its_own_check() -> None:
    for each in LIBRARY:
        check_rule_version(each)


@pytest.mark.parametrize(
    "body",
    [
        {"parameters": {"max_quantity": "3\x00"}},
        {"parameters": {"max\x00quantity": 3}},
        {"scope": {"regions": ["35\x00"]}},
    ],
)
def test_a_nul_character_never_reaches_the_jsonb_columns(body: dict[str, object]) -> None:
    with pytest.raises(pydantic.ValidationError, match="NUL"):
        RuleVersionCreate.model_validate({**body, "effective_from": "2027-01-01"})
