"""Settlement arithmetic: priced lines, coverage, and the three-tier calculation always add up to the fen."""

from __future__ import annotations

from dataclasses import replace
from datetime import date
from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from services.settlement.service import (
    ASSISTANCE_GROUPS,
    Accumulators,
    AssistanceTerms,
    Calculation,
    CatalogueItem,
    ClaimInput,
    Coverage,
    CriticalTier,
    LineInput,
    Policy,
    calculate,
    covering,
    critical_entitlement,
    price_lines,
)
from shared.events.contracts import SettlementBreakdown
from shared.money import to_fen

AMOUNT_FIELDS = tuple(SettlementBreakdown.model_fields)

line_inputs = st.builds(
    LineInput,
    item_code=st.sampled_from(["XA01", "XB02", "ZC03"]),
    quantity=st.integers(min_value=1, max_value=1000),
    unit_price=st.decimals(min_value=Decimal("0.00"), max_value=Decimal("99999.99"), places=2),
    traceability_codes=st.just(()),
)


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


# --- Three-tier calculation (三重保障) ------------------------------------------------------------------

D = Decimal

CATALOGUE: dict[str, CatalogueItem] = {
    item.code: item
    for item in (
        CatalogueItem("XA01", "amoxicillin capsule", "A", limit_price=D("15.00")),  # 甲类 drug, 限价 15
        CatalogueItem("XB02", "negotiated drug", "B", preselfpay_ratio=D("0.10"), limit_price=D("40.00")),
        CatalogueItem("ZC03", "cosmetic item", "C"),  # 丙类
        CatalogueItem("SA04", "ward bed-day", "A", limit_price=D("50.00")),  # 甲类 service, 限价 50
        CatalogueItem("HB05", "implant consumable", "B", preselfpay_ratio=D("0.20")),  # 乙类 耗材
        CatalogueItem("OP06", "surgery", "A"),
    )
}

# 医疗救助 per group, as the demo policies have it (docs/settlement.md, "Test parameters").
ASSISTANCE = {
    "extreme_poverty": AssistanceTerms(D("1.00"), D("60000.00")),  # 特困人员
    "orphan": AssistanceTerms(D("1.00"), D("60000.00")),  # 孤儿
    "minimum_living": AssistanceTerms(D("0.70"), D("30000.00")),  # 低保对象
    "poverty_risk": AssistanceTerms(D("0.60"), D("20000.00"), deductible=D("1000.00")),  # 返贫致贫风险
    "severe_disability": AssistanceTerms(D("0.70"), D("30000.00")),  # 重度残疾人
}

EMPLOYEE_INPATIENT = Policy(
    version="TEST-employee-inpatient-v1",
    scheme="employee",
    deductible=D("800.00"),
    ratio=D("0.90"),
    cap=D("200000.00"),
    critical_threshold=D("20000.00"),
    critical_tiers=(CriticalTier(None, D("0.80")),),
    critical_cap=D("300000.00"),
    unfiled_reduction=D("0.10"),
    assistance=ASSISTANCE,
)

RESIDENT_INPATIENT = Policy(
    version="TEST-resident-inpatient-v1",
    scheme="resident",
    deductible=D("600.00"),
    ratio=D("0.70"),
    cap=D("150000.00"),
    critical_threshold=D("15000.00"),
    critical_tiers=(CriticalTier(D("50000.00"), D("0.60")), CriticalTier(None, D("0.70"))),
    critical_cap=D("400000.00"),
    unfiled_reduction=D("0.15"),
    assistance=ASSISTANCE,
)


def _claim(*lines: tuple[str, int, str], **kw: object) -> ClaimInput:
    return ClaimInput(
        lines=tuple(LineInput(code, qty, D(price)) for code, qty, price in lines),
        visit_type="inpatient",
        **kw,  # type: ignore[arg-type]
    )


def _amounts(b: SettlementBreakdown) -> dict[str, Decimal]:
    return {name: getattr(b, name) for name in AMOUNT_FIELDS}


