"""Checks before the calculation (eligibility, institution, doctor) and the reversal arithmetic."""

from __future__ import annotations

from dataclasses import replace
from datetime import date, timedelta
from decimal import Decimal as D

from hypothesis import given, settings
from hypothesis import strategies as st

from services.settlement.ledger import balanced, journal
from services.settlement.service import (
    Accumulators,
    AssistanceTerms,
    CatalogueItem,
    ClaimInput,
    Coverage,
    CriticalTier,
    Filing,
    InstitutionInfo,
    LineInput,
    Policy,
    PractitionerInfo,
    Refusal,
    SanctionInfo,
    accumulator_delta,
    age_on,
    burden_crossings,
    calculate,
    cross_region,
    eligibility_refusal,
    institution_refusal,
    parse_burden_thresholds,
    pooling_region,
    practitioner_refusal,
    practitioner_suspended,
    region_within,
    stay_days,
    without,
)

TODAY = date(2026, 11, 23)
HOSPITAL = InstitutionInfo("H35058200001", "晋江市医院", 3, "350582", "hospital", "active")
YEAR = Coverage("resident", date(2026, 1, 1), date(2026, 12, 31), region_code="350582")


def test_pooling_region_is_the_city() -> None:
    assert pooling_region("350582") == "350500"
    assert pooling_region("350500") == "350500"
    assert cross_region("350582", "350503") == "local"
    assert cross_region("350582", "350102") == "unfiled"


def test_age_and_stay_days() -> None:
    assert age_on(date(1960, 11, 24), TODAY) == 65
    assert age_on(date(1960, 11, 23), TODAY) == 66
    assert stay_days(TODAY, TODAY) == 1
    assert stay_days(date(2026, 11, 1), TODAY) == 22


def test_unknown_or_stopped_institution_is_refused_with_its_kind() -> None:
    assert institution_refusal("H1", None, [], TODAY) == Refusal(
        "institution-unknown", "H1 is not a registered designated institution (定点机构)."
    )
    assert institution_refusal(HOSPITAL.code, HOSPITAL, [], TODAY) is None
    for status in ("suspended", "terminated"):
        stopped = InstitutionInfo(**{**HOSPITAL.__dict__, "agreement_status": status})
        refusal = institution_refusal(HOSPITAL.code, stopped, [], TODAY)
        assert refusal is not None
        assert refusal.kind == "institution-suspended"
        assert status in refusal.detail


def test_only_a_settlement_stopping_sanction_in_effect_refuses() -> None:
    letter = SanctionInfo("warning_letter", False, TODAY - timedelta(days=3))
    red_later = SanctionInfo("red_card", True, TODAY + timedelta(days=1))
    assert institution_refusal(HOSPITAL.code, HOSPITAL, [letter, red_later], TODAY) is None
    red_now = SanctionInfo("red_card", True, TODAY)
    refusal = institution_refusal(HOSPITAL.code, HOSPITAL, [letter, red_now], TODAY)
    assert refusal is not None
    assert refusal.kind == "institution-suspended"
    assert "red_card" in refusal.detail


def test_practitioner_suspension_window_and_reinstatement() -> None:
    assert not practitioner_suspended(None, TODAY)
    open_ended = PractitionerInfo(TODAY - timedelta(days=10), None, None, "12 points")
    assert practitioner_suspended(open_ended, TODAY)
    assert not practitioner_suspended(open_ended, TODAY - timedelta(days=11))
    bounded = PractitionerInfo(TODAY - timedelta(days=10), TODAY - timedelta(days=1), None)
    assert not practitioner_suspended(bounded, TODAY)
    # A reinstatement within the suspension ends it from its date, whichever event came first.
    reinstated = PractitionerInfo(TODAY - timedelta(days=10), None, TODAY - timedelta(days=2))
    assert not practitioner_suspended(reinstated, TODAY)
    assert practitioner_suspended(reinstated, TODAY - timedelta(days=3))
    # An old reinstatement does not cancel a newer suspension.
    older = PractitionerInfo(TODAY - timedelta(days=10), None, TODAY - timedelta(days=30))
    assert practitioner_suspended(older, TODAY)
    refusal = practitioner_refusal("D1", open_ended, TODAY)
    assert refusal is not None
    assert refusal.kind == "practitioner-suspended"
    assert "12 points" in refusal.detail
    assert practitioner_refusal("D1", None, TODAY) is None


