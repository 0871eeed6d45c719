"""Cross-region journals (the place of care advances), monthly netting per pair of regions."""

from __future__ import annotations

from dataclasses import replace
from decimal import Decimal as D

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from services.settlement.clearing import (
    Advance,
    SettlementTotals,
    clearing_journal,
    month_bounds,
    net_by_pair,
    owed_to_institution,
)
from services.settlement.ledger import (
    DEPOSITS,
    OWED,
    PAYABLE,
    RECEIVABLE,
    JournalLine,
    balanced,
    balanced_per_region,
    journal,
)
from services.settlement.service import Accumulators, ClaimInput, calculate
from tests.unit.test_settlement_checks import CATALOGUE, POLICY, claims

QUANZHOU, FUZHOU = "350500", "350100"


@settings(max_examples=100, deadline=None)
@given(claims)
def test_care_elsewhere_is_advanced_by_the_place_of_care_and_owed_by_the_home_region(claim: ClaimInput) -> None:
    employee = replace(POLICY, scheme="employee")
    for policy, balance in ((POLICY, D("0")), (employee, D("250.00"))):
        calc = calculate(replace(claim, account_balance=balance), policy, CATALOGUE, Accumulators())
        paid = calc.breakdown.fund_pay_sumamt + calc.breakdown.acct_pay
        posted = journal(calc.breakdown, "settlement", home_region=QUANZHOU, care_region=FUZHOU)
        undone = journal(calc.breakdown, "reversal", home_region=QUANZHOU, care_region=FUZHOU)
        assert balanced(posted)
        assert balanced_per_region(posted)
        assert balanced(undone)
        assert balanced_per_region(undone)
        by_account = {line.account: line for line in posted}
        if paid == 0:
            assert posted == []
            continue
        # The place of care owes its hospital and holds the claim on the home region.
        assert by_account[PAYABLE].region == FUZHOU
        assert by_account[PAYABLE].credit == paid
        assert (by_account[RECEIVABLE].region, by_account[RECEIVABLE].counterparty_region) == (FUZHOU, QUANZHOU)
        assert by_account[RECEIVABLE].debit == paid
        # The home region pays under its own policy, and owes the place of care.
        assert (by_account[OWED].region, by_account[OWED].counterparty_region) == (QUANZHOU, FUZHOU)
        assert by_account[OWED].credit == paid
        expense_regions = {line.region for line in posted if line.account not in (PAYABLE, RECEIVABLE, OWED)}
        assert expense_regions == {QUANZHOU}
        net: dict[tuple[str, str], D] = {}
        for line in posted + undone:
            key = (line.region, line.account)
            net[key] = net.get(key, D(0)) + line.debit - line.credit
        assert all(v == 0 for v in net.values())


def test_local_care_has_no_inter_region_lines() -> None:
    calc = calculate(
        ClaimInput(lines=(), visit_type="inpatient"), POLICY, CATALOGUE, Accumulators()
    )  # an empty bill journals nothing
    assert journal(calc.breakdown, "settlement", home_region=QUANZHOU, care_region=QUANZHOU) == []


def test_each_pair_of_regions_is_netted_into_one_payment() -> None:
    lines = net_by_pair(
        [
            Advance(FUZHOU, QUANZHOU, D("1000.00")),  # Fuzhou advanced for Quanzhou's insured
            Advance(QUANZHOU, FUZHOU, D("300.00")),
            Advance("440100", QUANZHOU, D("50.00")),
            Advance(QUANZHOU, "440100", D("50.00")),  # cancels exactly: still shown, net 0
            Advance(QUANZHOU, QUANZHOU, D("999.00")),  # not inter-region: ignored
        ]
    )
    by_pair = {(li.payer_region, li.payee_region): li for li in lines}
    assert set(by_pair) == {(QUANZHOU, FUZHOU), ("440100", QUANZHOU)}
    qz_fz = by_pair[(QUANZHOU, FUZHOU)]
    assert (qz_fz.net_amount, qz_fz.payee_advanced, qz_fz.payer_advanced) == (D("700.00"), D("1000.00"), D("300.00"))
    assert [li.net_amount for li in lines if FUZHOU not in (li.payer_region, li.payee_region)] == [D("0.00")]


@settings(max_examples=200, deadline=None)
@given(
    st.lists(
        st.tuples(
            st.sampled_from(["350100", "350500", "440100", "110000"]),
            st.sampled_from(["350100", "350500", "440100", "110000"]),
            st.decimals(min_value=-500, max_value=100000, places=2),
        ),
        max_size=30,
    )
)
def test_netting_preserves_every_regions_net_position(raw: list[tuple[str, str, D]]) -> None:
    advances = [Advance(c, d, a) for c, d, a in raw]
    lines = net_by_pair(advances)
    position: dict[str, D] = {}  # what a region is owed overall (+) or owes (−)
    for a in advances:
        if a.creditor != a.debtor:
            position[a.creditor] = position.get(a.creditor, D(0)) + a.amount
            position[a.debtor] = position.get(a.debtor, D(0)) - a.amount
    cleared: dict[str, D] = {}
    for li in lines:
        cleared[li.payee_region] = cleared.get(li.payee_region, D(0)) + li.net_amount
        cleared[li.payer_region] = cleared.get(li.payer_region, D(0)) - li.net_amount
    assert {k: v for k, v in position.items() if v} == {k: v for k, v in cleared.items() if v}
    assert all(li.net_amount >= 0 for li in lines)
    pairs = [frozenset((li.payer_region, li.payee_region)) for li in lines]
    assert len(pairs) == len(set(pairs))  # one payment per pair