EMPLOYEE_CLAIM_LINES = (
    ("XA01", 10, "12.50"),
    ("XB02", 5, "45.00"),
    ("ZC03", 2, "80.00"),
    ("SA04", 10, "60.00"),
    ("HB05", 1, "3000.00"),
)


def test_golden_employee_inpatient() -> None:
    """docs/settlement.md case 1."""
    claim = _claim(*EMPLOYEE_CLAIM_LINES, account_balance=D("500.00"))
    calc = calculate(claim, EMPLOYEE_INPATIENT, CATALOGUE, Accumulators())
    assert _amounts(calc.breakdown) == {
        "medfee_sumamt": D("4110.00"),
        "fulamt_ownpay_amt": D("160.00"),
        "overlmt_selfpay": D("125.00"),
        "preselfpay_amt": D("620.00"),
        "inscp_scp_amt": D("3205.00"),
        "hifp_pay": D("2164.50"),
        "hifmi_pay": D("0.00"),
        "hifob_pay": D("0.00"),
        "maf_pay": D("0.00"),
        "acct_pay": D("500.00"),
        "psn_cash_pay": D("1445.50"),
        "fund_pay_sumamt": D("2164.50"),
    }
    acc = calc.accumulators
    assert acc.deductible_used == D("800.00")
    assert acc.basic_fund_paid == D("2164.50")
    assert acc.inscope_self_paid == D("1040.50")
    assert acc.personal_burden == D("1945.50")
    assert all(step.policy_version == EMPLOYEE_INPATIENT.version for step in calc.explanation)
    rules = [step.rule for step in calc.explanation]
    assert "hifp_pay 统筹基金" in rules
    assert "hifob_pay 大额医疗补助" in rules
    by_rule = {step.rule: step.amount for step in calc.explanation}
    assert by_rule["起付线 deductible"] == D("800.00")
    assert by_rule["inscp_scp_amt 政策范围内费用"] == D("3205.00")


def test_golden_employee_unfiled_cross_region_gets_lower_ratio() -> None:
    claim = _claim(*EMPLOYEE_CLAIM_LINES, cross_region="unfiled")
    b = calculate(claim, EMPLOYEE_INPATIENT, CATALOGUE, Accumulators()).breakdown
    # (3205.00 − 800.00) × (0.90 − 0.10) = 1924.00
    assert b.hifp_pay == D("1924.00")
    assert b.psn_cash_pay == D("4110.00") - D("1924.00")
    filed = calculate(
        _claim(*EMPLOYEE_CLAIM_LINES, cross_region="filed"), EMPLOYEE_INPATIENT, CATALOGUE, Accumulators()
    )
    assert filed.breakdown.hifp_pay == D("2164.50")


def test_golden_resident_inpatient_crosses_critical_illness_tiers() -> None:
    """docs/settlement.md case 2: earlier this year 20,000.00 in-scope self-paid, 3,000.00 大病 paid."""
    before = Accumulators(
        deductible_used=D("600.00"),
        basic_fund_paid=D("20000.00"),
        basic_fund_due=D("20000.00"),
        critical_paid=D("3000.00"),
        inscope_self_paid=D("20000.00"),
        personal_burden=D("23000.00"),
    )
    claim = _claim(("OP06", 1, "100000.00"), ("HB05", 1, "20000.00"))
    calc = calculate(claim, RESIDENT_INPATIENT, CATALOGUE, before)
    assert _amounts(calc.breakdown) == {
        "medfee_sumamt": D("120000.00"),
        "fulamt_ownpay_amt": D("0.00"),
        "overlmt_selfpay": D("0.00"),
        "preselfpay_amt": D("4000.00"),
        "inscp_scp_amt": D("116000.00"),
        "hifp_pay": D("81200.00"),
        "hifmi_pay": D("21360.00"),
        "hifob_pay": D("0.00"),
        "maf_pay": D("0.00"),
        "acct_pay": D("0.00"),
        "psn_cash_pay": D("17440.00"),
        "fund_pay_sumamt": D("102560.00"),
    }
    acc = calc.accumulators
    assert acc.deductible_used == D("600.00")  # already used: not charged twice
    assert acc.basic_fund_paid == D("101200.00")
    assert acc.inscope_self_paid == D("54800.00")
    assert acc.critical_paid == D("24360.00")
    assert acc.personal_burden == D("40440.00")


