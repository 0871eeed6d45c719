"""Yearly contributions (缴费) and 资助参保 assistance: who pays what. Pure, no I/O.

Every number here is a *parameter* (DOMAIN.md): demo defaults a bureau would set per region and year.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal
from enum import StrEnum

from shared.money import to_fen


class AssistanceCategory(StrEnum):
    """资助参保 groups: the medical-assistance fund pays part or all of the resident's individual contribution."""

    EXTREME_POVERTY = "extreme_poverty"  # 特困人员
    ORPHAN = "orphan"  # 孤儿
    MINIMUM_LIVING = "minimum_living"  # 低保对象
    POVERTY_RISK = "poverty_risk"  # 返贫致贫风险人员
    SEVERE_DISABILITY = "severe_disability"  # 重度残疾人


@dataclass(frozen=True)
class ContributionPolicy:
    resident_individual: Decimal = Decimal("400.00")  # 城乡居民个人缴费 per year
    resident_government_subsidy: Decimal = Decimal("700.00")  # 财政补助 per insured resident per year
    employee_individual_rate: Decimal = Decimal("0.02")  # 职工个人费率, of the monthly base × 12
    employer_rate: Decimal = Decimal("0.075")  # 单位费率
    base_floor: Decimal = Decimal("4000.00")  # 缴费基数下限 (monthly)
    base_ceiling: Decimal = Decimal("20000.00")  # 缴费基数上限 (monthly)
    # Share of the resident's individual part the assistance fund pays, by category.
    assistance_share: dict[AssistanceCategory, Decimal] = field(
        default_factory=lambda: {
            AssistanceCategory.EXTREME_POVERTY: Decimal("1.00"),
            AssistanceCategory.ORPHAN: Decimal("1.00"),
            AssistanceCategory.MINIMUM_LIVING: Decimal("0.70"),
            AssistanceCategory.SEVERE_DISABILITY: Decimal("0.70"),
            AssistanceCategory.POVERTY_RISK: Decimal("0.50"),
        }
    )


DEFAULT_POLICY = ContributionPolicy()


@dataclass(frozen=True)
class ContributionSplit:
    """One year's contribution by payer; the parts are exact to the fen."""

    individual: Decimal  # what the person pays (个人缴费)
    employer: Decimal  # 单位缴费
    subsidy: Decimal  # 财政补助 + 资助 (government subsidy and the assistance fund)
    assistance: Decimal  # the part of `subsidy` the assistance fund pays for the person
    personal_account_credit: Decimal  # 个人账户划入 (employees: their own part)

    @property
    def total(self) -> Decimal:
        return self.individual + self.employer + self.subsidy


class ContributionRuleError(ValueError):
    """The enrollment's parameters do not allow a contribution (e.g. a base outside the floor and ceiling)."""


def contribution_due(
    *,
    scheme: str,
    contribution_base: Decimal | None = None,
    assistance_category: AssistanceCategory | str | None = None,
    retiree: bool = False,
    policy: ContributionPolicy = DEFAULT_POLICY,
) -> ContributionSplit:
    """The year's contribution split for one enrollment."""
    zero = Decimal("0.00")
    if scheme == "resident":
        share = policy.assistance_share[AssistanceCategory(assistance_category)] if assistance_category else zero
        assistance = to_fen(policy.resident_individual * share)
        return ContributionSplit(
            individual=to_fen(policy.resident_individual - assistance),
            employer=zero,
            subsidy=to_fen(policy.resident_government_subsidy + assistance),
            assistance=assistance,
            personal_account_credit=zero,
        )
    if scheme != "employee":
        raise ContributionRuleError(f"unknown scheme {scheme!r}")
    if assistance_category:
        raise ContributionRuleError("资助参保 assistance applies to the resident scheme only")
    if retiree:  # 退休人员 pay nothing once their qualifying years are complete
        return ContributionSplit(zero, zero, zero, zero, zero)
    if contribution_base is None:
        raise ContributionRuleError("an employee enrollment needs a monthly contribution base (缴费基数)")
    if not policy.base_floor <= contribution_base <= policy.base_ceiling:
        raise ContributionRuleError(
            f"the contribution base must lie between {policy.base_floor} and {policy.base_ceiling} a month"
        )
    yearly_base = contribution_base * 12
    individual = to_fen(yearly_base * policy.employee_individual_rate)
    return ContributionSplit(
        individual=individual,
        employer=to_fen(yearly_base * policy.employer_rate),
        subsidy=zero,
        assistance=zero,
        personal_account_credit=individual,  # since the 2021 reform only the employee's own part is credited
    )


def is_paid_in_full(due: ContributionSplit, *, individual_paid: Decimal, employer_paid: Decimal) -> bool:
    """Paid when the person's and the employer's parts are covered (the subsidy is the fund's own)."""
    return individual_paid >= due.individual and employer_paid >= due.employer


class EnrollmentTermsRefused(ValueError):
    """The scheme's terms refuse this enrollment; `kind` is the problem type the API answers with."""

    def __init__(self, kind: str, message: str) -> None:
        super().__init__(message)
        self.kind = kind


def check_enrollment_terms(
    *,
    scheme: str,
    employer_code: str | None,
    contribution_base: Decimal | None,
    retiree: bool,
    assistance_category: AssistanceCategory | str | None,
) -> ContributionSplit:
    """What the year costs, or EnrollmentTermsRefused: employees name an employer, residents have none."""
    if scheme == "employee" and not employer_code:
        raise EnrollmentTermsRefused("employer-required", "An employee enrollment names its employer.")
    if scheme == "resident" and (employer_code or contribution_base is not None or retiree):
        raise EnrollmentTermsRefused(
            "resident-has-no-employer", "A resident enrollment has no employer, contribution base or retiree status."
        )
    try:
        return contribution_due(
            scheme=scheme,
            contribution_base=contribution_base,
            assistance_category=assistance_category,
            retiree=retiree,
        )
    except ContributionRuleError as bad:
        raise EnrollmentTermsRefused("contribution-rule", f"{bad}.") from bad
