"""Settlement rules: pure functions, no I/O.

`calculate` is the three-tier calculation (catalogue classes, deductible, ratio and cap, critical
illness, assistance, personal account) with accumulators and an explanation. The checks before it
(eligibility, institution agreement and sanctions, practitioner suspension) and the accumulator
arithmetic of a reversal are here too; api.py feeds them what repository.py reads. See
docs/settlement.md.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping
from dataclasses import dataclass, field, fields, replace
from datetime import date
from decimal import Decimal
from typing import Literal, cast

from shared.events.contracts import ClaimLine, SettlementBreakdown
from shared.money import to_fen

ZERO = Decimal("0.00")


@dataclass(frozen=True)
class LineInput:
    item_code: str
    quantity: int
    unit_price: Decimal
    traceability_codes: tuple[str, ...] = ()
    # Set by `restrictions.check_restrictions` when a 限定支付范围 is not met: the line is 全自费.
    self_pay_reason: str | None = None


@dataclass(frozen=True)
class Coverage:
    scheme: str
    effective_from: date
    effective_to: date
    region_code: str = ""  # 参保地
    retiree: bool = False
    assistance_category: str | None = None  # 资助参保 group (特困, 低保, ...): a 医疗救助对象
    suspended_from: date | None = None  # enrollment.suspended: no benefits from this date
    terminated_on: date | None = None  # enrollment.terminated: covered up to and including this date

    def covers(self, on: date) -> bool:
        if not self.effective_from <= on <= self.effective_to:
            return False
        if self.suspended_from is not None and on >= self.suspended_from:
            return False
        return self.terminated_on is None or on <= self.terminated_on


def covering(coverages: list[Coverage], on: date) -> Coverage | None:
    """The enrollment that covers the date of service, if any."""
    for coverage in coverages:
        if coverage.covers(on):
            return coverage
    return None


def price_lines(lines: list[LineInput]) -> list[ClaimLine]:
    return [
        ClaimLine(
            line_no=i,
            item_code=line.item_code,
            quantity=line.quantity,
            unit_price=line.unit_price,
            amount=to_fen(line.unit_price * line.quantity),
            traceability_codes=list(line.traceability_codes),
        )
        for i, line in enumerate(lines, start=1)
    ]


# --- Three-tier calculation (三重保障: basic fund, critical illness, medical assistance) ---------------

ItemClass = Literal["A", "B", "C"]  # 甲类 / 乙类 / 丙类
Scheme = Literal["employee", "resident"]  # 职工 / 城乡居民
CrossRegion = Literal["local", "filed", "unfiled"]  # 本地 / 异地已备案 / 异地未备案


@dataclass(frozen=True)
class CatalogueItem:
    """One entry of the 医保目录 (drug, 诊疗项目 service or 耗材 consumable)."""

    code: str
    name: str
    item_class: ItemClass  # 甲类 A: all in scope; 乙类 B: 先行自付 first; 丙类 C: all self-paid
    preselfpay_ratio: Decimal = Decimal("0")  # 先行自付比例 (乙类 only)
    limit_price: Decimal | None = None  # 限价; the part of the unit price above it is 超限价自费
    # Restrictions (限定支付范围) and validity, checked by `restrictions.check_restrictions`; None: no limit.
    category: str = ""  # 西药 / 中成药 / 诊疗项目 / 医用耗材
    sex: Literal["M", "F"] | None = None  # 限性别
    min_age: int | None = None  # 限年龄 (years, inclusive)
    max_age: int | None = None
    min_institution_level: int | None = None  # 限医疗机构级别: 1 一级, 2 二级, 3 三级
    max_qty_per_day: int | None = None  # 限每日数量
    max_qty_per_stay: int | None = None  # 限每次住院数量
    valid_from: date | None = None  # 目录有效期
    valid_to: date | None = None
    region: str = ""  # 统筹区划 (e.g. "350500"); "" national


@dataclass(frozen=True)
class CriticalTier:
    """A band of the yearly accumulated in-scope self-paid amount and the share paid in it."""

    upper: Decimal | None  # 上限 of the band (None: no upper bound)
    ratio: Decimal  # 分段报销比例


# 医疗救助对象 groups settlement knows (enrollment's 资助参保 categories, kept here because a service
# never imports another): a policy may give each its own share, cap and 救助起付线.
ASSISTANCE_GROUPS: dict[str, str] = {
    "extreme_poverty": "特困人员",
    "orphan": "孤儿",
    "minimum_living": "低保对象",
    "poverty_risk": "返贫致贫风险人员",
    "severe_disability": "重度残疾人",
}


@dataclass(frozen=True)
class AssistanceTerms:
    """What 医疗救助 pays one group under a policy version. Share × the yearly assistance base above
    the deductible, within the cap; the cap and the deductible are per person-year."""

    share: Decimal  # 救助比例
    cap: Decimal  # 年度救助限额
    deductible: Decimal = ZERO  # 救助起付线


@dataclass(frozen=True)
class Policy:
    """The parameters for one scheme and visit type, under a named version."""

    version: str  # e.g. "QZ-2025-resident-inpatient-v1"
    scheme: Scheme
    deductible: Decimal  # 起付线 (per person-year)
    ratio: Decimal  # 统筹基金报销比例
    cap: Decimal  # 统筹基金封顶线 (per person-year)
    critical_threshold: Decimal  # 大病保险起付线 (大额医疗补助 for employees)
    critical_tiers: tuple[CriticalTier, ...]  # 分段比例, bands above the threshold, ascending
    critical_cap: Decimal  # 大病保险 / 大额医疗补助 年度最高支付限额
    unfiled_reduction: Decimal  # 异地未备案降低报销比例 (points off `ratio`)
    # 医疗救助 per 救助对象 group (ASSISTANCE_GROUPS key → terms); a group not listed gets none.
    assistance: Mapping[str, AssistanceTerms] = field(default_factory=dict, hash=False)


@dataclass(frozen=True)
class Accumulators:
    """Per person-year totals (年度累计) that make settlement order-dependent."""

    deductible_used: Decimal = ZERO  # 起付线已用
    basic_fund_paid: Decimal = ZERO  # 统筹基金累计支付 (against 封顶线)
    basic_fund_due: Decimal = ZERO  # 统筹基金累计应付, unrounded: keeps sub-fen remainders across claims
    critical_paid: Decimal = ZERO  # 大病保险 / 大额医疗补助累计支付
    inscope_self_paid: Decimal = ZERO  # 政策范围内个人累计负担 (大病保险 base)
    assistance_base: Decimal = ZERO  # 医疗救助累计救助基数 (in-scope still owed, eligible claims only)
    assistance_paid: Decimal = ZERO  # 医疗救助累计支付
    personal_burden: Decimal = ZERO  # 个人累计负担 (account + cash)


@dataclass(frozen=True)
class ClaimInput:
    lines: tuple[LineInput, ...]
    visit_type: str  # "inpatient" 住院 / "outpatient" 门诊
    # 资助参保 group of the person's covering enrollment (ASSISTANCE_GROUPS key); None: not a 医疗救助对象.
    assistance_category: str | None = None
    cross_region: CrossRegion = "local"
    account_balance: Decimal = ZERO  # 个人账户余额 (employees), or the family payer's
    # 家庭共济: a bound employee whose personal account pays instead of the patient's own (any scheme).
    family_account_payer: str | None = None


@dataclass(frozen=True)
class Step:
    """One line of the explanation: the rule, the amount it produced and the policy version behind it."""

    rule: str
    amount: Decimal
    policy_version: str
    detail: str


@dataclass(frozen=True)
class Calculation:
    priced: list[ClaimLine]
    breakdown: SettlementBreakdown
    accumulators: Accumulators
    explanation: list[Step]


def _pos(amount: Decimal) -> Decimal:
    return amount if amount > 0 else ZERO


def critical_entitlement(base: Decimal, policy: Policy) -> Decimal:
    """大病保险 owed for a yearly in-scope self-paid `base` (unrounded, before the cap)."""
    total = Decimal("0")
    lower = policy.critical_threshold
    for tier in policy.critical_tiers:
        upper = base if tier.upper is None else min(base, tier.upper)
        if upper > lower:
            total += (upper - lower) * tier.ratio
        if tier.upper is None or base <= tier.upper:
            break
        lower = max(lower, tier.upper)
    return total


def calculate(
    claim: ClaimInput, policy: Policy, catalogue: dict[str, CatalogueItem], accumulators: Accumulators
) -> Calculation:
    """Three-tier settlement of one claim. Pure: the new accumulators are returned, never stored.

    Each tier is computed on the year's cumulative figure and rounded there (to_fen(cumulative) minus
    what was already paid), so rounding never depends on how the year's claims were split or ordered.
    """
    v = policy.version
    steps: list[Step] = []
    priced = price_lines(list(claim.lines))

    # 1. Line classification by the catalogue (目录分类).
    fulamt = overlmt = preself = scope = ZERO
    for line, line_input in zip(priced, claim.lines, strict=True):
        item = catalogue.get(line.item_code)
        if item is None or item.item_class == "C" or line_input.self_pay_reason is not None:
            fulamt += line.amount
            if line_input.self_pay_reason is not None:
                why = f"限定支付范围: {line_input.self_pay_reason}"
            else:
                why = "not in the catalogue (目录外)" if item is None else "丙类"
            steps.append(
                Step("fulamt_ownpay_amt 全自费", line.amount, v, f"line {line.line_no} {line.item_code}: {why}")
            )
            continue
        over = ZERO
        if item.limit_price is not None and line.unit_price > item.limit_price:
            over = to_fen((line.unit_price - item.limit_price) * line.quantity)
            steps.append(
                Step(
                    "overlmt_selfpay 超限价自费",
                    over,
                    v,
                    f"line {line.line_no} {line.item_code}: ({line.unit_price} − 限价 {item.limit_price}) × {line.quantity}",
                )
            )
        rest = line.amount - over
        pre = to_fen(rest * item.preselfpay_ratio) if item.item_class == "B" else ZERO
        if item.item_class == "B":
            steps.append(
                Step(
                    "preselfpay_amt 乙类先行自付",
                    pre,
                    v,
                    f"line {line.line_no} {line.item_code}: {rest} × {item.preselfpay_ratio}, half-up",
                )
            )
        overlmt += over
        preself += pre
        scope += rest - pre

    # 2. Policy-scope amount (政策范围内费用).
    total = fulamt + overlmt + preself + scope
    steps.append(Step("inscp_scp_amt 政策范围内费用", scope, v, f"total {total} − self-paid parts"))

    # 3. Basic fund (统筹基金): above what remains of the deductible, at the ratio, within the cap.
    deductible_now = min(to_fen(_pos(policy.deductible - accumulators.deductible_used)), scope)
    ratio = policy.ratio
    if claim.cross_region == "unfiled":
        ratio = _pos(ratio - policy.unfiled_reduction)
    due = accumulators.basic_fund_due + (scope - deductible_now) * ratio
    hifp = _pos(min(to_fen(policy.cap), to_fen(due)) - accumulators.basic_fund_paid)
    steps.append(
        Step(
            "起付线 deductible",
            deductible_now,
            v,
            f"{policy.deductible} per year, {accumulators.deductible_used} used before",
        )
    )
    steps.append(
        Step(
            "hifp_pay 统筹基金",
            hifp,
            v,
            f"({scope} − {deductible_now}) × {ratio} ({claim.cross_region}), half-up on the yearly total, "
            f"封顶线 {policy.cap} with {accumulators.basic_fund_paid} paid before",
        )
    )

    # 4. Critical illness (大病保险, residents) / large-expense supplement (大额医疗补助, employees).
    self_inscope = scope - hifp
    base = accumulators.inscope_self_paid + self_inscope
    critical = _pos(
        min(to_fen(policy.critical_cap), to_fen(critical_entitlement(base, policy))) - accumulators.critical_paid
    )
    critical_field = "hifob_pay 大额医疗补助" if policy.scheme == "employee" else "hifmi_pay 大病保险"
    steps.append(
        Step(
            critical_field,
            critical,
            v,
            f"yearly in-scope self-paid {accumulators.inscope_self_paid} → {base}, above {policy.critical_threshold} "
            f"by tiers {[(str(t.upper), str(t.ratio)) for t in policy.critical_tiers]}, cap {policy.critical_cap}",
        )
    )

    # 5. Medical assistance (医疗救助): the group's share of what is still owed in scope, above the
    # group's 救助起付线, within its yearly cap. Like the tiers above, it is rounded on the year: this
    # claim gets the group's yearly figure after it minus the same figure before it, so one group's
    # claims pay the same in any order; a person whose group changes in the year gets the new
    # group's terms on what each later claim adds (docs/settlement.md).
    owed = self_inscope - critical
    assistance_base = accumulators.assistance_base
    maf = ZERO
    group = claim.assistance_category
    if group is not None:
        terms = policy.assistance.get(group)
        named = f"{group} {ASSISTANCE_GROUPS.get(group, '(not a known 救助 group)')}"
        if terms is None:
            listed = ", ".join(policy.assistance) or "none"
            steps.append(
                Step(
                    "maf_pay 医疗救助", ZERO, v, f"{named} is not an assistance group of this policy (listed: {listed})"
                )
            )
        else:
            assistance_base += owed
            yearly_before = to_fen(_pos(accumulators.assistance_base - terms.deductible) * terms.share)
            yearly_after = to_fen(_pos(assistance_base - terms.deductible) * terms.share)
            cap_left = _pos(to_fen(terms.cap) - accumulators.assistance_paid)
            maf = _pos(min(yearly_after - yearly_before, cap_left, owed))
            steps.append(
                Step(
                    "maf_pay 医疗救助",
                    maf,
                    v,
                    f"{named}: {owed} still owed in scope; yearly base {accumulators.assistance_base} → "
                    f"{assistance_base}, above 救助起付线 {terms.deductible} × {terms.share} = {yearly_after} "
                    f"(was {yearly_before}); yearly cap {terms.cap} with {accumulators.assistance_paid} paid before",
                )
            )

    # 6-7. Personal account (个人账户, employees) then cash (个人现金).
    fund = hifp + critical + maf
    personal = total - fund
    has_account = policy.scheme == "employee" or claim.family_account_payer is not None
    acct = min(to_fen(_pos(claim.account_balance)), personal) if has_account else ZERO
    cash = personal - acct
    whose = f" of {claim.family_account_payer} (家庭共济)" if claim.family_account_payer else ""
    steps.append(Step("fund_pay_sumamt 基金支付总额", fund, v, "hifp + hifmi/hifob + maf"))
    steps.append(
        Step("acct_pay 个人账户", acct, v, f"personal part {personal}, balance{whose} {claim.account_balance}")
    )
    steps.append(Step("psn_cash_pay 个人现金", cash, v, "total − funds − account"))

    breakdown = SettlementBreakdown(
        medfee_sumamt=total,
        fulamt_ownpay_amt=fulamt,
        overlmt_selfpay=overlmt,
        preselfpay_amt=preself,
        inscp_scp_amt=scope,
        hifp_pay=hifp,
        hifmi_pay=critical if policy.scheme == "resident" else ZERO,
        hifob_pay=critical if policy.scheme == "employee" else ZERO,
        maf_pay=maf,
        acct_pay=acct,
        psn_cash_pay=cash,
        fund_pay_sumamt=fund,
    )
    after = Accumulators(
        deductible_used=accumulators.deductible_used + deductible_now,
        basic_fund_paid=accumulators.basic_fund_paid + hifp,
        basic_fund_due=due,
        critical_paid=accumulators.critical_paid + critical,
        inscope_self_paid=base,
        assistance_base=assistance_base,
        assistance_paid=accumulators.assistance_paid + maf,
        personal_burden=accumulators.personal_burden + personal,
    )
    return Calculation(priced=priced, breakdown=breakdown, accumulators=after, explanation=steps)


# --- Checks before the calculation, and the accumulator arithmetic ------------------------------------

MAX_AMOUNT = Decimal("999999999999.99")  # NUMERIC(14,2)


@dataclass(frozen=True)
class Refusal:
    """Why a settlement cannot be made: a stable problem kind and a sentence naming what to fix."""

    kind: str
    detail: str


@dataclass(frozen=True)
class InstitutionInfo:
    code: str
    name: str
    level: int  # 0 未定级, 1-3
    region_code: str  # 就医地
    institution_type: str
    agreement_status: str  # active / suspended / terminated


@dataclass(frozen=True)
class SanctionInfo:
    sanction: str
    refuses_settlement: bool
    effective_from: date


@dataclass(frozen=True)
class PractitionerInfo:
    suspended_from: date | None
    suspended_until: date | None
    reinstated_on: date | None
    reason: str | None = None


def pooling_region(region_code: str) -> str:
    """统筹区: Quanzhou pools at the city level, so county 350582 (晋江) settles under 350500."""
    return region_code[:4] + "00" if len(region_code) >= 6 else region_code


@dataclass(frozen=True)
class Filing:
    """异地就医备案 as projected: where, from when to when, and when it was revoked if it was."""

    destination_region_code: str
    valid_from: date
    valid_to: date
    revoked_on: date | None = None

    def covers(self, region_code: str, on: date) -> bool:
        if not self.valid_from <= on <= self.valid_to:
            return False
        if self.revoked_on is not None and on >= self.revoked_on:
            return False
        return region_within(region_code, self.destination_region_code)


def region_within(region_code: str, area_code: str) -> bool:
    """Whether a 区划代码 lies in an area: 350582 is within 350500 (city) and 350000 (province)."""
    prefix = area_code
    while prefix.endswith("00") and len(prefix) > 2:
        prefix = prefix[:-2]
    return region_code.startswith(prefix)


def cross_region(
    institution_region: str, insured_region: str, filings: list[Filing] | None = None, on: date | None = None
) -> CrossRegion:
    """Local in the person's own pooling region; elsewhere filed (异地已备案) when a filing for the
    place of care is valid on the admission date, else unfiled (未备案, a lower ratio)."""
    if pooling_region(institution_region) == pooling_region(insured_region):
        return "local"
    if on is not None and any(f.covers(institution_region, on) for f in filings or []):
        return "filed"
    return "unfiled"


@dataclass(frozen=True)
class FamilyBinding:
    """家庭共济 as projected: from when an employee's account may pay for the relative, and until when."""

    bound_on: date
    unbound_on: date | None = None

    def active_on(self, on: date) -> bool:
        return self.bound_on <= on and (self.unbound_on is None or on < self.unbound_on)


