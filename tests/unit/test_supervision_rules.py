"""Audit rules: the skeleton quantity limit, and the rule library (every rule, scope, stage, dates, a synthetic recall check)."""

from __future__ import annotations

import random
from dataclasses import replace
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from uuid import uuid4

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from services.supervision.service import (
    LIBRARY,
    RULE_FUNCTIONS,
    DrugPurchase,
    Finding,
    History,
    InstitutionCost,
    ItemRestriction,
    LtcService,
    PeerBaseline,
    PriorClaim,
    RuleScope,
    RuleVersion,
    SoldCode,
    Stage,
    evaluate,
    is_closed_period,
    month_of,
    next_month,
    settlement_month,
)
from shared.events.contracts import ClaimLine, ClaimSettled
from shared.money import to_fen
from tests.claims import paid_by_person

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
        breakdown=paid_by_person(total),
        settled_at=datetime(2025, 1, 3, tzinfo=UTC),
    )


def audit_claim(settled: ClaimSettled, max_quantity: int | None = None) -> list[Finding]:
    """The library's QTY-MAX-LINE rule alone, at the post stage (the rule the walking skeleton had)."""
    version = rule("QTY-MAX-LINE")
    if max_quantity is not None:
        version = replace(version, parameters={"max_quantity": max_quantity})
    return evaluate(settled, history(), [version], "post", ON)


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
    findings = audit_claim(claim((5, "1.00"), (6, "0.10"), (8, "7.77")), max_quantity=5)
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
    (finding,) = audit_claim(settled)
    assert finding.amount_at_stake == Decimal("0.38")  # 3 x 0.125 = 0.375, half-up


def test_default_maximum_is_thirty() -> None:
    assert rule("QTY-MAX-LINE").parameters == {"max_quantity": 30}


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


# ---------------------------------------------------------------------------------------------
# The rule library: RuleVersion records, History, one pure function per rule, evaluate.
# ---------------------------------------------------------------------------------------------

ON = date(2025, 6, 1)
INSTITUTION = "H350500001"
CATALOGUE = (
    ItemRestriction("GYN01", sex="F"),  # 妇科检查
    ItemRestriction("ADULT01", min_age=18),
    ItemRestriction("PED01", max_age=14),  # 儿科专用
    ItemRestriction("MRI01", min_institution_level=3),  # 限三级医院
    ItemRestriction("DRUG01", max_quantity_per_day=3, drug_group="N02A"),  # 阿片类镇痛药
    ItemRestriction("DRUG04", drug_group="N02A"),  # the same drug group, another brand
    ItemRestriction("PKG01", components=("CMP1", "CMP2")),  # 打包项目
    ItemRestriction("STENT", limit_price=Decimal("100.00")),  # 限价耗材
)
LINE = tuple[str, int, str] | tuple[str, int, str, list[str]]


def settled(
    *lines: LINE,
    visit_type: str = "outpatient",
    admitted: date = ON,
    discharged: date | None = None,
    diagnoses: tuple[str, ...] = ("I10",),
    institution_code: str = INSTITUTION,
    **extra: object,
) -> ClaimSettled:
    """A claim with one line per (item code, quantity, unit price[, traceability codes])."""
    claim_lines = [
        ClaimLine(
            line_no=i,
            item_code=spec[0],
            quantity=spec[1],
            unit_price=Decimal(spec[2]),
            amount=Decimal(spec[2]) * spec[1],
            traceability_codes=list(spec[3]) if len(spec) > 3 else [],
        )
        for i, spec in enumerate(lines, start=1)
    ]
    base = claim().model_copy(
        update={
            "settlement_id": uuid4(),
            "institution_code": institution_code,
            "visit_type": visit_type,
            "admitted_on": admitted,
            "discharged_on": discharged or admitted,
            "diagnoses": list(diagnoses),
            "lines": claim_lines,
            **extra,
        }
    )
    return ClaimSettled.model_validate(base.model_dump())


def history(**kwargs: object) -> History:
    values: dict[str, object] = {"sex": "F", "birth_date": date(1980, 5, 20), "catalogue": CATALOGUE}
    values.update(kwargs)
    return History(**values)  # type: ignore[arg-type]


def prior(
    admitted: date,
    discharged: date | None = None,
    *items: str,
    visit_type: str = "outpatient",
    diagnoses: tuple[str, ...] = ("I10",),
    institution_code: str = INSTITUTION,
) -> PriorClaim:
    return PriorClaim(
        settlement_id=uuid4(),
        institution_code=institution_code,
        visit_type=visit_type,  # type: ignore[arg-type]
        admitted_on=admitted,
        discharged_on=discharged or admitted,
        diagnoses=diagnoses,
        item_codes=items,
    )


def rule(rule_id: str) -> RuleVersion:
    (found,) = [r for r in LIBRARY if r.rule_id == rule_id]
    return found


def run(
    rule_id: str, settled_claim: ClaimSettled, hist: History, stage: Stage = "post"
) -> list[tuple[int | None, Decimal]]:
    findings = evaluate(settled_claim, hist, [rule(rule_id)], stage, ON)
    for f in findings:
        assert f.rule_id == rule_id
        assert f.rule_version == 1
        assert f.severity == rule(rule_id).severity
        assert f.amount_at_stake.as_tuple().exponent == -2
        assert f.message
    return [(f.line_no, f.amount_at_stake) for f in findings]


