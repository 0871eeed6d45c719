"""家庭共济: whose personal account pays, and when a binding is in force. Pure."""

from __future__ import annotations

from dataclasses import replace
from datetime import date
from decimal import Decimal as D

from services.settlement.service import Accumulators, FamilyBinding, calculate, family_payer_refusal
from tests.unit.test_settlement_calc import CATALOGUE as CALC_CATALOGUE
from tests.unit.test_settlement_calc import RESIDENT_INPATIENT, _claim

ON = date(2026, 9, 5)


def test_a_binding_is_in_force_from_its_day_until_the_day_it_ends() -> None:
    binding = FamilyBinding(date(2026, 3, 1), date(2026, 9, 5))
    assert not binding.active_on(date(2026, 2, 28))
    assert binding.active_on(date(2026, 3, 1))
    assert binding.active_on(date(2026, 9, 4))
    assert not binding.active_on(date(2026, 9, 5))
    assert FamilyBinding(date(2026, 3, 1)).active_on(date(2030, 1, 1))


def test_only_a_binding_in_force_lets_an_account_pay_for_someone_else() -> None:
    assert family_payer_refusal("P1", "P2", [FamilyBinding(date(2026, 1, 1))], ON) is None
    missing = family_payer_refusal("P1", "P2", [], ON)
    assert missing is not None
    assert missing.kind == "family-account-not-bound"
    assert "no family binding" in missing.detail
    ended = family_payer_refusal("P1", "P2", [FamilyBinding(date(2026, 1, 1), date(2026, 6, 1))], ON)
    assert ended is not None
    assert "ended on 2026-06-01" in ended.detail
    # Rebound after an earlier binding ended: the new one counts.
    rebound = [FamilyBinding(date(2026, 1, 1), date(2026, 6, 1)), FamilyBinding(date(2026, 7, 1))]
    assert family_payer_refusal("P1", "P2", rebound, ON) is None


def test_a_family_account_pays_the_personal_part_of_a_resident_who_has_no_account() -> None:
    claim = _claim(("OP06", 1, "5000.00"), ("XB02", 3, "33.33"))
    own = calculate(replace(claim, account_balance=D("500.00")), RESIDENT_INPATIENT, CALC_CATALOGUE, Accumulators())
    assert own.breakdown.acct_pay == D("0.00"), "a resident has no personal account of their own"
    family = calculate(
        replace(claim, account_balance=D("500.00"), family_account_payer="P00000000002"),
        RESIDENT_INPATIENT,
        CALC_CATALOGUE,
        Accumulators(),
    )
    b = family.breakdown
    assert b.acct_pay == D("500.00")
    assert b.psn_cash_pay == own.breakdown.psn_cash_pay - D("500.00")
    assert b.fund_pay_sumamt == own.breakdown.fund_pay_sumamt, "who pays the personal part never moves the funds"
    assert b.medfee_sumamt == b.fund_pay_sumamt + b.acct_pay + b.psn_cash_pay
    assert "P00000000002 (家庭共济)" in next(s.detail for s in family.explanation if s.rule == "acct_pay 个人账户")
    # The personal burden counts account and cash alike.
    assert family.accumulators.personal_burden == own.accumulators.personal_burden