def family_payer_refusal(
    person_no: str, payer_person_no: str, bindings: list[FamilyBinding], on: date
) -> Refusal | None:
    """A personal account pays for someone else only under a binding of them to it in force on `on`."""
    if any(binding.active_on(on) for binding in bindings):
        return None
    ended = [b.unbound_on for b in bindings if b.unbound_on is not None and b.unbound_on <= on]
    why = f"the binding ended on {max(ended)}" if ended else "no family binding (家庭共济绑定) exists"
    return Refusal(
        "family-account-not-bound",
        f"{payer_person_no}'s personal account cannot pay for {person_no}: {why}. "
        "Bind the relative in enrollment first, or leave family_account_payer_person_no out.",
    )


def age_on(birth: date, on: date) -> int:
    return on.year - birth.year - ((on.month, on.day) < (birth.month, birth.day))


def stay_days(admitted: date, discharged: date) -> int:
    """住院天数 as the restrictions count them: nights, at least one (an outpatient visit is one day)."""
    return max(1, (discharged - admitted).days)


def dates_in_future(admitted_on: date, discharged_on: date, today: date) -> list[str]:
    """The claim's date fields after today's business date, by name. A hospital settles at or after
    discharge (a visit on its day): a later date is care not yet given, never settled nor priced."""
    return [name for name, day in (("admitted_on", admitted_on), ("discharged_on", discharged_on)) if day > today]


