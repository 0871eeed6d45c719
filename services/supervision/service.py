"""Audit rules: each one a pure function of a claim, used unchanged at every stage.

Walking skeleton: one rule, quantity above a medically unlikely maximum per line. The rule
library (versioned data, scopes, windows, history) comes with the supervision issue.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from shared.events.contracts import ClaimSettled
from shared.money import to_fen


@dataclass(frozen=True)
class Finding:
    rule_id: str
    rule_version: int
    severity: str
    line_no: int | None
    amount_at_stake: Decimal
    message: str


@dataclass(frozen=True)
class QuantityLimitRule:
    """单次收费数量超限: a line whose quantity is above a medically unlikely maximum."""

    rule_id: str = "QTY-MAX-LINE"
    version: int = 1
    severity: str = "warn"
    max_quantity: int = 30

    def check(self, claim: ClaimSettled) -> list[Finding]:
        findings = []
        for line in claim.lines:
            if line.quantity > self.max_quantity:
                excess = line.quantity - self.max_quantity
                findings.append(
                    Finding(
                        rule_id=self.rule_id,
                        rule_version=self.version,
                        severity=self.severity,
                        line_no=line.line_no,
                        amount_at_stake=to_fen(line.unit_price * excess),
                        message=(
                            f"line {line.line_no} ({line.item_code}) bills {line.quantity} units, "
                            f"above the maximum of {self.max_quantity}; {excess} units at stake"
                        ),
                    )
                )
        return findings


DEFAULT_RULES = (QuantityLimitRule(),)


def audit_claim(claim: ClaimSettled, rules: tuple[QuantityLimitRule, ...] = DEFAULT_RULES) -> list[Finding]:
    return [finding for rule in rules for finding in rule.check(claim)]