def test_library_has_one_version_of_every_rule_function() -> None:
    assert sorted(r.rule_id for r in LIBRARY) == sorted(RULE_FUNCTIONS)
    assert len(RULE_FUNCTIONS) == 15


def test_sex_conflict() -> None:
    c = settled(("GYN01", 1, "80.00"), ("LAB01", 1, "20.00"))
    assert run("SEX-CONFLICT", c, history(sex="M")) == [(1, Decimal("80.00"))]
    assert run("SEX-CONFLICT", c, history(sex="F")) == []
    assert run("SEX-CONFLICT", c, history(sex=None)) == []


def test_age_conflict() -> None:
    c = settled(("ADULT01", 2, "12.50"), ("PED01", 1, "9.00"))
    child = history(birth_date=date(2020, 3, 1))  # 5 on 2025-06-01
    adult = history(birth_date=date(1990, 3, 1))
    assert run("AGE-CONFLICT", c, child) == [(1, Decimal("25.00"))]
    assert run("AGE-CONFLICT", c, adult) == [(2, Decimal("9.00"))]
    assert run("AGE-CONFLICT", settled(("PED01", 1, "9.00")), child) == []
    # 14 until the day before the 15th birthday
    assert run("AGE-CONFLICT", settled(("PED01", 1, "9.00")), history(birth_date=date(2010, 6, 2))) == []
    assert run("AGE-CONFLICT", settled(("PED01", 1, "9.00")), history(birth_date=date(2010, 6, 1))) == [
        (1, Decimal("9.00"))
    ]


def test_institution_level() -> None:
    lines = (("MRI01", 1, "600.00"), ("LAB01", 1, "20.00"))
    assert run("INST-LEVEL", settled(*lines, institution_level=2), history()) == [(1, Decimal("600.00"))]
    assert run("INST-LEVEL", settled(*lines, institution_level=0), history()) == [(1, Decimal("600.00"))]
    assert run("INST-LEVEL", settled(*lines, institution_level=3), history()) == []
    assert run("INST-LEVEL", settled(*lines), history()) == []  # level unknown


def test_quantity_above_daily_maximum() -> None:
    c = settled(("DRUG01", 2, "4.20"), ("LAB01", 1, "20.00"), ("DRUG01", 3, "4.20"))
    assert run("QTY-MAX-DAY", c, history()) == [(3, Decimal("8.40"))]  # 5 units, 3 allowed
    stay = settled(
        ("DRUG01", 9, "4.20"), visit_type="inpatient", admitted=ON, discharged=date(2025, 6, 4)
    )  # 3 days x 3
    assert run("QTY-MAX-DAY", stay, history()) == []
    assert run("QTY-MAX-DAY", settled(("DRUG01", 3, "4.20")), history()) == []


def test_duplicate_charge_across_claims() -> None:
    c = settled(("LAB01", 1, "35.00"), ("LAB02", 2, "10.00"))
    same_day = history(prior_claims=(prior(ON, None, "LAB02"),))
    assert run("DUP-CHARGE", c, same_day) == [(2, Decimal("20.00"))]
    during_stay = history(prior_claims=(prior(date(2025, 5, 30), date(2025, 6, 2), "LAB01", visit_type="inpatient"),))
    assert run("DUP-CHARGE", c, during_stay) == [(1, Decimal("35.00"))]
    assert run("DUP-CHARGE", c, history(prior_claims=(prior(date(2025, 5, 31), None, "LAB01", "LAB02"),))) == []
    # Re-auditing the same claim does not match itself.
    itself = replace(prior(ON, None, "LAB01"), settlement_id=c.settlement_id)
    assert run("DUP-CHARGE", c, history(prior_claims=(itself,))) == []


def test_unbundling() -> None:
    c = settled(("PKG01", 1, "200.00"), ("CMP1", 1, "30.00"), ("CMP2", 2, "5.00"), ("LAB01", 1, "1.00"))
    assert run("UNBUNDLE", c, history()) == [(2, Decimal("30.00")), (3, Decimal("10.00"))]
    components_only = settled(("CMP1", 1, "30.00"))
    assert run("UNBUNDLE", components_only, history()) == []
    package_earlier_same_day = history(prior_claims=(prior(ON, None, "PKG01"),))
    assert run("UNBUNDLE", components_only, package_earlier_same_day) == [(1, Decimal("30.00"))]
    assert run("UNBUNDLE", components_only, history(prior_claims=(prior(date(2025, 5, 31), None, "PKG01"),))) == []


def test_price_above_limit() -> None:
    c = settled(("STENT", 3, "120.50"), ("LAB01", 1, "999.00"))
    assert run("PRICE-LIMIT", c, history()) == [(1, Decimal("61.50"))]
    assert run("PRICE-LIMIT", settled(("STENT", 3, "100.00")), history()) == []