def institution_refusal(
    code: str, institution: InstitutionInfo | None, sanctions: list[SanctionInfo], today: date
) -> Refusal | None:
    """A 定点机构 settles only under an active agreement and with no settlement-stopping sanction."""
    if institution is None:
        return Refusal("institution-unknown", f"{code} is not a registered designated institution (定点机构).")
    if institution.agreement_status != "active":
        return Refusal(
            "institution-suspended",
            f"{code} {institution.name}: the service agreement (协议) is {institution.agreement_status}; "
            "new settlements are refused.",
        )
    for sanction in sanctions:
        if sanction.refuses_settlement and sanction.effective_from <= today:
            return Refusal(
                "institution-suspended",
                f"{code} {institution.name}: {sanction.sanction} from {sanction.effective_from} stops new settlements.",
            )
    return None


def practitioner_suspended(status: PractitionerInfo | None, on: date) -> bool:
    """Suspended on `on` unless a reinstatement dated within the suspension has taken effect.

    Suspensions and reinstatements travel on different topics, so the projection keeps the latest of
    each and this decides by their dates, not by the order they arrived in.
    """
    if status is None or status.suspended_from is None or on < status.suspended_from:
        return False
    if status.suspended_until is not None and on > status.suspended_until:
        return False
    return not (status.reinstated_on is not None and status.suspended_from <= status.reinstated_on <= on)