@pytest.mark.parametrize(
    ("month", "start", "end"),
    [("2026-11", "2026-11-01", "2026-12-01"), ("2026-12", "2026-12-01", "2027-01-01")],
)
def test_month_bounds(month: str, start: str, end: str) -> None:
    assert [d.isoformat() for d in month_bounds(month)] == [start, end]


@pytest.mark.parametrize("bad", ["2026-13", "2026-1", "26-01", "2026-00", ""])
def test_a_bad_month_is_refused(bad: str) -> None:
    with pytest.raises(ValueError, match="is not YYYY-MM"):
        month_bounds(bad)


@pytest.mark.parametrize("far", ["1949-12", "0001-01", "0000-01", "2200-01", "9999-12"])
def test_a_month_no_settlement_can_lie_in_is_refused(far: str) -> None:
    """The API fuzzer cleared 0001-01 and its like: each run was stored and journalled for ever."""
    with pytest.raises(ValueError, match="is outside 1950-01"):
        month_bounds(far)


def test_the_institution_is_owed_funds_and_accounts_net_of_reversals() -> None:
    settled = SettlementTotals(3, D("3000.00"), D("1500.00"), D("200.00"), D("1300.00"))
    reversed_ = SettlementTotals(1, D("1000.00"), D("500.00"), D("0.00"), D("500.00"))
    assert owed_to_institution(settled, reversed_) == D("1200.00")


regions = st.sampled_from(["350500", "350100", "350200", "440300"])
amounts = st.decimals(min_value=D("-500.00"), max_value=D("100000.00"), places=2)


@settings(max_examples=200, deadline=None)
@given(st.lists(st.tuples(regions, regions, amounts), max_size=12))
def test_the_clearing_journal_balances_each_region_and_closes_every_inter_region_claim(
    postings: list[tuple[str, str, D]],
) -> None:
    # What the month booked: per advance, the place of care's receivable and the home region's payable.
    advances = [Advance(care, home, amount) for care, home, amount in postings if care != home]
    booked: list[JournalLine] = []
    for advance in advances:
        booked += [
            JournalLine(RECEIVABLE, advance.amount, D("0.00"), advance.creditor, advance.debtor),
            JournalLine(OWED, D("0.00"), advance.amount, advance.debtor, advance.creditor),
        ]
    cleared = net_by_pair(advances)
    entries = clearing_journal(cleared)
    assert balanced_per_region(entries)
    assert all(line.debit >= 0 and line.credit >= 0 and (line.debit == 0 or line.credit == 0) for line in entries)
    net: dict[tuple[str, str, str], D] = {}
    for line in booked + entries:
        key = (line.region, line.account, line.counterparty_region)
        net[key] = net.get(key, D("0.00")) + line.debit - line.credit
    assert all(amount == 0 for (_, account, _), amount in net.items() if account in (RECEIVABLE, OWED)), net
    # What moves between the deposits is exactly the netted amounts, from each payer to its payee.
    deposits: dict[str, D] = {}
    for pair in cleared:
        deposits[pair.payee_region] = deposits.get(pair.payee_region, D("0.00")) + pair.net_amount
        deposits[pair.payer_region] = deposits.get(pair.payer_region, D("0.00")) - pair.net_amount
    for region, amount in deposits.items():
        assert sum((v for (r, account, _), v in net.items() if (r, account) == (region, DEPOSITS)), D(0)) == amount


def test_a_clearing_line_posts_six_entries_and_nothing_for_zero_amounts() -> None:
    line = net_by_pair([Advance(FUZHOU, QUANZHOU, D("300.00")), Advance(QUANZHOU, FUZHOU, D("100.00"))])
    entries = clearing_journal(line)
    assert len(entries) == 6
    assert JournalLine(DEPOSITS, D("0.00"), D("200.00"), QUANZHOU, FUZHOU) in entries  # Quanzhou pays the net
    assert JournalLine(DEPOSITS, D("200.00"), D("0.00"), FUZHOU, QUANZHOU) in entries
    one_way = clearing_journal(net_by_pair([Advance(FUZHOU, QUANZHOU, D("300.00"))]))
    assert len(one_way) == 4  # no receivable of Quanzhou's on Fuzhou to close
    assert clearing_journal(net_by_pair([Advance(FUZHOU, QUANZHOU, D("0.00"))])) == []
