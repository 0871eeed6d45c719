"""Monthly inter-region clearing (异地就医清算) and the institutions' daily reconciliation. Pure.

Clearing: each region that advanced for another region's insured holds a receivable on it (see
ledger.py). Per unordered pair of regions the month's receivables both ways are netted, and only
the difference is paid: one line per pair, from the region that owes more to the other.

The run is journalled (`clearing_journal`): in each region's books the month's receivable on the
other region and its payable to it are closed, and the net transfer leaves or reaches the fund's
bank deposits, so both books still balance and nothing of the month stays receivable.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date
from decimal import Decimal

from services.settlement.ledger import DEPOSITS, OWED, RECEIVABLE, JournalLine

ZERO = Decimal("0.00")
_MONTH = re.compile(r"^(\d{4})-(0[1-9]|1[0-2])$")
CLEARING_YEARS = (1950, 2199)  # the years a claim's dates may lie in


@dataclass(frozen=True)
class Advance:
    """What `creditor` advanced for `debtor`'s insured in the month (net of reversals)."""

    creditor: str
    debtor: str
    amount: Decimal


@dataclass(frozen=True)
class ClearingLine:
    payer_region: str
    payee_region: str
    net_amount: Decimal  # what the payer transfers; ≥ 0
    payee_advanced: Decimal  # gross: payee for payer's insured
    payer_advanced: Decimal  # gross: payer for payee's insured


def month_bounds(month: str) -> tuple[date, date]:
    """'2026-11' → (2026-11-01, 2026-12-01): the first day and the first day after."""
    found = _MONTH.match(month)
    if found is None:
        raise ValueError(f"month {month!r} is not YYYY-MM")
    year, mon = int(found.group(1)), int(found.group(2))
    if not CLEARING_YEARS[0] <= year <= CLEARING_YEARS[1]:
        # No settlement lies outside these years (schemas.EARLIEST_CARE, LATEST_CARE): such a run cleared nothing
        # and was stored, and journalled, for ever.
        raise ValueError(f"month {month!r} is outside {CLEARING_YEARS[0]}-01 … {CLEARING_YEARS[1]}-12")
    start = date(year, mon, 1)
    end = date(year + 1, 1, 1) if mon == 12 else date(year, mon + 1, 1)
    return start, end


def net_by_pair(advances: list[Advance]) -> list[ClearingLine]:
    """One line per pair of regions with anything between them, the larger debtor paying the difference.

    A pair whose advances cancel exactly still gets a line (net 0), so the run shows it was cleared.
    """
    gross: dict[tuple[str, str], Decimal] = {}
    for advance in advances:
        if advance.creditor == advance.debtor:
            continue  # not inter-region; never booked so, ignored if it were
        key = (advance.creditor, advance.debtor)
        gross[key] = gross.get(key, ZERO) + advance.amount
    lines: list[ClearingLine] = []
    for a, b in sorted({tuple(sorted(pair)) for pair in gross}):
        a_for_b = gross.get((a, b), ZERO)  # a advanced for b's insured: b owes a
        b_for_a = gross.get((b, a), ZERO)
        if b_for_a > a_for_b:
            lines.append(ClearingLine(a, b, b_for_a - a_for_b, b_for_a, a_for_b))
        else:
            lines.append(ClearingLine(b, a, a_for_b - b_for_a, a_for_b, b_for_a))
    return lines


def _entry(account: str, debit_amount: Decimal, region: str, counterparty: str = "") -> JournalLine:
    """A line debiting `debit_amount` (a negative amount is a credit: a month whose reversals outweigh)."""
    if debit_amount >= 0:
        return JournalLine(account, debit_amount, ZERO, region, counterparty)
    return JournalLine(account, ZERO, -debit_amount, region, counterparty)


def clearing_journal(lines: list[ClearingLine]) -> list[JournalLine]:
    """The entries settling a month's clearing lines in both regions' books; zero lines left out.
    Every line names the other region of its pair, deposits too (the transfer's other side).

    Payer P, payee Q: Q advanced `payee_advanced` for P's insured, P advanced `payer_advanced` for Q's.
    P's books: debit 应付 to Q (payee_advanced), credit 应收 on Q (payer_advanced), credit deposits (net).
    Q's books: debit 应付 to P (payer_advanced), credit 应收 on P (payee_advanced), debit deposits (net).
    """
    entries: list[JournalLine] = []
    for line in lines:
        payer, payee = line.payer_region, line.payee_region
        entries += [
            _entry(OWED, line.payee_advanced, payer, payee),
            _entry(RECEIVABLE, -line.payer_advanced, payer, payee),
            _entry(DEPOSITS, -line.net_amount, payer, payee),
            _entry(OWED, line.payer_advanced, payee, payer),
            _entry(RECEIVABLE, -line.payee_advanced, payee, payer),
            _entry(DEPOSITS, line.net_amount, payee, payer),
        ]
    return [entry for entry in entries if entry.debit or entry.credit]


@dataclass(frozen=True)
class SettlementTotals:
    count: int = 0
    medfee_sumamt: Decimal = ZERO
    fund_pay_sumamt: Decimal = ZERO
    acct_pay: Decimal = ZERO
    psn_cash_pay: Decimal = ZERO


def owed_to_institution(settled: SettlementTotals, reversed_: SettlementTotals) -> Decimal:
    """What the bureau owes the institution for the day: funds and personal accounts, net of reversals."""
    return (settled.fund_pay_sumamt + settled.acct_pay) - (reversed_.fund_pay_sumamt + reversed_.acct_pay)