CASE_3_LINES = (("OP06", 1, "5000.00"), ("XB02", 3, "33.33"), ("ZC03", 1, "80.00"))


def test_golden_assistance_eligible_resident() -> None:
    """docs/settlement.md case 3, with a fen rounded half-up in the 乙类 share and in the basic fund."""
    claim = _claim(*CASE_3_LINES, assistance_category="minimum_living")
    calc = calculate(claim, RESIDENT_INPATIENT, CATALOGUE, Accumulators())
    assert _amounts(calc.breakdown) == {
        "medfee_sumamt": D("5179.99"),
        "fulamt_ownpay_amt": D("80.00"),
        "overlmt_selfpay": D("0.00"),
        "preselfpay_amt": D("10.00"),
        "inscp_scp_amt": D("5089.99"),
        "hifp_pay": D("3142.99"),
        "hifmi_pay": D("0.00"),
        "hifob_pay": D("0.00"),
        "maf_pay": D("1362.90"),
        "acct_pay": D("0.00"),
        "psn_cash_pay": D("674.10"),
        "fund_pay_sumamt": D("4505.89"),
    }
    assert calc.accumulators.assistance_paid == D("1362.90")
    assert calc.accumulators.assistance_base == D("1947.00")
    # The same claim for a person who is not eligible: no assistance, the cash grows by it.
    plain = calculate(
        _claim(("OP06", 1, "5000.00"), ("XB02", 3, "33.33"), ("ZC03", 1, "80.00")),
        RESIDENT_INPATIENT,
        CATALOGUE,
        Accumulators(),
    )
    assert (plain.breakdown.maf_pay, plain.breakdown.psn_cash_pay) == (D("0.00"), D("2037.00"))


def test_golden_assistance_cap_binds() -> None:
    before = Accumulators(deductible_used=D("600.00"), assistance_base=D("42714.29"), assistance_paid=D("29900.00"))
    claim = _claim(("OP06", 1, "5000.00"), assistance_category="minimum_living")
    calc = calculate(claim, RESIDENT_INPATIENT, CATALOGUE, before)
    # 5000 × 0.70 = 3500 fund; 1500 owed; 0.70 × (42714.29 + 1500) = 30999.00 → capped at 30000: 100.00 left
    assert calc.breakdown.hifp_pay == D("3500.00")
    assert calc.breakdown.maf_pay == D("100.00")
    assert calc.breakdown.psn_cash_pay == D("1400.00")
    assert calc.accumulators.assistance_paid == D("30000.00")


