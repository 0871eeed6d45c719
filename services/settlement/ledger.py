"""The fund ledger (基金记账): a balanced double-entry journal per settlement and per reversal. Pure.

What the funds and the personal account pay is a debit to each payer's account and a credit to
what the bureau owes the institution (应付定点机构款); the patient's cash is settled at the counter
and is not in the fund's books. A reversal posts the mirror entries. Every journal balances.

Every line is in one pooling region's books (`region`). Care elsewhere (异地就医直接结算) is paid by
the home region's policy but advanced by the fund of the place of care: the home region books the
expenses against 应付异地清算款 (`interregion_payable`, owed to the place of care), and the place of
care books 应收异地清算款 (`interregion_receivable`, owed by the home region) against what it owes
its institution. Each region's books balance on their own; the monthly clearing run nets the
receivables per pair of regions.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import Literal

from shared.events.contracts import SettlementBreakdown

ZERO = Decimal("0.00")
PAYABLE = "payable_to_institutions"  # 应付定点机构款
RECEIVABLE = "interregion_receivable"  # 应收异地清算款: advanced for another region's insured
OWED = "interregion_payable"  # 应付异地清算款: owed to the region that advanced for our insured
CLEARING_KIND = "clearing"  # journal kind of a monthly clearing run (beside settlement / reversal)
DEPOSITS = "fund_bank_deposits"  # 基金银行存款: where the monthly clearing transfers leave and arrive
# breakdown field → ledger account of the payer
PAYERS: tuple[tuple[str, str], ...] = (
    ("hifp_pay", "basic_fund_expense"),  # 统筹基金支出
    ("hifmi_pay", "critical_illness_expense"),  # 大病保险支出
    ("hifob_pay", "large_expense_supplement_expense"),  # 大额医疗补助支出
    ("maf_pay", "medical_assistance_expense"),  # 医疗救助支出
    ("acct_pay", "personal_accounts"),  # 个人账户 (the account holders' money)
)
ACCOUNTS = (*(account for _, account in PAYERS), PAYABLE, RECEIVABLE, OWED, DEPOSITS)


@dataclass(frozen=True)
class JournalLine:
    account: str
    debit: Decimal
    credit: Decimal
    region: str = ""  # the pooling region (统筹区) whose books hold the line
    counterparty_region: str = ""  # for the inter-region accounts: the other region


def journal(
    breakdown: SettlementBreakdown,
    kind: Literal["settlement", "reversal"],
    *,
    home_region: str = "",
    care_region: str = "",
) -> list[JournalLine]:
    """The entries of one settlement (or the mirror of them for its reversal); zero lines left out.

    `home_region` is the insured person's pooling region, `care_region` the institution's; when
    they differ the place of care advances and both books carry the inter-region claim.
    """
    care_region = care_region or home_region
    lines: list[JournalLine] = []
    owed = ZERO
    for field, account in PAYERS:
        amount: Decimal = getattr(breakdown, field)
        if amount:
            lines.append(JournalLine(account, amount, ZERO, home_region))
            owed += amount
    if owed and care_region == home_region:
        lines.append(JournalLine(PAYABLE, ZERO, owed, home_region))
    elif owed:
        lines += [
            JournalLine(OWED, ZERO, owed, home_region, care_region),
            JournalLine(RECEIVABLE, owed, ZERO, care_region, home_region),
            JournalLine(PAYABLE, ZERO, owed, care_region),
        ]
    if kind == "reversal":
        lines = [
            JournalLine(line.account, line.credit, line.debit, line.region, line.counterparty_region) for line in lines
        ]
    return lines


def balanced(lines: list[JournalLine]) -> bool:
    return sum((line.debit for line in lines), ZERO) == sum((line.credit for line in lines), ZERO)


def balanced_per_region(lines: list[JournalLine]) -> bool:
    """Each region's books balance on their own, not only the union."""
    return all(balanced([line for line in lines if line.region == region]) for region in {li.region for li in lines})