def _eligibility(**kw: object) -> Refusal | Coverage:
    args: dict[str, object] = {
        "known": True,
        "died_on": None,
        "coverages": [YEAR],
        "admitted_on": date(2026, 11, 1),
        "discharged_on": TODAY,
    }
    args.update(kw)
    return eligibility_refusal("P00000000001", **args)  # type: ignore[arg-type]


def test_eligibility_outcomes() -> None:
    assert _eligibility() == YEAR
    assert isinstance(unknown := _eligibility(known=False), Refusal)
    assert unknown.kind == "person-unknown"
    assert isinstance(none := _eligibility(coverages=[]), Refusal)
    assert none.kind == "not-insured"
    dead = _eligibility(died_on=TODAY - timedelta(days=1))
    assert isinstance(dead, Refusal)
    assert dead.kind == "person-deceased"
    assert _eligibility(died_on=TODAY) == YEAR  # died in hospital on the day of discharge


def test_care_before_birth_is_refused() -> None:
    born = date(2026, 11, 3)
    assert isinstance(before := _eligibility(born_on=born), Refusal)  # admitted 2026-11-01
    assert before.kind == "date-before-birth"
    assert str(born) in before.detail
    assert _eligibility(born_on=born, admitted_on=born) == YEAR  # a newborn's stay begins at birth
    assert _eligibility(born_on=None) == YEAR


def test_suspended_or_terminated_coverage_stops_from_its_date() -> None:
    suspended = Coverage(**{**YEAR.__dict__, "suspended_from": TODAY})
    assert isinstance(s := _eligibility(coverages=[suspended]), Refusal)
    assert s.kind == "enrollment-suspended"  # issue 5: "a 422 problem saying which"
    assert str(TODAY) in s.detail
    assert _eligibility(coverages=[suspended], discharged_on=TODAY - timedelta(days=1)) == suspended
    terminated = Coverage(**{**YEAR.__dict__, "terminated_on": TODAY - timedelta(days=1)})
    assert isinstance(t := _eligibility(coverages=[terminated]), Refusal)
    assert t.kind == "not-insured"
    assert _eligibility(coverages=[terminated], discharged_on=TODAY - timedelta(days=1)) == terminated
    # Suspended, then terminated: after the termination day the person is no longer insured at all.
    ended = Coverage(
        **{**YEAR.__dict__, "suspended_from": TODAY - timedelta(days=5), "terminated_on": TODAY - timedelta(days=1)}
    )
    assert isinstance(e := _eligibility(coverages=[ended]), Refusal)
    assert e.kind == "not-insured"
    assert isinstance(e := _eligibility(coverages=[ended], discharged_on=TODAY - timedelta(days=2)), Refusal)
    assert e.kind == "enrollment-suspended"


POLICY = Policy(
    version="TEST-resident-inpatient-v1",
    scheme="resident",
    deductible=D("600.00"),
    ratio=D("0.67"),
    cap=D("5000.00"),
    critical_threshold=D("1500.00"),
    critical_tiers=(CriticalTier(D("5000.00"), D("0.60")), CriticalTier(None, D("0.70"))),
    critical_cap=D("4000.00"),
    unfiled_reduction=D("0.15"),
    assistance={
        "extreme_poverty": AssistanceTerms(D("1.00"), D("6000.00")),
        "minimum_living": AssistanceTerms(D("0.70"), D("3000.00")),
        "poverty_risk": AssistanceTerms(D("0.60"), D("2000.00"), deductible=D("500.00")),
    },
)
CATALOGUE = {
    "A": CatalogueItem("A", "drug", "A"),
    "B": CatalogueItem("B", "drug", "B", preselfpay_ratio=D("0.10"), limit_price=D("50.00")),
}
claims = st.builds(
    lambda lines, group: ClaimInput(lines=tuple(lines), visit_type="inpatient", assistance_category=group),
    st.lists(
        st.builds(
            LineInput,
            item_code=st.sampled_from(["A", "B"]),
            quantity=st.integers(1, 30),
            unit_price=st.decimals(D("0.01"), D("999.99"), places=2),
        ),
        min_size=1,
        max_size=4,
    ),
    # the person's group may change within the year: a reversal still takes back exactly its own part
    st.sampled_from([None, "extreme_poverty", "minimum_living", "poverty_risk", "orphan"]),
)