def inpatient(admitted: date, discharged: date, *lines: LINE, **kwargs: object) -> ClaimSettled:
    return settled(*lines, visit_type="inpatient", admitted=admitted, discharged=discharged, **kwargs)  # type: ignore[arg-type]


def test_split_admission() -> None:
    c = inpatient(date(2025, 6, 10), date(2025, 6, 15), ("BED", 5, "60.00"), ("LAB01", 1, "12.34"))
    first_stay = prior(date(2025, 5, 20), date(2025, 6, 1), visit_type="inpatient", diagnoses=("J18", "I10"))
    assert run("SPLIT-ADMISSION", c, history(prior_claims=(first_stay,))) == [(None, Decimal("312.34"))]
    long_ago = prior(date(2025, 5, 1), date(2025, 5, 25), visit_type="inpatient")  # 16 days
    assert run("SPLIT-ADMISSION", c, history(prior_claims=(long_ago,))) == []
    other_condition = replace(first_stay, diagnoses=("J18",))
    assert run("SPLIT-ADMISSION", c, history(prior_claims=(other_condition,))) == []
    elsewhere = replace(first_stay, institution_code="H350500999")
    assert run("SPLIT-ADMISSION", c, history(prior_claims=(elsewhere,))) == []
    outpatient_before = replace(first_stay, visit_type="outpatient")
    assert run("SPLIT-ADMISSION", c, history(prior_claims=(outpatient_before,))) == []
    # The window is a parameter: 5 days does not reach a 9-day gap; any institution can count.
    short = replace(rule("SPLIT-ADMISSION"), parameters={"readmission_days": 5})
    assert evaluate(c, history(prior_claims=(first_stay,)), [short], "post", ON) == []
    anywhere = replace(rule("SPLIT-ADMISSION"), parameters={"readmission_days": 15, "same_institution": False})
    assert len(evaluate(c, history(prior_claims=(elsewhere,)), [anywhere], "post", ON)) == 1


def test_phantom_bed_days() -> None:
    c = inpatient(date(2025, 6, 10), date(2025, 6, 14), ("BED", 4, "100.00"))  # 4 nights, 400.00
    overlapping = prior(date(2025, 6, 12), date(2025, 6, 20), visit_type="inpatient", institution_code="H2")
    assert run("PHANTOM-BED", c, history(prior_claims=(overlapping,))) == [(None, Decimal("200.00"))]
    thirds = inpatient(date(2025, 6, 10), date(2025, 6, 13), ("BED", 1, "100.00"))  # 1 of 3 nights
    assert run("PHANTOM-BED", thirds, history(prior_claims=(overlapping,))) == [(None, Decimal("33.33"))]
    transfer = prior(date(2025, 6, 14), date(2025, 6, 20), visit_type="inpatient")  # admitted on discharge day
    assert run("PHANTOM-BED", c, history(prior_claims=(transfer,))) == []
    visit = prior(date(2025, 6, 11), None, visit_type="outpatient")
    assert run("PHANTOM-BED", c, history(prior_claims=(visit,))) == []


def test_traceability_code_sold_twice() -> None:
    c = settled(("DRUG02", 3, "7.00", ["T1", "T2", "T3"]), ("DRUG03", 2, "1.50", ["T9", "T9"]))
    elsewhere = uuid4()
    sold = history(sold_codes=(SoldCode("T1", elsewhere), SoldCode("T3", elsewhere)))
    assert run("TRACE-RESOLD", c, sold) == [(1, Decimal("14.00")), (2, Decimal("1.50"))]
    clean = settled(("DRUG02", 2, "7.00", ["T1", "T2"]))
    assert run("TRACE-RESOLD", clean, history(sold_codes=(SoldCode("T1", clean.settlement_id),))) == []
    assert run("TRACE-RESOLD", clean, history(sold_codes=(SoldCode("T7", elsewhere),))) == []


def test_claim_after_date_of_death() -> None:
    c = settled(("LAB01", 1, "35.00"), ("DRUG01", 2, "4.20"))
    assert run("AFTER-DEATH", c, history(death_date=date(2025, 5, 31))) == [(None, Decimal("43.40"))]
    assert run("AFTER-DEATH", c, history(death_date=ON)) == []
    assert run("AFTER-DEATH", c, history()) == []


def test_quantity_per_line_in_the_library() -> None:
    assert run("QTY-MAX-LINE", settled(("LAB01", 31, "12.35")), history()) == [(1, Decimal("12.35"))]


def purchase(days_before: int, practitioner: str, institution: str = INSTITUTION, group: str = "N02A") -> DrugPurchase:
    return DrugPurchase(uuid4(), group, practitioner, institution, ON - timedelta(days=days_before))