@pytest.mark.parametrize(
    ("group", "maf_pay", "psn_cash_pay"),
    [
        ("extreme_poverty", "1947.00", "90.00"),  # 特困: 100%, no 救助起付线: all still owed in scope
        ("orphan", "1947.00", "90.00"),  # 孤儿: as 特困
        ("minimum_living", "1362.90", "674.10"),  # 低保: 1947.00 × 0.70 (case 3)
        ("severe_disability", "1362.90", "674.10"),  # 重度残疾: 1947.00 × 0.70
        ("poverty_risk", "568.20", "1468.80"),  # 返贫致贫风险: (1947.00 − 1000.00 起付线) × 0.60
    ],
)
def test_golden_assistance_per_group(group: str, maf_pay: str, psn_cash_pay: str) -> None:
    """docs/settlement.md case 4: case 3's claim (1,947.00 still owed in scope) for each group."""
    calc = calculate(_claim(*CASE_3_LINES, assistance_category=group), RESIDENT_INPATIENT, CATALOGUE, Accumulators())
    b = calc.breakdown
    assert (b.hifp_pay, b.hifmi_pay) == (D("3142.99"), D("0.00"))  # the other funds do not depend on the group
    assert (b.maf_pay, b.psn_cash_pay) == (D(maf_pay), D(psn_cash_pay))
    assert b.fund_pay_sumamt == D("3142.99") + D(maf_pay)
    assert (calc.accumulators.assistance_base, calc.accumulators.assistance_paid) == (D("1947.00"), D(maf_pay))
    step = next(s for s in calc.explanation if s.rule == "maf_pay 医疗救助")
    terms = ASSISTANCE[group]
    assert group in step.detail
    assert ASSISTANCE_GROUPS[group] in step.detail  # 特困人员, 低保对象, ...
    assert f"× {terms.share}" in step.detail
    assert f"救助起付线 {terms.deductible}" in step.detail
    assert f"yearly cap {terms.cap}" in step.detail


# One 5,000.00 surgery once the basic fund's 起付线 is used: 3,500.00 fund, 1,500.00 still owed in scope.
SURGERY = (("OP06", 1, "5000.00"),)
DEDUCTIBLE_USED = Accumulators(deductible_used=D("600.00"))


def test_golden_poverty_risk_deductible_is_used_once_per_year() -> None:
    claim = _claim(*SURGERY, assistance_category="poverty_risk")
    first = calculate(claim, RESIDENT_INPATIENT, CATALOGUE, DEDUCTIBLE_USED)
    assert first.breakdown.maf_pay == D("300.00")  # (1500.00 − 1000.00 救助起付线) × 0.60
    second = calculate(claim, RESIDENT_INPATIENT, CATALOGUE, first.accumulators)
    # 起付线 used by the first: (3000.00 − 1000.00) × 0.60 = 1200.00 on the year, 300.00 paid before.
    assert second.breakdown.maf_pay == D("900.00")  # = 1500.00 × 0.60
    assert second.accumulators.assistance_paid == D("1200.00")


def test_golden_extreme_poverty_cap_binds() -> None:
    before = Accumulators(deductible_used=D("600.00"), assistance_base=D("59500.00"), assistance_paid=D("59500.00"))
    calc = calculate(_claim(("OP06", 1, "5000.00"), assistance_category="extreme_poverty"), RESIDENT_INPATIENT,
                     CATALOGUE, before)  # fmt: skip
    # 5000 × 0.70 = 3500 fund; 1500 owed, all of it at 100%, but 60,000 − 59,500 = 500.00 is left of the cap.
    assert (calc.breakdown.maf_pay, calc.breakdown.psn_cash_pay) == (D("500.00"), D("1000.00"))
    assert calc.accumulators.assistance_paid == D("60000.00")


@pytest.mark.parametrize("group", ["orphan", "refugee"])
def test_a_group_the_policy_does_not_list_gets_no_assistance_and_is_told_so(group: str) -> None:
    calc = calculate(_claim(*CASE_3_LINES, assistance_category=group), RESIDENT_SOME_GROUPS, CATALOGUE, Accumulators())
    assert (calc.breakdown.maf_pay, calc.breakdown.psn_cash_pay) == (D("0.00"), D("2037.00"))  # as no 救助对象
    assert (calc.accumulators.assistance_base, calc.accumulators.assistance_paid) == (D("0.00"), D("0.00"))
    step = next(s for s in calc.explanation if s.rule == "maf_pay 医疗救助")
    assert step.amount == D("0.00")
    assert f"{group} " in step.detail
    assert "is not an assistance group of this policy" in step.detail
    assert "extreme_poverty, minimum_living, poverty_risk" in step.detail  # what the version does list