@settings(max_examples=100, deadline=None)
@given(st.lists(claims, min_size=2, max_size=6), st.data())
def test_reversing_any_settlement_takes_back_exactly_what_it_added(
    claims: list[ClaimInput], data: st.DataObject
) -> None:
    current = Accumulators()
    deltas = []
    for claim in claims:
        calc = calculate(claim, POLICY, CATALOGUE, current)
        deltas.append(accumulator_delta(current, calc.accumulators))
        current = calc.accumulators
    undone = data.draw(st.sets(st.integers(0, len(claims) - 1)))
    for index in undone:
        current = without(current, deltas[index])
    for name, value in current.__dict__.items():
        expected = sum((d[name] for i, d in enumerate(deltas) if i not in undone), D(0))
        assert value == expected, name
        assert value >= 0, name
    if len(undone) == len(claims):
        assert current == Accumulators()


def test_burden_bands_are_raised_when_crossed_upwards() -> None:
    bands = parse_burden_thresholds("yellow:50000,orange:100000,red:200000")
    assert [(t.band, t.amount) for t in bands] == [
        ("yellow", D("50000.00")),
        ("orange", D("100000.00")),
        ("red", D("200000.00")),
    ]
    assert [t.band for t in burden_crossings(D("49999.99"), D("100000.00"), bands)] == ["yellow", "orange"]
    assert burden_crossings(D("50000.00"), D("99999.99"), bands) == []
    assert burden_crossings(D("120000"), D("60000"), bands) == []  # a reversal lowers it: no alert


def test_bad_burden_thresholds_are_refused() -> None:
    for text in ("green:1", "yellow:0", "yellow:x", "yellow:2,orange:1", "yellow"):
        try:
            parse_burden_thresholds(text)
        except ValueError:
            continue
        raise AssertionError(f"{text!r} was accepted")


@settings(max_examples=100, deadline=None)
@given(claims)
def test_every_journal_balances_and_a_reversal_nets_each_account_to_zero(claim: ClaimInput) -> None:
    employee = replace(POLICY, scheme="employee")
    for policy, balance in ((POLICY, D("0")), (employee, D("250.00"))):
        calc = calculate(replace(claim, account_balance=balance), policy, CATALOGUE, Accumulators())
        posted = journal(calc.breakdown, "settlement")
        undone = journal(calc.breakdown, "reversal")
        assert balanced(posted)
        assert balanced(undone)
        credited = sum((line.credit for line in posted), D(0))
        assert credited == calc.breakdown.fund_pay_sumamt + calc.breakdown.acct_pay
        net: dict[str, D] = {}
        for line in posted + undone:
            net[line.account] = net.get(line.account, D(0)) + line.debit - line.credit
        assert all(v == 0 for v in net.values())
        assert all((line.debit > 0) != (line.credit > 0) for line in posted)


def test_care_elsewhere_is_filed_only_under_a_filing_valid_for_the_place_and_date() -> None:
    fuzhou = Filing("350100", date(2026, 8, 1), date(2026, 12, 31))
    province = Filing("350000", date(2026, 1, 1), date(2026, 12, 31))
    on = date(2026, 9, 1)
    assert region_within("350102", "350100")
    assert region_within("350102", "350000")
    assert not region_within("350582", "350100")
    assert cross_region("350102", "350582", [fuzhou], on) == "filed"
    assert cross_region("350102", "350582", [fuzhou], date(2026, 7, 31)) == "unfiled"
    assert cross_region("440305", "350582", [fuzhou, province], on) == "unfiled"
    assert cross_region("350203", "350582", [province], on) == "filed"
    revoked = replace(fuzhou, revoked_on=date(2026, 8, 15))
    assert cross_region("350102", "350582", [revoked], on) == "unfiled"
    assert cross_region("350102", "350582", [revoked], date(2026, 8, 14)) == "filed"
    assert cross_region("350503", "350582", [], on) == "local"