def test_doctor_shopping_by_prescribers() -> None:
    c = settled(("DRUG01", 2, "4.20"), ("LAB01", 1, "20.00"), ("DRUG04", 1, "9.00"))  # prescriber D1
    four_others = tuple(purchase(10 * i, f"D{i + 1}") for i in range(1, 5))  # D2..D5, 10..40 days ago
    assert run("DOCTOR-SHOPPING", c, history(drug_purchases=four_others)) == [
        (1, Decimal("8.40")),
        (3, Decimal("9.00")),
    ]
    # Three others + this claim's own prescriber = 4, below 5.
    assert run("DOCTOR-SHOPPING", c, history(drug_purchases=four_others[:3])) == []
    # The same doctor (D1) many times is not shopping.
    assert run("DOCTOR-SHOPPING", c, history(drug_purchases=tuple(purchase(i, "D1") for i in range(8)))) == []
    # Another drug group does not count towards this one.
    other_group = tuple(replace(p, drug_group="C09A") for p in four_others)
    assert run("DOCTOR-SHOPPING", c, history(drug_purchases=other_group)) == []


def test_doctor_shopping_window_and_institutions() -> None:
    c = settled(("DRUG01", 1, "4.20"))
    # 89 days before the claim is inside a 90-day window (the claim's day is day 90); 90 is not.
    inside = tuple(purchase(89 - i, f"D{i + 2}") for i in range(4))
    assert run("DOCTOR-SHOPPING", c, history(drug_purchases=inside)) == [(1, Decimal("4.20"))]
    outside = (*inside[1:], purchase(90, "D2"))
    assert run("DOCTOR-SHOPPING", c, history(drug_purchases=outside)) == []
    # Purchases after the claim's day do not count; neither does a record of this claim itself.
    later = (*inside[1:], purchase(-1, "D2"))
    assert run("DOCTOR-SHOPPING", c, history(drug_purchases=later)) == []
    itself = (*inside[1:], replace(inside[0], settlement_id=c.settlement_id))
    assert run("DOCTOR-SHOPPING", c, history(drug_purchases=itself)) == []
    # One doctor, five pharmacies (this claim's institution + four others).
    pharmacies = tuple(purchase(5 * i, "D1", institution=f"P{i}") for i in range(1, 5))
    assert run("DOCTOR-SHOPPING", c, history(drug_purchases=pharmacies)) == [(1, Decimal("4.20"))]
    # Thresholds are parameters.
    strict = replace(rule("DOCTOR-SHOPPING"), parameters={"min_prescribers": 3, "min_institutions": 9})
    assert len(evaluate(c, history(drug_purchases=inside[:2]), [strict], "post", ON)) == 1
    short = replace(rule("DOCTOR-SHOPPING"), parameters={"window_days": 30})
    assert evaluate(c, history(drug_purchases=inside), [short], "post", ON) == []


def test_ltc_billed_during_inpatient_stay() -> None:
    c = inpatient(date(2025, 6, 10), date(2025, 6, 14), ("BED", 4, "100.00"))
    during = (LtcService(date(2025, 6, 11), Decimal("60.00")), LtcService(date(2025, 6, 13), Decimal("45.50")))
    assert run("LTC-DURING-STAY", c, history(ltc_services=during)) == [(None, Decimal("105.50"))]
    edges = (LtcService(date(2025, 6, 10), Decimal("60.00")), LtcService(date(2025, 6, 14), Decimal("60.00")))
    around = (LtcService(date(2025, 6, 9), Decimal("60.00")), LtcService(date(2025, 6, 15), Decimal("60.00")))
    assert run("LTC-DURING-STAY", c, history(ltc_services=edges + around)) == []
    strict = replace(rule("LTC-DURING-STAY"), parameters={"include_admission_day": True, "include_discharge_day": True})
    (finding,) = evaluate(c, history(ltc_services=edges + around), [strict], "post", ON)
    assert finding.amount_at_stake == Decimal("120.00")
    # Only inpatient claims; an outpatient visit on an LTC day is not a stay.
    visit = settled(("LAB01", 1, "10.00"), admitted=date(2025, 6, 11))
    assert run("LTC-DURING-STAY", visit, history(ltc_services=during)) == []
    assert "pre" not in rule("LTC-DURING-STAY").stages


def peers(level: int, group: str, costs: list[str], cases: int = 10) -> tuple[InstitutionCost, ...]:
    return tuple(
        InstitutionCost(f"H{level}{i:03d}", level, group, cases, Decimal(cost) * cases) for i, cost in enumerate(costs)
    )


PEER_COSTS = ["900.00", "950.00", "1000.00", "1050.00", "1100.00"]  # mean 1000, population sd 70.71
BASELINE_PERIOD = date(2025, 5, 1)  # a closed month before the claims' own


def baseline(*costs: InstitutionCost) -> PeerBaseline:
    return PeerBaseline(BASELINE_PERIOD, costs)


