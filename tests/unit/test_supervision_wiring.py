"""The pure pieces that wire the rule library to storage: the migration's seeded rule versions
equal the code's LIBRARY, rows become RuleVersions, the history window, the precheck draft."""

from __future__ import annotations

import importlib.util
import inspect
from dataclasses import replace
from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path
from types import ModuleType

import pytest

from services.supervision.sanctions import DEFAULT_POINTS
from services.supervision.service import (
    DEFAULT_LOOKBACK_DAYS,
    DRUG_PURCHASE_RULES,
    LIBRARY,
    PRIOR_CLAIM_RULES,
    RULE_FUNCTIONS,
    DraftLine,
    History,
    ItemRestriction,
    RuleScope,
    draft_claim,
    drug_groups,
    evaluate,
    projection_lookback_days,
    rule_version_from_row,
)
from shared.business_time import business_date

MIGRATION = (
    Path(__file__).parents[2] / "services" / "supervision" / "migrations" / "versions" / "0002_history_rules_points.py"
)


def load_migration() -> ModuleType:
    spec = importlib.util.spec_from_file_location("supervision_0002", MIGRATION)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_seeded_rule_versions_are_the_library() -> None:
    seed = load_migration().RULE_SEED
    seeded = [
        rule_version_from_row(
            rule_id=rule_id,
            version=1,
            family=family,
            stages=stages,
            severity=severity,
            parameters=parameters,
            scope={},
            window_days=window,
            effective_from=date(2025, 1, 1),
            effective_to=None,
        )
        for rule_id, family, stages, severity, parameters, window in seed
    ]
    assert sorted(seeded, key=lambda r: r.rule_id) == sorted(LIBRARY, key=lambda r: r.rule_id)


def test_the_seeded_points_table_is_the_default() -> None:
    seed = load_migration().POINTS_SEED
    assert {(family, severity): points for family, severity, points in seed} == dict(DEFAULT_POINTS)


def test_a_stored_scope_becomes_a_rule_scope() -> None:
    rule = rule_version_from_row(
        rule_id="PRICE-LIMIT",
        version=2,
        family="policy",
        stages=["pre", "post"],
        severity="warn",
        parameters={},
        scope={"regions": ["350582"], "institution_levels": [2, "3"], "schemes": ["resident"]},
        window_days=None,
        effective_from=date(2026, 1, 1),
        effective_to=date(2026, 12, 31),
    )
    assert rule.scope == RuleScope(
        regions=frozenset({"350582"}), schemes=frozenset({"resident"}), institution_levels=frozenset({2, 3})
    )
    assert rule.stages == frozenset({"pre", "post"})


@pytest.mark.parametrize(("stages", "severity"), [(["pre", "later"], "warn"), (["pre"], "fatal")])
def test_a_malformed_stored_rule_is_refused(stages: list[str], severity: str) -> None:
    with pytest.raises(ValueError, match="unknown"):
        rule_version_from_row(
            rule_id="PRICE-LIMIT",
            version=2,
            family="policy",
            stages=stages,
            severity=severity,
            parameters={},
            scope={},
            window_days=None,
            effective_from=date(2026, 1, 1),
            effective_to=None,
        )


def test_each_projection_is_read_as_far_back_as_its_own_readers_look() -> None:
    claims, purchases = PRIOR_CLAIM_RULES, DRUG_PURCHASE_RULES
    # The seeded library (version 1 of every rule): PHANTOM-BED's year for claims, DOCTOR-SHOPPING's 90 days.
    assert projection_lookback_days(LIBRARY, claims) == 366
    assert projection_lookback_days(LIBRARY, purchases) == 90
    # With migration 0008's version 2 of PHANTOM-BED (one day): SPLIT-ADMISSION's 15 days, not 90.
    narrowed = [replace(r, version=2, window_days=1) if r.rule_id == "PHANTOM-BED" else r for r in LIBRARY]
    assert projection_lookback_days(narrowed, claims) == 15
    in_stage = [r for r in narrowed if "in" in r.stages]
    assert projection_lookback_days(in_stage, claims) == 1  # duplicate charges, unbundling, phantom beds
    assert projection_lookback_days(in_stage, purchases) == 90
    # No reader among the rules: only what overlaps the claim. A reader that says no window: a year.
    assert projection_lookback_days([r for r in LIBRARY if r.rule_id == "QTY-MAX-LINE"], claims) == 0
    unbounded = [replace(r, window_days=None) for r in LIBRARY if r.rule_id == "DUP-CHARGE"]
    assert projection_lookback_days(unbounded, claims) == DEFAULT_LOOKBACK_DAYS


def test_business_date_is_shanghai() -> None:
    assert business_date(datetime(2026, 11, 23, 17, 0, tzinfo=UTC)) == date(2026, 11, 24)
    assert business_date(datetime(2026, 11, 23, 15, 59, tzinfo=UTC)) == date(2026, 11, 23)


def test_a_draft_order_is_judged_by_the_pre_stage_rules() -> None:
    draft = draft_claim(
        person_no="P00000000001",
        practitioner_code="D1",
        institution_code="H1",
        visit_type="outpatient",
        admitted_on=date(2026, 11, 23),
        discharged_on=date(2026, 11, 23),
        diagnoses=["J18.9"],
        lines=[
            DraftLine("XA01AAA001", 45, Decimal("12.50")),
            DraftLine("XN02BE0010301", 2, Decimal("3.50"), ("T1",)),
        ],
        institution_level=1,
        institution_type=None,
        region_code=None,
        scheme=None,
        now=datetime(2026, 11, 23, 2, 0, tzinfo=UTC),
    )
    assert [line.amount for line in draft.lines] == [Decimal("562.50"), Decimal("7.00")]
    assert draft.breakdown.medfee_sumamt == Decimal("0.00")
    catalogue = (ItemRestriction("XN02BE0010301", limit_price=Decimal("3.20"), drug_group="N02BE"),)
    assert drug_groups(draft, catalogue) == {"N02BE"}
    findings = evaluate(draft, History(catalogue=catalogue), LIBRARY, "pre", date(2026, 11, 23))
    assert sorted((f.rule_id, f.line_no, f.amount_at_stake) for f in findings) == [
        ("PRICE-LIMIT", 2, Decimal("0.60")),
        ("QTY-MAX-LINE", 1, Decimal("187.50")),
    ]


def test_the_reader_sets_name_every_rule_that_reads_claims_or_drug_purchases() -> None:
    # A rule missing from its reader set would see only as far back as the others happen to read.
    def readers(*attributes: str) -> set[str]:
        return {
            rule_id
            for rule_id, function in RULE_FUNCTIONS.items()
            if any(f"history.{attribute}" in inspect.getsource(function) for attribute in attributes)
        }

    assert readers("others(", "prior_claims") == PRIOR_CLAIM_RULES
    assert readers("drug_purchases") == DRUG_PURCHASE_RULES