def practitioner_refusal(code: str, status: PractitionerInfo | None, today: date) -> Refusal | None:
    if practitioner_suspended(status, today):
        assert status is not None
        until = f" until {status.suspended_until}" if status.suspended_until else ""
        return Refusal(
            "practitioner-suspended",
            f"practitioner {code} is suspended (医保医师暂停) from {status.suspended_from}{until}"
            + (f": {status.reason}" if status.reason else "")
            + "; the claim cannot be settled under this doctor.",
        )
    return None


def eligibility_refusal(
    person_no: str,
    *,
    known: bool,
    died_on: date | None,
    coverages: list[Coverage],
    admitted_on: date,
    discharged_on: date,
    born_on: date | None = None,
) -> Refusal | Coverage:
    """The coverage the claim settles under, or why there is none."""
    if not known:
        return Refusal("person-unknown", f"{person_no} is not a registered insured person.")
    if born_on is not None and admitted_on < born_on:
        return Refusal(
            "date-before-birth",
            f"{person_no} was born on {born_on}: admitted_on {admitted_on} is care before birth (a newborn's stay "
            "begins at birth; the mother's care is her own claim).",
        )
    if died_on is not None and discharged_on > died_on:
        return Refusal(
            "person-deceased", f"{person_no} died on {died_on}; care billed to {discharged_on} cannot be settled."
        )
    coverage = covering(coverages, discharged_on)
    if coverage is None:
        if suspended := suspended_on(coverages, discharged_on):
            return Refusal(
                "enrollment-suspended",
                f"{person_no}'s {suspended.scheme} enrollment is suspended (暂停, e.g. 欠费 arrears) from "
                f"{suspended.suspended_from}: care on {discharged_on.isoformat()} is settled once it is active again.",
            )
        return Refusal("not-insured", f"{person_no} has no active enrollment covering {discharged_on.isoformat()}.")
    return coverage