def test_institution_far_above_its_peers() -> None:
    c = inpatient(ON, date(2025, 6, 5), ("BED", 4, "400.00"), diagnoses=("J18.9",), institution_level=3)  # 1600
    far = InstitutionCost(INSTITUTION, 3, "J18", 20, Decimal("1300.00") * 20)  # z = 300 / 70.71 = 4.2
    near = replace(far, total_cost=Decimal("1200.00") * 20)  # z = 2.8
    assert run("PEER-OUTLIER", c, history(peer_baseline=baseline(*peers(3, "J18", PEER_COSTS), far))) == [
        (None, Decimal("600.00"))
    ]
    assert run("PEER-OUTLIER", c, history(peer_baseline=baseline(*peers(3, "J18", PEER_COSTS), near))) == []
    # A lower threshold is a parameter; so is the number of peers needed.
    loose = replace(rule("PEER-OUTLIER"), parameters={"z_threshold": 2.5})
    assert (
        len(evaluate(c, history(peer_baseline=baseline(*peers(3, "J18", PEER_COSTS), near)), [loose], "post", ON)) == 1
    )
    too_few = history(peer_baseline=baseline(*peers(3, "J18", PEER_COSTS[:4]), far))
    assert run("PEER-OUTLIER", c, too_few) == []
    # Peers are of the same level and the same diagnosis group only.
    assert run("PEER-OUTLIER", c, history(peer_baseline=baseline(*peers(2, "J18", PEER_COSTS), far))) == []
    assert run("PEER-OUTLIER", c, history(peer_baseline=baseline(*peers(3, "I10", PEER_COSTS), far))) == []
    # A cheap claim from an outlier institution is flagged with nothing at stake.
    cheap = inpatient(ON, date(2025, 6, 5), ("BED", 4, "200.00"), diagnoses=("J18",), institution_level=3)
    assert run("PEER-OUTLIER", cheap, history(peer_baseline=baseline(*peers(3, "J18", PEER_COSTS), far))) == [
        (None, Decimal("0.00"))
    ]
    # Level unknown: no peers to compare with.
    unknown = inpatient(ON, date(2025, 6, 5), ("BED", 4, "400.00"), diagnoses=("J18",))
    assert run("PEER-OUTLIER", unknown, history(peer_baseline=baseline(*peers(3, "J18", PEER_COSTS), far))) == []


def test_peer_outlier_without_a_baseline_does_not_fire() -> None:
    c = inpatient(ON, date(2025, 6, 5), ("BED", 4, "400.00"), diagnoses=("J18.9",), institution_level=3)
    far = InstitutionCost(INSTITUTION, 3, "J18", 20, Decimal("1300.00") * 20)
    assert run("PEER-OUTLIER", c, history(peer_baseline=baseline(*peers(3, "J18", PEER_COSTS), far))) != []
    # No baseline taken yet: nothing fixed to compare with, whatever the rule version says.
    assert run("PEER-OUTLIER", c, history()) == []
    eager = replace(rule("PEER-OUTLIER"), parameters={"z_threshold": -100, "min_peers": 0})
    assert evaluate(c, history(), [eager], "post", ON) == []
    # A baseline without the institution (no cases of its own that month): not judged.
    assert run("PEER-OUTLIER", c, history(peer_baseline=baseline(*peers(3, "J18", PEER_COSTS)))) == []
    # A baseline without the group at all: no peers.
    assert evaluate(c, history(peer_baseline=baseline()), [eager], "post", ON) == []


def test_peer_outlier_leaves_small_cells_out_when_a_version_asks() -> None:
    c = inpatient(ON, date(2025, 6, 5), ("BED", 4, "400.00"), diagnoses=("J18.9",), institution_level=3)
    four_cases = InstitutionCost(INSTITUTION, 3, "J18", 4, Decimal("1300.00") * 4)
    five_cases = InstitutionCost(INSTITUTION, 3, "J18", 5, Decimal("1300.00") * 5)
    careful = replace(rule("PEER-OUTLIER"), version=2, parameters={"z_threshold": 3, "min_peers": 5, "min_cases": 5})

    def judged(rule_version: RuleVersion, *costs: InstitutionCost) -> int:
        return len(evaluate(c, history(peer_baseline=baseline(*costs)), [rule_version], "post", ON))

    # Version 1 (no min_cases): every case counts, four cases included.
    assert judged(rule("PEER-OUTLIER"), *peers(3, "J18", PEER_COSTS), four_cases) == 1
    # min_cases 5: the institution's own cell of four is too small to judge; five is enough.
    assert judged(careful, *peers(3, "J18", PEER_COSTS), four_cases) == 0
    assert judged(careful, *peers(3, "J18", PEER_COSTS), five_cases) == 1
    # A peer under the minimum does not count towards min_peers either: four real peers are too few.
    small_peer = InstitutionCost("H3999", 3, "J18", 2, Decimal("2000.00"))
    assert judged(careful, *peers(3, "J18", PEER_COSTS[:4]), small_peer, five_cases) == 0
    assert judged(rule("PEER-OUTLIER"), *peers(3, "J18", PEER_COSTS[:4]), small_peer, five_cases) == 1


def test_peer_outlier_names_the_baseline_month_it_judged_by() -> None:
    c = inpatient(ON, date(2025, 6, 5), ("BED", 4, "400.00"), diagnoses=("J18.9",), institution_level=3)
    far = InstitutionCost(INSTITUTION, 3, "J18", 20, Decimal("1300.00") * 20)
    (finding,) = evaluate(
        c, history(peer_baseline=baseline(*peers(3, "J18", PEER_COSTS), far)), [rule("PEER-OUTLIER")], "post", ON
    )
    assert finding.message == (
        f"{INSTITUTION} cost 1300.00 a case in J18 at level 3 in 2025-05; 5 peers averaged 1000.00 (z = 4.2)"
    )
    assert (finding.severity, finding.rule_version) == ("warn", 1)


