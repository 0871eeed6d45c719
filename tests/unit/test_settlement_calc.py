"""Settlement arithmetic: priced lines, coverage, and the three-tier calculation always add up to the fen."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from services.settlement.service import (
    Accumulators,
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

EMPLOYEE_INPATIENT = Policy(
    version="TEST-employee-inpatient-v1",
    scheme="employee",
    deductible=D("800.00"),
    ratio=D("0.90"),
    cap=D("200000.00"),
    critical_threshold=D("20000.00"),
    critical_tiers=(CriticalTier(None, D("0.80")),),
    critical_cap=D("300000.00"),
    assistance_share=D("0.70"),
    assistance_cap=D("30000.00"),
    unfiled_reduction=D("0.10"),
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
    assistance_share=D("0.70"),
    assistance_cap=D("30000.00"),
    unfiled_reduction=D("0.15"),
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


def test_golden_assistance_eligible_resident() -> None:
    """docs/settlement.md case 3, with a fen rounded half-up in the 乙类 share and in the basic fund."""
    claim = _claim(("OP06", 1, "5000.00"), ("XB02", 3, "33.33"), ("ZC03", 1, "80.00"), assistance_eligible=True)
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
    claim = _claim(("OP06", 1, "5000.00"), assistance_eligible=True)
    calc = calculate(claim, RESIDENT_INPATIENT, CATALOGUE, before)
    # 5000 × 0.70 = 3500 fund; 1500 owed; 0.70 × (42714.29 + 1500) = 30999.00 → capped at 30000: 100.00 left
    assert calc.breakdown.hifp_pay == D("3500.00")
    assert calc.breakdown.maf_pay == D("100.00")
    assert calc.breakdown.psn_cash_pay == D("1400.00")
    assert calc.accumulators.assistance_paid == D("30000.00")


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
    assistance_eligible=st.booleans(),
    cross_region=st.sampled_from(["local", "filed", "unfiled"]),
    account_balance=money,
)
policies = st.sampled_from([EMPLOYEE_INPATIENT, RESIDENT_INPATIENT])


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
    assert after.assistance_paid <= policy.assistance_cap
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
    st.booleans(),
    st.sampled_from(["local", "filed", "unfiled"]),
)
def test_order_of_two_claims_does_not_change_total_fund_paid(
    data: st.DataObject, policy: Policy, a: ClaimInput, b: ClaimInput, eligible: bool, region: str
) -> None:
    # Same person, same eligibility and same ratio (a lower unfiled ratio makes order matter by design).
    a = ClaimInput(a.lines, a.visit_type, eligible, region, a.account_balance)  # type: ignore[arg-type]
    b = ClaimInput(b.lines, b.visit_type, eligible, region, b.account_balance)  # type: ignore[arg-type]
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
