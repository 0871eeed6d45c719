"""The fund ledger (基金记账): a balanced double-entry journal per settlement and per reversal. Pure.

What the funds and the personal account pay is a debit to each payer's account and a credit to
what the bureau owes the institution (应付定点机构款); the patient's cash is settled at the counter
and is not in the fund's books. A reversal posts the mirror entries. Every journal balances.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import Literal

from shared.events.contracts import SettlementBreakdown

ZERO = Decimal("0.00")
PAYABLE = "payable_to_institutions"  # 应付定点机构款
# breakdown field → ledger account of the payer
PAYERS: tuple[tuple[str, str], ...] = (
    ("hifp_pay", "basic_fund_expense"),  # 统筹基金支出
    ("hifmi_pay", "critical_illness_expense"),  # 大病保险支出
    ("hifob_pay", "large_expense_supplement_expense"),  # 大额医疗补助支出
    ("maf_pay", "medical_assistance_expense"),  # 医疗救助支出
    ("acct_pay", "personal_accounts"),  # 个人账户 (the account holders' money)
)
ACCOUNTS = (*(account for _, account in PAYERS), PAYABLE)


@dataclass(frozen=True)
class JournalLine:
    account: str
    debit: Decimal
    credit: Decimal


def journal(breakdown: SettlementBreakdown, kind: Literal["settlement", "reversal"]) -> list[JournalLine]:
    """The entries of one settlement (or the mirror of them for its reversal); zero lines left out."""
    lines: list[JournalLine] = []
    owed = ZERO
    for field, account in PAYERS:
        amount: Decimal = getattr(breakdown, field)
        if amount:
            lines.append(JournalLine(account, amount, ZERO))
            owed += amount
    if owed:
        lines.append(JournalLine(PAYABLE, ZERO, owed))
    if kind == "reversal":
        lines = [JournalLine(line.account, line.credit, line.debit) for line in lines]
    return lines


def balanced(lines: list[JournalLine]) -> bool:
    return sum((line.debit for line in lines), ZERO) == sum((line.credit for line in lines), ZERO)