def test_baseline_months() -> None:
    assert month_of(date(2026, 11, 24)) == date(2026, 11, 1)
    assert next_month(date(2026, 12, 1)) == date(2027, 1, 1)
    assert next_month(date(2026, 1, 1)) == date(2026, 2, 1)
    # A month is closed from the first day of the next one (business dates, Asia/Shanghai).
    assert is_closed_period(date(2026, 10, 1), date(2026, 11, 1))
    assert not is_closed_period(date(2026, 11, 1), date(2026, 11, 30))
    assert not is_closed_period(date(2026, 12, 1), date(2026, 11, 30))
    # The month a claim settled in is the Asia/Shanghai one: 16:30 UTC on Oct 31 is Nov 1 there.
    c = settled(("LAB01", 1, "10.00"))
    late = c.model_copy(update={"settled_at": datetime(2026, 10, 31, 16, 30, tzinfo=UTC)})
    assert settlement_month(late) == date(2026, 11, 1)
    early = c.model_copy(update={"settled_at": datetime(2026, 10, 31, 15, 59, tzinfo=UTC)})
    assert settlement_month(early) == date(2026, 10, 1)


def test_peer_outlier_identical_peers() -> None:
    c = settled(("LAB01", 1, "50.00"), institution_level=1, diagnoses=("I10",))
    same = peers(1, "I10", ["40.00"] * 5)
    assert (
        run(
            "PEER-OUTLIER",
            c,
            history(peer_baseline=baseline(*same, InstitutionCost(INSTITUTION, 1, "I10", 2, Decimal("80.00")))),
        )
        == []
    )
    above = InstitutionCost(INSTITUTION, 1, "I10", 2, Decimal("90.00"))
    assert run("PEER-OUTLIER", c, history(peer_baseline=baseline(*same, above))) == [(None, Decimal("10.00"))]


def test_peer_outlier_below_the_mean_is_judged_by_a_negative_threshold() -> None:
    # At or below the peers' mean z <= 0, so a non-negative threshold never flags it (the rule
    # skips the deviation then); a negative threshold still compares the z-score.
    c = inpatient(ON, date(2025, 6, 5), ("BED", 4, "400.00"), diagnoses=("J18.9",), institution_level=3)
    below = InstitutionCost(INSTITUTION, 3, "J18", 10, Decimal("990.00") * 10)  # z = -10 / 70.71 = -0.14
    costs = history(peer_baseline=baseline(*peers(3, "J18", PEER_COSTS), below))
    assert run("PEER-OUTLIER", c, costs) == []
    assert evaluate(c, costs, [replace(rule("PEER-OUTLIER"), parameters={"z_threshold": 0})], "post", ON) == []
    lenient = replace(rule("PEER-OUTLIER"), parameters={"z_threshold": -1})
    assert [f.amount_at_stake for f in evaluate(c, costs, [lenient], "post", ON)] == [Decimal("600.00")]
    stricter = replace(rule("PEER-OUTLIER"), parameters={"z_threshold": "-0.1"})
    assert evaluate(c, costs, [stricter], "post", ON) == []


# --- scope, stage and effective dates ---


def test_scope_filters_by_region_scheme_level_and_type() -> None:
    c = settled(
        ("STENT", 1, "150.00"),
        region_code="350500",
        scheme="employee",
        institution_level=2,
        institution_type="hospital",
    )
    base = rule("PRICE-LIMIT")

    def flagged(scope: RuleScope, on: ClaimSettled = c) -> bool:
        return bool(evaluate(on, history(), [replace(base, scope=scope)], "post", ON))

    assert flagged(RuleScope())
    assert flagged(RuleScope(regions=frozenset({"350500", "350100"})))
    assert not flagged(RuleScope(regions=frozenset({"350100"})))
    assert flagged(RuleScope(schemes=frozenset({"employee"})))
    assert not flagged(RuleScope(schemes=frozenset({"resident"})))
    assert flagged(RuleScope(institution_levels=frozenset({2, 3})))
    assert not flagged(RuleScope(institution_levels=frozenset({3})))
    assert flagged(RuleScope(institution_types=frozenset({"hospital"})))
    assert not flagged(RuleScope(institution_types=frozenset({"pharmacy"})))
    # A restricted dimension the claim does not state does not match.
    assert not flagged(RuleScope(regions=frozenset({"350500"})), settled(("STENT", 1, "150.00")))


def test_stage_filter_and_same_function_at_every_stage() -> None:
    c = settled(("STENT", 1, "150.00"))
    results = {stage: evaluate(c, history(), [rule("PRICE-LIMIT")], stage, ON) for stage in ("pre", "in", "post")}
    assert results["pre"] == results["in"] == results["post"] != []
    post_only = replace(rule("PRICE-LIMIT"), stages=frozenset({"post"}))
    assert evaluate(c, history(), [post_only], "pre", ON) == []
    assert evaluate(c, history(), [post_only], "in", ON) == []
    assert len(evaluate(c, history(), [post_only], "post", ON)) == 1
    assert "pre" not in rule("SPLIT-ADMISSION").stages