def test_a_person_not_in_any_group_has_no_assistance_step() -> None:
    calc = calculate(_claim(*CASE_3_LINES), RESIDENT_INPATIENT, CATALOGUE, Accumulators())
    assert calc.breakdown.maf_pay == D("0.00")
    assert all(s.rule != "maf_pay 医疗救助" for s in calc.explanation)


def test_a_group_change_in_the_year_pays_the_new_groups_terms_on_what_later_claims_add() -> None:
    """docs/settlement.md: the base and the amount paid are per person-year, whatever the group."""

    def settle(group: str, before: Accumulators) -> Calculation:
        return calculate(_claim(*SURGERY, assistance_category=group), RESIDENT_INPATIENT, CATALOGUE, before)

    as_dibao = settle("minimum_living", DEDUCTIBLE_USED)
    assert as_dibao.breakdown.maf_pay == D("1050.00")  # 1500.00 × 0.70
    # Now 特困: the next claim's 1,500.00 at 100%; the first claim is not topped up.
    as_tekun = settle("extreme_poverty", as_dibao.accumulators)
    assert as_tekun.breakdown.maf_pay == D("1500.00")
    assert as_tekun.accumulators.assistance_paid == D("2550.00")
    # Then 返贫致贫风险: its 起付线 1000 counts on the year's base (3,000.00), already passed: × 0.60.
    as_risk = settle("poverty_risk", as_tekun.accumulators)
    assert as_risk.breakdown.maf_pay == D("900.00")  # (4500 − 1000) × 0.6 − (3000 − 1000) × 0.6
    assert as_risk.accumulators.assistance_base == D("4500.00")
    # A group whose cap is below what the year already paid: nothing more.
    capped = replace(as_risk.accumulators, assistance_paid=D("20000.00"))
    assert settle("poverty_risk", capped).breakdown.maf_pay == D("0.00")
    assert settle("minimum_living", capped).breakdown.maf_pay == D("1050.00")  # 低保's cap 30,000 is not reached


def test_deductible_is_used_once_per_year() -> None:
    first = calculate(_claim(("OP06", 1, "500.00")), RESIDENT_INPATIENT, CATALOGUE, Accumulators())
    assert first.breakdown.hifp_pay == D("0.00")  # all 500.00 goes to the 600.00 deductible
    second = calculate(_claim(("OP06", 1, "500.00")), RESIDENT_INPATIENT, CATALOGUE, first.accumulators)
    # 100.00 deductible left; (500 − 100) × 0.70 = 280.00
    assert second.breakdown.hifp_pay == D("280.00")
    assert second.accumulators.deductible_used == D("600.00")
    third = calculate(_claim(("OP06", 1, "500.00")), RESIDENT_INPATIENT, CATALOGUE, second.accumulators)
    assert third.breakdown.hifp_pay == D("350.00")


def test_basic_fund_cap_binds() -> None:
    before = Accumulators(deductible_used=D("600.00"), basic_fund_paid=D("149900.00"), basic_fund_due=D("149900.00"))
    calc = calculate(_claim(("OP06", 1, "1000.00")), RESIDENT_INPATIENT, CATALOGUE, before)
    assert calc.breakdown.hifp_pay == D("100.00")
    assert calc.accumulators.basic_fund_paid == D("150000.00")
    again = calculate(_claim(("OP06", 1, "1000.00")), RESIDENT_INPATIENT, CATALOGUE, calc.accumulators)
    assert again.breakdown.hifp_pay == D("0.00")


def test_out_of_catalogue_item_is_wholly_self_paid() -> None:
    b = calculate(_claim(("NOPE", 2, "10.00")), RESIDENT_INPATIENT, CATALOGUE, Accumulators()).breakdown
    assert (b.fulamt_ownpay_amt, b.inscp_scp_amt, b.psn_cash_pay) == (D("20.00"), D("0.00"), D("20.00"))


def test_critical_entitlement_tiers() -> None:
    assert critical_entitlement(D("15000"), RESIDENT_INPATIENT) == 0
    assert critical_entitlement(D("50000"), RESIDENT_INPATIENT) == D("21000")  # 35000 × 0.60
    assert critical_entitlement(D("60000"), RESIDENT_INPATIENT) == D("28000")  # + 10000 × 0.70