def suspended_on(coverages: list[Coverage], on: date) -> Coverage | None:
    """The enrollment that would cover the date but for its suspension, if any."""
    for coverage in coverages:
        if coverage.suspended_from is not None and replace(coverage, suspended_from=None).covers(on):
            return coverage
    return None


ACCUMULATOR_FIELDS = tuple(f.name for f in fields(Accumulators))


def accumulator_delta(before: Accumulators, after: Accumulators) -> dict[str, Decimal]:
    """What one settlement added to each running figure: a reversal takes exactly this back."""
    return {name: getattr(after, name) - getattr(before, name) for name in ACCUMULATOR_FIELDS}


def without(current: Accumulators, delta: Mapping[str, Decimal]) -> Accumulators:
    """The accumulators with one settlement's contribution taken back (冲正)."""
    return replace(current, **{name: getattr(current, name) - delta[name] for name in ACCUMULATOR_FIELDS})


# --- 高额医疗费用预警: yearly personal burden crossing a band ---------------------------------------

BurdenBand = Literal["yellow", "orange", "red"]


@dataclass(frozen=True)
class BurdenThreshold:
    band: BurdenBand
    amount: Decimal


# Cached: every settlement asks for the setting's thresholds, and the answer (an immutable tuple)
# depends on the text alone; a refusal raises and is not cached.
@functools.lru_cache(maxsize=16)
def parse_burden_thresholds(text: str) -> tuple[BurdenThreshold, ...]:
    """'yellow:50000,orange:100000,red:200000' → ascending thresholds; ValueError says what is wrong."""
    thresholds: list[BurdenThreshold] = []
    for part in text.split(","):
        band, sep, amount = part.strip().partition(":")
        if not sep or band not in ("yellow", "orange", "red"):
            raise ValueError(f"burden threshold {part!r} is not yellow|orange|red:amount")
        try:
            value = Decimal(amount)
        except ArithmeticError:
            raise ValueError(f"burden threshold amount {amount!r} is not a number") from None
        if not value.is_finite() or value <= 0:
            raise ValueError(f"burden threshold amount {amount!r} must be positive")
        thresholds.append(BurdenThreshold(cast(BurdenBand, band), to_fen(value)))
    if [t.amount for t in thresholds] != sorted({t.amount for t in thresholds}):
        raise ValueError("burden thresholds must be strictly ascending")
    return tuple(thresholds)


def burden_crossings(before: Decimal, after: Decimal, thresholds: tuple[BurdenThreshold, ...]) -> list[BurdenThreshold]:
    """The bands this settlement's personal burden crossed upwards (before < threshold ≤ after)."""
    return [t for t in thresholds if before < t.amount <= after]