def test_effective_dates_pick_the_version_in_force() -> None:
    c = settled(("LAB01", 20, "1.00"))
    v1 = RuleVersion(
        "QTY-MAX-LINE", 1, "medical", date(2025, 1, 1), effective_to=date(2025, 6, 30), parameters={"max_quantity": 30}
    )
    v2 = RuleVersion("QTY-MAX-LINE", 2, "medical", date(2025, 7, 1), severity="refuse", parameters={"max_quantity": 10})
    assert evaluate(c, history(), [v1, v2], "post", date(2024, 12, 31)) == []
    assert evaluate(c, history(), [v1, v2], "post", date(2025, 6, 30)) == []
    (finding,) = evaluate(c, history(), [v1, v2], "post", date(2025, 7, 1))
    assert (finding.rule_version, finding.severity, finding.amount_at_stake) == (2, "refuse", Decimal("10.00"))


def test_rule_versions_are_validated() -> None:
    with pytest.raises(ValueError, match="stages"):
        RuleVersion("PRICE-LIMIT", 1, "policy", ON, stages=frozenset({"later"}))  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="severity"):
        RuleVersion("PRICE-LIMIT", 1, "policy", ON, severity="fatal")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="effective_to"):
        RuleVersion("PRICE-LIMIT", 1, "policy", ON, effective_to=date(2025, 1, 1))
    with pytest.raises(ValueError, match="no rule function"):
        RuleVersion("NO-SUCH-RULE", 1, "policy", ON)


def test_empty_history_flags_only_history_free_rules() -> None:
    c = settled(("STENT", 40, "150.00"), ("GYN01", 1, "80.00"))
    assert [f.rule_id for f in evaluate(c, History(), LIBRARY, "post", ON)] == ["QTY-MAX-LINE"]


# --- synthetic generator: plant each deterministic violation among clean claims ---


def clean_case(rng: random.Random, n: int) -> tuple[ClaimSettled, History]:
    """A compliant claim: an adult woman, a level-3 hospital, catalogue items used within limits."""
    day = ON + timedelta(days=n)
    lines: list[LINE] = [
        ("LAB01", rng.randint(1, 3), f"{rng.randint(100, 9999) / 100:.2f}"),
        ("DRUG01", rng.randint(1, 3), "4.20", [f"C{n}-{i}" for i in range(1)]),
        ("STENT", 1, f"{rng.randint(5000, 10000) / 100:.2f}"),
        ("GYN01", 1, "80.00"),
        ("ADULT01", 1, "12.50"),
        ("MRI01", 1, "600.00"),
        ("PKG01", 1, "200.00"),
    ]
    if n % 2:
        c = inpatient(day, day + timedelta(days=3), *lines, institution_level=3, diagnoses=("J18",))
    else:
        c = settled(*lines, admitted=day, institution_level=3)
    earlier_stay = prior(day - timedelta(days=40), day - timedelta(days=30), "LAB01", visit_type="inpatient")
    other_day = prior(day - timedelta(days=1), None, "LAB01", "CMP1")
    two_doctors = (
        DrugPurchase(uuid4(), "N02A", "D2", "P1", day - timedelta(days=20)),
        DrugPurchase(uuid4(), "N02A", "D3", "P2", day - timedelta(days=50)),
        DrugPurchase(uuid4(), "N02A", "D4", "P3", day - timedelta(days=95)),  # outside the window
        DrugPurchase(uuid4(), "C09A", "D5", "P4", day - timedelta(days=5)),  # another drug group
    )
    ltc = (LtcService(day - timedelta(days=1), Decimal("60.00")), LtcService(c.discharged_on + timedelta(days=1)))
    group = c.diagnoses[0][:3]
    costs = (*peers(3, group, PEER_COSTS), InstitutionCost(INSTITUTION, 3, group, 40, Decimal("1100.00") * 40))
    hist = history(
        prior_claims=(earlier_stay, other_day),
        sold_codes=(SoldCode(f"OLD{n}", uuid4()),),
        drug_purchases=two_doctors,
        ltc_services=ltc,
        peer_baseline=baseline(*costs),
    )
    return c, hist