# Properties -------------------------------------------------------------------------------------------

money = st.decimals(min_value=D("0.00"), max_value=D("30000.00"), places=2)
calc_lines = st.builds(
    LineInput,
    item_code=st.sampled_from([*sorted(CATALOGUE), "NOPE"]),
    quantity=st.integers(min_value=1, max_value=20),
    unit_price=st.decimals(min_value=D("0.00"), max_value=D("20000.00"), places=2),
)
claims = st.builds(
    ClaimInput,
    lines=st.lists(calc_lines, max_size=6).map(tuple),
    visit_type=st.just("inpatient"),
    # None: not a 救助对象; "refugee": a group no policy knows (the projection stores what enrollment sent).
    assistance_category=st.sampled_from([None, *ASSISTANCE_GROUPS, "refugee"]),
    cross_region=st.sampled_from(["local", "filed", "unfiled"]),
    account_balance=money,
)
# A version that lists only some groups: 孤儿 and 重度残疾 get no 医疗救助 under it.
RESIDENT_SOME_GROUPS = replace(
    RESIDENT_INPATIENT,
    version="TEST-resident-inpatient-some-groups-v1",
    assistance={g: t for g, t in ASSISTANCE.items() if g not in ("orphan", "severe_disability")},
)
policies = st.sampled_from([EMPLOYEE_INPATIENT, RESIDENT_INPATIENT, RESIDENT_SOME_GROUPS])


@st.composite
def consistent_accumulators(draw: st.DrawFn, policy: Policy) -> Accumulators:
    """A year so far, reached by settling earlier claims (so the accumulators are consistent)."""
    acc = Accumulators()
    for claim in draw(st.lists(claims, max_size=3)):
        acc = calculate(claim, policy, CATALOGUE, acc).accumulators
    return acc


def _check_invariants(calc: Calculation, policy: Policy, before: Accumulators) -> None:
    b = calc.breakdown
    for name, amount in _amounts(b).items():
        assert amount >= 0, name
        assert amount.as_tuple().exponent == -2, (name, amount)
    assert b.medfee_sumamt == sum((p.amount for p in calc.priced), D("0.00"))
    assert b.fund_pay_sumamt + b.acct_pay + b.psn_cash_pay == b.medfee_sumamt
    assert b.medfee_sumamt == b.fulamt_ownpay_amt + b.overlmt_selfpay + b.preselfpay_amt + b.inscp_scp_amt
    assert b.fund_pay_sumamt == b.hifp_pay + b.hifmi_pay + b.hifob_pay + b.maf_pay
    assert b.fund_pay_sumamt <= b.inscp_scp_amt  # funds only ever pay in-scope amounts
    after = calc.accumulators
    assert after.deductible_used <= policy.deductible
    assert after.basic_fund_paid <= policy.cap
    assert after.critical_paid <= policy.critical_cap
    assert after.assistance_paid <= max(t.cap for t in policy.assistance.values())
    assert after.basic_fund_paid - before.basic_fund_paid == b.hifp_pay
    assert after.critical_paid - before.critical_paid == b.hifmi_pay + b.hifob_pay
    assert after.assistance_paid - before.assistance_paid == b.maf_pay
    assert after.personal_burden - before.personal_burden == b.acct_pay + b.psn_cash_pay


@settings(max_examples=200, deadline=None)
@given(st.data(), policies, claims)
def test_calculation_invariants(data: st.DataObject, policy: Policy, claim: ClaimInput) -> None:
    before = data.draw(consistent_accumulators(policy))
    calc = calculate(claim, policy, CATALOGUE, before)
    _check_invariants(calc, policy, before)
    assert calc.breakdown.acct_pay <= claim.account_balance
    assert SettlementBreakdown.model_validate_json(calc.breakdown.model_dump_json()) == calc.breakdown


@settings(max_examples=200, deadline=None)
@given(
    st.data(),
    policies,
    claims,
    claims,
    st.sampled_from([None, *ASSISTANCE_GROUPS]),
    st.sampled_from(["local", "filed", "unfiled"]),
)
def test_order_of_two_claims_does_not_change_total_fund_paid(
    data: st.DataObject, policy: Policy, a: ClaimInput, b: ClaimInput, group: str | None, region: str
) -> None:
    # Same person, same group and same ratio (a lower unfiled ratio makes order matter by design); the
    # year before may have had other groups.
    a = ClaimInput(a.lines, a.visit_type, group, region, a.account_balance)  # type: ignore[arg-type]
    b = ClaimInput(b.lines, b.visit_type, group, region, b.account_balance)  # type: ignore[arg-type]
    start = data.draw(consistent_accumulators(policy))

    def run(first: ClaimInput, second: ClaimInput) -> tuple[Decimal, Accumulators]:
        one = calculate(first, policy, CATALOGUE, start)
        two = calculate(second, policy, CATALOGUE, one.accumulators)
        _check_invariants(one, policy, start)
        _check_invariants(two, policy, one.accumulators)
        return one.breakdown.fund_pay_sumamt + two.breakdown.fund_pay_sumamt, two.accumulators

    fund_ab, acc_ab = run(a, b)
    fund_ba, acc_ba = run(b, a)
    assert fund_ab == fund_ba
    assert acc_ab.deductible_used == acc_ba.deductible_used
    assert acc_ab.basic_fund_paid == acc_ba.basic_fund_paid
    assert acc_ab.critical_paid == acc_ba.critical_paid
    assert acc_ab.assistance_paid == acc_ba.assistance_paid


@settings(max_examples=300, deadline=None)
@given(st.data(), policies, claims)
def test_assistance_stays_within_the_groups_cap_and_what_is_still_owed(
    data: st.DataObject, policy: Policy, claim: ClaimInput
) -> None:
    before = data.draw(consistent_accumulators(policy))  # earlier claims of the year, any group
    calc = calculate(claim, policy, CATALOGUE, before)
    b = calc.breakdown
    owed = b.inscp_scp_amt - b.hifp_pay - b.hifmi_pay - b.hifob_pay  # in scope, after the other funds
    assert 0 <= b.maf_pay <= owed
    terms = policy.assistance.get(claim.assistance_category or "")
    if terms is None:  # not a 救助对象, or a group this version does not list: nothing, base unchanged
        assert b.maf_pay == 0
        assert calc.accumulators.assistance_base == before.assistance_base
        return
    assert b.maf_pay <= to_fen(owed * terms.share) + D("0.01")  # the group's share, a fen of yearly rounding
    if b.maf_pay > 0:
        assert calc.accumulators.assistance_paid <= terms.cap  # per person-year, whatever was paid before
    step = next(s for s in calc.explanation if s.rule == "maf_pay 医疗救助")
    assert step.amount == b.maf_pay
    assert f"{claim.assistance_category} {ASSISTANCE_GROUPS[claim.assistance_category or '']}" in step.detail


@settings(max_examples=100, deadline=None)
@given(st.lists(claims, min_size=1, max_size=8), st.sampled_from(sorted(ASSISTANCE)))
def test_a_groups_yearly_assistance_never_passes_its_cap(claims_of_year: list[ClaimInput], group: str) -> None:
    acc = Accumulators()
    terms = ASSISTANCE[group]
    for claim in claims_of_year:
        calc = calculate(replace(claim, assistance_category=group), RESIDENT_INPATIENT, CATALOGUE, acc)
        acc = calc.accumulators
        # Rounded on the year: what one group's claims paid is its yearly figure, within the cap.
        assert acc.assistance_paid == min(
            to_fen(terms.cap), to_fen(max(acc.assistance_base - terms.deductible, D(0)) * terms.share)
        )