def plant(rule_id: str, c: ClaimSettled, hist: History) -> tuple[ClaimSettled, History, Decimal]:
    """Turn a clean case into one violating `rule_id`; returns the expected amount at stake."""
    total = sum((line.amount for line in c.lines), ZERO)
    day = c.admitted_on

    def add(*lines: LINE) -> ClaimSettled:
        extra = [
            ClaimLine(
                line_no=len(c.lines) + i,
                item_code=spec[0],
                quantity=spec[1],
                unit_price=Decimal(spec[2]),
                amount=Decimal(spec[2]) * spec[1],
                traceability_codes=list(spec[3]) if len(spec) > 3 else [],
            )
            for i, spec in enumerate(lines, start=1)
        ]
        return c.model_copy(update={"lines": [*c.lines, *extra]})

    match rule_id:
        case "QTY-MAX-LINE":
            return add(("LAB09", 35, "2.00")), hist, Decimal("10.00")
        case "SEX-CONFLICT":
            return c, replace(hist, sex="M"), Decimal("80.00")
        case "AGE-CONFLICT":
            return c, replace(hist, birth_date=day - timedelta(days=365 * 10)), Decimal("12.50")
        case "INST-LEVEL":
            return c.model_copy(update={"institution_level": 2}), hist, Decimal("600.00")
        case "QTY-MAX-DAY":
            days = max(1, (c.discharged_on - day).days)
            used = sum(line.quantity for line in c.lines if line.item_code == "DRUG01")
            extra_qty = 3 * days - used + 2
            return add(("DRUG01", extra_qty, "4.20")), hist, Decimal("8.40")
        case "DUP-CHARGE":
            one_day = c.model_copy(update={"visit_type": "outpatient", "discharged_on": day})
            return (
                one_day,
                replace(hist, prior_claims=(*hist.prior_claims, prior(day, None, "MRI01"))),
                Decimal("600.00"),
            )
        case "UNBUNDLE":
            return add(("CMP2", 2, "5.00")), hist, Decimal("10.00")
        case "PRICE-LIMIT":
            return add(("STENT", 2, "100.01")), hist, Decimal("0.02")
        case "SPLIT-ADMISSION":
            stay = c.model_copy(update={"visit_type": "inpatient", "discharged_on": day + timedelta(days=3)})
            first = prior(
                day - timedelta(days=20), day - timedelta(days=15), visit_type="inpatient", diagnoses=tuple(c.diagnoses)
            )
            return stay, replace(hist, prior_claims=(*hist.prior_claims, first)), total
        case "PHANTOM-BED":
            stay = c.model_copy(update={"visit_type": "inpatient", "discharged_on": day + timedelta(days=4)})
            other = prior(
                day + timedelta(days=3),
                day + timedelta(days=9),
                visit_type="inpatient",
                diagnoses=("Z99",),
                institution_code="H2",
            )
            return stay, replace(hist, prior_claims=(*hist.prior_claims, other)), to_fen(total / 4)
        case "TRACE-RESOLD":
            code = c.lines[1].traceability_codes[0]
            return c, replace(hist, sold_codes=(*hist.sold_codes, SoldCode(code, uuid4()))), Decimal("4.20")
        case "AFTER-DEATH":
            return c, replace(hist, death_date=day - timedelta(days=1)), total
        case "DOCTOR-SHOPPING":
            more = tuple(
                DrugPurchase(uuid4(), "N02A", f"D{9 + i}", INSTITUTION, day - timedelta(days=i)) for i in range(2)
            )
            drug = sum((line.amount for line in c.lines if line.item_code == "DRUG01"), ZERO)
            return c, replace(hist, drug_purchases=(*hist.drug_purchases, *more)), drug
        case "LTC-DURING-STAY":
            stay = c.model_copy(update={"visit_type": "inpatient", "discharged_on": day + timedelta(days=3)})
            during = (
                LtcService(day + timedelta(days=1), Decimal("60.00")),
                LtcService(day + timedelta(days=2), Decimal("7.25")),
            )
            return stay, replace(hist, ltc_services=(*hist.ltc_services, *during)), Decimal("67.25")
        case "PEER-OUTLIER":
            assert hist.peer_baseline is not None
            own = [p for p in hist.peer_baseline.costs if p.institution_code == INSTITUTION]
            others = [p for p in hist.peer_baseline.costs if p.institution_code != INSTITUTION]
            mean = sum((p.cost_per_case for p in others), ZERO) / len(others)
            upcoded = [replace(p, total_cost=p.total_cost * 2) for p in own]  # far above the peers
            return c, replace(hist, peer_baseline=baseline(*others, *upcoded)), to_fen(max(ZERO, total - mean))
    raise AssertionError(rule_id)


def test_synthetic_recall_and_false_positives(capsys: pytest.CaptureFixture[str]) -> None:
    rng = random.Random(20251123)
    clean = [clean_case(rng, n) for n in range(200)]
    planted_per_rule = 10
    table = []
    false_positives = [f for c, h in clean for f in evaluate(c, h, LIBRARY, "post", ON)]
    assert false_positives == []
    for rule_id in RULE_FUNCTIONS:
        caught = exact = 0
        for c, h in rng.sample(clean, planted_per_rule):
            bad, bad_history, expected = plant(rule_id, c, h)
            own = [f for f in evaluate(bad, bad_history, LIBRARY, "post", ON) if f.rule_id == rule_id]
            caught += bool(own)
            exact += [f.amount_at_stake for f in own] == [expected]
        table.append((rule_id, planted_per_rule, caught, exact))
    with capsys.disabled():
        print(
            f"\n{'rule':<16} {'planted':>7} {'caught':>6} {'recall':>6} {'exact':>5}  (clean claims: {len(clean)}, FP 0)"
        )
        for rule_id, planted, caught, exact in table:
            print(f"{rule_id:<16} {planted:>7} {caught:>6} {caught / planted:>6.2f} {exact:>5}")
    assert all(caught == planted == exact for _, planted, caught, exact in table), table
