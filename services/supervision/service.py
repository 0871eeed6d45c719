"""Audit rules: each one a pure function of a claim and its history, used unchanged at every stage.

The rule library (versioned `RuleVersion` records, scopes, stages, effective dates, a
`History` view and `evaluate`) is pure: callers load the history; nothing here does I/O.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import date, datetime, timedelta
from decimal import Decimal
from functools import cached_property
from typing import Any, Literal
from uuid import UUID, uuid4

from shared.business_time import BUSINESS_ZONE, business_date
from shared.events.contracts import ClaimLine, ClaimSettled, Scheme, SettlementBreakdown, VisitType
from shared.money import to_fen


@dataclass(frozen=True)
class Finding:
    rule_id: str
    rule_version: int
    severity: str
    line_no: int | None
    amount_at_stake: Decimal
    message: str


# ---------------------------------------------------------------------------------------------
# The rule library (两库 规则库): versioned rule records, a history view, one pure function per
# rule, and `evaluate`, which picks the rules whose scope, stage and effective dates match.
# ---------------------------------------------------------------------------------------------

Stage = Literal["pre", "in", "post"]  # 事前提醒 / 事中审核 / 事后监管
Severity = Literal["info", "warn", "refuse"]  # 提示 / 警告 / 拒付
ALL_STAGES: frozenset[Stage] = frozenset({"pre", "in", "post"})
SEVERITIES: frozenset[str] = frozenset({"info", "warn", "refuse"})


@dataclass(frozen=True)
class RuleScope:
    """Where a rule version applies (适用范围). An empty set means every value."""

    regions: frozenset[str] = frozenset()  # 统筹区/就医地 region codes
    schemes: frozenset[str] = frozenset()  # 职工 employee / 居民 resident
    institution_levels: frozenset[int] = frozenset()  # 医院等级 0-3
    institution_types: frozenset[str] = frozenset()  # 机构类型

    @cached_property
    def unrestricted(self) -> bool:
        return not (self.regions or self.schemes or self.institution_levels or self.institution_types)

    def matches(self, claim: ClaimSettled) -> bool:
        if self.unrestricted:  # most rules: no dimension to look at (the audit asks per claim and rule)
            return True
        # A restricted dimension with an unknown value on the claim does not match.
        return (
            _admits(self.regions, claim.region_code)
            and _admits(self.schemes, claim.scheme)
            and _admits(self.institution_levels, claim.institution_level)
            and _admits(self.institution_types, claim.institution_type)
        )


def _admits(allowed: frozenset[Any], value: Any) -> bool:
    return not allowed or (value is not None and value in allowed)


@dataclass(frozen=True)
class RuleVersion:
    """One version of one rule, as data (规则版本). The logic is `RULE_FUNCTIONS[rule_id]`."""

    rule_id: str
    version: int
    family: str  # NHSA group: policy 政策类 / management 管理类 / medical 医疗类
    effective_from: date
    effective_to: date | None = None  # inclusive; None = open-ended
    scope: RuleScope = RuleScope()
    stages: frozenset[Stage] = ALL_STAGES
    severity: Severity = "warn"
    parameters: Mapping[str, Any] = field(default_factory=dict)
    window_days: int | None = None  # how much history the rule looks back over (None = none / all)

    def __post_init__(self) -> None:
        if not self.stages or not self.stages <= ALL_STAGES:
            raise ValueError(f"{self.rule_id}: stages must be a non-empty subset of pre/in/post")
        if self.severity not in SEVERITIES:
            raise ValueError(f"{self.rule_id}: severity must be info, warn or refuse")
        if self.effective_to is not None and self.effective_to < self.effective_from:
            raise ValueError(f"{self.rule_id}: effective_to is before effective_from")
        if self.rule_id not in RULE_FUNCTIONS:
            raise ValueError(f"{self.rule_id}: no rule function with this id")

    def in_effect(self, on_date: date) -> bool:
        return self.effective_from <= on_date and (self.effective_to is None or on_date <= self.effective_to)

    def applies(self, claim: ClaimSettled, stage: Stage, on_date: date) -> bool:
        # `in_effect` inlined: asked for every claim and rule of an audit.
        return (
            stage in self.stages
            and self.effective_from <= on_date
            and (self.effective_to is None or on_date <= self.effective_to)
            and self.scope.matches(claim)
        )


@dataclass(frozen=True)
class ItemRestriction:
    """Knowledge-base restrictions on one catalogue item (三目录 限定支付 / 知识库)."""

    item_code: str
    sex: Literal["M", "F"] | None = None  # 限性别
    min_age: int | None = None  # 限年龄, whole years, inclusive
    max_age: int | None = None
    min_institution_level: int | None = None  # 限医院等级
    max_quantity_per_day: int | None = None  # 日最大用量
    limit_price: Decimal | None = None  # 最高限价
    components: tuple[str, ...] = ()  # 打包项目 → 组成项目 (a package's component items)
    drug_group: str | None = None  # 药品通用名/ATC 组: the same drug under any brand or pack


@dataclass(frozen=True)
class PriorClaim:
    """A claim of the same person already settled (就诊历史)."""

    settlement_id: UUID
    institution_code: str
    visit_type: VisitType
    admitted_on: date
    discharged_on: date
    diagnoses: tuple[str, ...] = ()
    item_codes: tuple[str, ...] = ()


@dataclass(frozen=True)
class SoldCode:
    """A drug traceability code (药品追溯码) already sold under a settlement."""

    code: str
    settlement_id: UUID


@dataclass(frozen=True)
class DrugPurchase:
    """A drug the same person already bought under another settlement (购药记录), by drug group."""

    settlement_id: UUID
    drug_group: str
    practitioner_code: str
    institution_code: str  # the institution or designated pharmacy (定点药店) that sold it
    purchased_on: date


@dataclass(frozen=True)
class LtcService:
    """A long-term-care service the person received and the LTC fund paid (长护服务记录)."""

    service_date: date
    amount: Decimal = Decimal("0.00")  # what the LTC fund paid for that day's care


@dataclass(frozen=True)
class InstitutionCost:
    """One institution's cases in one diagnosis group over the comparison period (同级同病种费用)."""

    institution_code: str
    institution_level: int
    diagnosis_group: str
    cases: int
    total_cost: Decimal

    @cached_property  # the audit's batch reuses one object per institution across its claims
    def cost_per_case(self) -> Decimal:
        return self.total_cost / self.cases


@dataclass(frozen=True)
class PeerBaseline:
    """A frozen peer baseline (同级同病种基线): every institution's cases and cost in one closed month,
    by level and diagnosis group, as ops took it. `costs` holds only the groups the claim asks for."""

    period: date  # the first day of the month whose settled claims it counts
    costs: tuple[InstitutionCost, ...] = ()
    # peer_outlier's verdict for one institution under one set of parameters, worked out once: the
    # figures are frozen and a batch's claims of one (level, group) share this object.
    verdicts: dict[tuple[int, str, str, int, int, Decimal], PeerVerdict | None] = field(
        default_factory=dict, compare=False, repr=False
    )


@dataclass(frozen=True)
class PeerVerdict:
    """An institution found above its peers in a baseline: its cost per case, the peers' mean, z."""

    mine: Decimal
    mean: Decimal
    z: str  # as the message says it: one decimal, or "inf" when the peers all cost the same
    peers: int


@dataclass(frozen=True)
class InstitutionProfile:
    """What supervision's projection knows of an institution (from the claims settled there)."""

    institution_level: int | None
    institution_type: str | None
    region_code: str | None


@dataclass(frozen=True)
class History:
    """Everything the rules may look at besides the claim, loaded by the caller. Empty = unknown."""

    sex: Literal["M", "F"] | None = None
    birth_date: date | None = None
    death_date: date | None = None
    catalogue: tuple[ItemRestriction, ...] = ()
    prior_claims: tuple[PriorClaim, ...] = ()
    sold_codes: tuple[SoldCode, ...] = ()
    drug_purchases: tuple[DrugPurchase, ...] = ()
    ltc_services: tuple[LtcService, ...] = ()
    # The latest frozen baseline of a month before the claim's own (None: none taken yet); the
    # claim's own institution is among its costs if it had cases then.
    peer_baseline: PeerBaseline | None = None

    def restriction(self, item_code: str) -> ItemRestriction | None:
        for item in self.catalogue:
            if item.item_code == item_code:
                return item
        return None

    def others(self, claim: ClaimSettled) -> list[PriorClaim]:
        """Prior claims other than this one (re-auditing a claim must not match itself)."""
        return [prior for prior in self.prior_claims if prior.settlement_id != claim.settlement_id]


RuleFunction = Callable[[ClaimSettled, History, Mapping[str, Any]], list[Finding]]


def _hit(rule_id: str, line_no: int | None, amount: Decimal, message: str) -> Finding:
    # Version and severity belong to the RuleVersion; `evaluate` stamps them on.
    return Finding(
        rule_id=rule_id,
        rule_version=0,
        severity="info",
        line_no=line_no,
        amount_at_stake=to_fen(amount),
        message=message,
    )


def _claim_total(claim: ClaimSettled) -> Decimal:
    return sum((line.amount for line in claim.lines), Decimal("0.00"))


def _stay_nights(start: date, end: date) -> set[date]:
    """Nights of an inpatient stay: admission day up to, not including, discharge day (at least one)."""
    nights = max(1, (end - start).days)
    return {start + timedelta(days=i) for i in range(nights)}


def _days(start: date, end: date) -> set[date]:
    return {start + timedelta(days=i) for i in range((end - start).days + 1)}


def _age_on(birth: date, on: date) -> int:
    return on.year - birth.year - ((on.month, on.day) < (birth.month, birth.day))


def quantity_per_line(claim: ClaimSettled, history: History, params: Mapping[str, Any]) -> list[Finding]:
    """单次收费数量超限: a line whose quantity is above a medically unlikely maximum."""
    maximum = int(params.get("max_quantity", 30))
    return [
        _hit(
            "QTY-MAX-LINE",
            line.line_no,
            line.unit_price * (line.quantity - maximum),
            f"line {line.line_no} ({line.item_code}) bills {line.quantity} units, above the maximum of {maximum}",
        )
        for line in claim.lines
        if line.quantity > maximum
    ]


def sex_conflict(claim: ClaimSettled, history: History, params: Mapping[str, Any]) -> list[Finding]:
    """性别不符: an item restricted to one sex billed for a person of the other."""
    if history.sex is None or not history.catalogue:
        return []
    findings = []
    for line in claim.lines:
        item = history.restriction(line.item_code)
        if item is not None and item.sex is not None and item.sex != history.sex:
            findings.append(
                _hit(
                    "SEX-CONFLICT",
                    line.line_no,
                    line.amount,
                    f"line {line.line_no} ({line.item_code}) is for sex {item.sex}; the person is {history.sex}",
                )
            )
    return findings


def age_conflict(claim: ClaimSettled, history: History, params: Mapping[str, Any]) -> list[Finding]:
    """年龄不符: an item restricted to an age range billed outside it (age on the admission day)."""
    if history.birth_date is None or not history.catalogue:
        return []
    age = _age_on(history.birth_date, claim.admitted_on)
    findings = []
    for line in claim.lines:
        item = history.restriction(line.item_code)
        if item is None:
            continue
        if (item.min_age is not None and age < item.min_age) or (item.max_age is not None and age > item.max_age):
            findings.append(
                _hit(
                    "AGE-CONFLICT",
                    line.line_no,
                    line.amount,
                    f"line {line.line_no} ({line.item_code}) is for ages {item.min_age}-{item.max_age}; "
                    f"the person is {age}",
                )
            )
    return findings


def institution_level(claim: ClaimSettled, history: History, params: Mapping[str, Any]) -> list[Finding]:
    """限医院等级: an item billed by an institution below the level it is restricted to (0 = unrated)."""
    if claim.institution_level is None or not history.catalogue:
        return []
    findings = []
    for line in claim.lines:
        item = history.restriction(line.item_code)
        minimum = None if item is None else item.min_institution_level
        if minimum is not None and claim.institution_level < minimum:
            findings.append(
                _hit(
                    "INST-LEVEL",
                    line.line_no,
                    line.amount,
                    f"line {line.line_no} ({line.item_code}) needs an institution of level "
                    f"{minimum}; this one is level {claim.institution_level}",
                )
            )
    return findings


def quantity_per_day(claim: ClaimSettled, history: History, params: Mapping[str, Any]) -> list[Finding]:
    """超日最大用量: an item's total quantity above its daily maximum × the days of the claim.

    The excess is put on the item's last line, at that line's unit price.
    """
    if not history.catalogue:
        return []  # no restriction to read (most claims: the audit asks every rule of every claim)
    days = max(1, (claim.discharged_on - claim.admitted_on).days)
    totals: dict[str, int] = {}
    last: dict[str, ClaimLine] = {}
    for line in claim.lines:
        totals[line.item_code] = totals.get(line.item_code, 0) + line.quantity
        last[line.item_code] = line
    findings = []
    for code, total in totals.items():
        item = history.restriction(code)
        if item is None or item.max_quantity_per_day is None:
            continue
        allowed = item.max_quantity_per_day * days
        if total > allowed:
            line = last[code]
            findings.append(
                _hit(
                    "QTY-MAX-DAY",
                    line.line_no,
                    line.unit_price * (total - allowed),
                    f"{code}: {total} units over {days} day(s), above {item.max_quantity_per_day} a day",
                )
            )
    return findings


def duplicate_charge(claim: ClaimSettled, history: History, params: Mapping[str, Any]) -> list[Finding]:
    """重复收费: a one-day visit bills an item another claim already billed for that day."""
    if claim.admitted_on != claim.discharged_on:
        return []  # overlapping stays are the phantom-bed rule's business
    day = claim.admitted_on
    billed = {
        code
        for prior in history.others(claim)
        if prior.admitted_on <= day <= prior.discharged_on
        for code in prior.item_codes
    }
    return [
        _hit(
            "DUP-CHARGE",
            line.line_no,
            line.amount,
            f"line {line.line_no} ({line.item_code}) was already billed on {day} by another claim",
        )
        for line in claim.lines
        if line.item_code in billed
    ]


def unbundling(claim: ClaimSettled, history: History, params: Mapping[str, Any]) -> list[Finding]:
    """分解收费: a component billed on the same day as the package it belongs to.

    Component lines of this claim are flagged when the package is in this claim, or in another
    claim for a one-day visit on the same day. (A package billed after its components were paid
    in an earlier claim is not flagged here: the amount at stake is in the other claim.)
    """
    if not history.catalogue:
        return []  # no package known
    packages = {line.item_code for line in claim.lines}
    if claim.admitted_on == claim.discharged_on:
        day = claim.admitted_on
        packages |= {
            code
            for prior in history.others(claim)
            if prior.admitted_on <= day <= prior.discharged_on
            for code in prior.item_codes
        }
    component_of: dict[str, str] = {}
    for code in packages:
        item = history.restriction(code)
        if item is not None:
            for component in item.components:
                component_of.setdefault(component, code)
    return [
        _hit(
            "UNBUNDLE",
            line.line_no,
            line.amount,
            f"line {line.line_no} ({line.item_code}) is part of package {component_of[line.item_code]} "
            "billed the same day",
        )
        for line in claim.lines
        if line.item_code in component_of
    ]


def price_above_limit(claim: ClaimSettled, history: History, params: Mapping[str, Any]) -> list[Finding]:
    """超限价: a unit price above the item's limit price; the difference × quantity is at stake."""
    if not history.catalogue:
        return []
    findings = []
    for line in claim.lines:
        item = history.restriction(line.item_code)
        if item is not None and item.limit_price is not None and line.unit_price > item.limit_price:
            findings.append(
                _hit(
                    "PRICE-LIMIT",
                    line.line_no,
                    (line.unit_price - item.limit_price) * line.quantity,
                    f"line {line.line_no} ({line.item_code}) unit price {line.unit_price} "
                    f"above the limit of {item.limit_price}",
                )
            )
    return findings


def split_admission(claim: ClaimSettled, history: History, params: Mapping[str, Any]) -> list[Finding]:
    """分解住院: readmitted for a shared diagnosis within N days (parameter, default 15) of discharge.

    By default only readmission to the same institution counts (`same_institution`). The whole
    readmission is at stake.
    """
    if claim.visit_type != "inpatient":
        return []
    max_days = int(params.get("readmission_days", 15))
    same_institution = bool(params.get("same_institution", True))
    diagnoses = set(claim.diagnoses)
    for prior in history.others(claim):
        if prior.visit_type != "inpatient":
            continue
        if same_institution and prior.institution_code != claim.institution_code:
            continue
        gap = (claim.admitted_on - prior.discharged_on).days
        shared = diagnoses & set(prior.diagnoses)
        if 0 <= gap <= max_days and shared:
            return [
                _hit(
                    "SPLIT-ADMISSION",
                    None,
                    _claim_total(claim),
                    f"readmitted {gap} day(s) after discharge on {prior.discharged_on} for {', '.join(sorted(shared))}",
                )
            ]
    return []


def phantom_bed_days(claim: ClaimSettled, history: History, params: Mapping[str, Any]) -> list[Finding]:
    """挂床住院: inpatient nights overlapping another inpatient stay.

    The claim total × overlapping nights / nights of this stay is at stake.
    """
    if claim.visit_type != "inpatient":
        return []
    nights = _stay_nights(claim.admitted_on, claim.discharged_on)
    overlap: set[date] = set()
    for prior in history.others(claim):
        if prior.visit_type == "inpatient":
            overlap |= nights & _stay_nights(prior.admitted_on, prior.discharged_on)
    if not overlap:
        return []
    return [
        _hit(
            "PHANTOM-BED",
            None,
            _claim_total(claim) * len(overlap) / len(nights),
            f"{len(overlap)} of {len(nights)} night(s) overlap another inpatient stay, from {min(overlap)}",
        )
    ]


def traceability_resold(claim: ClaimSettled, history: History, params: Mapping[str, Any]) -> list[Finding]:
    """药品追溯码重复: a traceability code already sold (or repeated in this claim) means resale.

    One code is one unit: each reused code puts one unit price at stake.
    """
    seen = {sold.code for sold in history.sold_codes if sold.settlement_id != claim.settlement_id}
    findings = []
    for line in claim.lines:
        reused = []
        for code in line.traceability_codes:
            if code in seen:
                reused.append(code)
            seen.add(code)
        if reused:
            findings.append(
                _hit(
                    "TRACE-RESOLD",
                    line.line_no,
                    line.unit_price * len(reused),
                    f"line {line.line_no} ({line.item_code}) sells traceability code(s) already sold: "
                    f"{', '.join(reused)}",
                )
            )
    return findings


def after_death(claim: ClaimSettled, history: History, params: Mapping[str, Any]) -> list[Finding]:
    """死亡后就医: care that starts after the person's date of death; the whole claim is at stake."""
    if history.death_date is None or claim.admitted_on <= history.death_date:
        return []
    return [
        _hit(
            "AFTER-DEATH",
            None,
            _claim_total(claim),
            f"care from {claim.admitted_on}, after the date of death {history.death_date}",
        )
    ]


def doctor_shopping(claim: ClaimSettled, history: History, params: Mapping[str, Any]) -> list[Finding]:
    """多处就医/多处购药: one drug group from many prescribers or many institutions in a short window.

    For each drug group on the claim (the catalogue's `drug_group`), the person's purchases of that
    group in the `window_days` (default 90) up to the claim's first day are counted together with
    this claim: `min_prescribers` (default 5) distinct practitioners, or `min_institutions`
    (default 5) distinct institutions/pharmacies, flag every line of that group on this claim.
    """
    window = int(params.get("window_days", 90))
    min_prescribers = int(params.get("min_prescribers", 5))
    min_institutions = int(params.get("min_institutions", 5))
    if not history.catalogue:
        return []  # no drug group known for any line
    earliest = claim.admitted_on - timedelta(days=window - 1)
    groups: dict[str, list[ClaimLine]] = {}
    for line in claim.lines:
        item = history.restriction(line.item_code)
        if item is not None and item.drug_group is not None:
            groups.setdefault(item.drug_group, []).append(line)
    findings = []
    for group, lines in groups.items():
        purchases = [
            p
            for p in history.drug_purchases
            if p.drug_group == group
            and p.settlement_id != claim.settlement_id
            and earliest <= p.purchased_on <= claim.admitted_on
        ]
        prescribers = {p.practitioner_code for p in purchases} | {claim.practitioner_code}
        institutions = {p.institution_code for p in purchases} | {claim.institution_code}
        if len(prescribers) < min_prescribers and len(institutions) < min_institutions:
            continue
        for line in lines:
            findings.append(
                _hit(
                    "DOCTOR-SHOPPING",
                    line.line_no,
                    line.amount,
                    f"line {line.line_no} ({line.item_code}): drug group {group} from {len(prescribers)} "
                    f"prescriber(s) at {len(institutions)} institution(s) in {window} days",
                )
            )
    return findings


def ltc_during_stay(claim: ClaimSettled, history: History, params: Mapping[str, Any]) -> list[Finding]:
    """住院期间长护结算: LTC care paid for a day the person was an inpatient under this claim.

    A stay covers the days after admission and before discharge; the admission and discharge days
    count only when `include_admission_day` / `include_discharge_day` are set (default False: a
    morning home visit on the day of admission is allowed). The LTC paid on covered days is at stake.
    """
    if claim.visit_type != "inpatient":
        return []
    first = claim.admitted_on if params.get("include_admission_day", False) else claim.admitted_on + timedelta(days=1)
    last = (
        claim.discharged_on if params.get("include_discharge_day", False) else claim.discharged_on - timedelta(days=1)
    )
    covered = sorted({s.service_date for s in history.ltc_services if first <= s.service_date <= last})
    if not covered:
        return []
    paid = sum((s.amount for s in history.ltc_services if first <= s.service_date <= last), Decimal("0.00"))
    return [
        _hit(
            "LTC-DURING-STAY",
            None,
            paid,
            f"LTC care paid on {len(covered)} day(s) of this inpatient stay, from {covered[0]}",
        )
    ]


def diagnosis_group(claim: ClaimSettled) -> str | None:
    """The claim's diagnosis group: the ICD-10 category (first three characters) of the main diagnosis.

    Upper-cased before it is cut: some characters upper-case to several ("ß" → "SS"), and a group
    longer than three would not fit its column, dead-lettering the claim unaudited."""
    return claim.diagnoses[0].upper()[:3] if claim.diagnoses else None


def peer_outlier(claim: ClaimSettled, history: History, params: Mapping[str, Any]) -> list[Finding]:
    """高于同级同病种: the institution's cost per case far above its peers' (possible upcoding).

    Judged against a frozen baseline (`history.peer_baseline`: a closed month before the claim's
    own, never the running totals), so the same claims give the same findings whatever order
    they are audited in. Peers are the other institutions of the claim's level with cases in the
    claim's diagnosis group in that baseline. With at least `min_peers` (default 5) peers, a
    z-score of the institution's baseline cost per case against the peers' mean and population
    standard deviation above `z_threshold` (default 3) flags the claim; what the claim costs above
    the peer mean is at stake. No baseline, or the institution absent from it: no finding.
    `min_cases` (default 1) leaves out of the comparison every institution, the claim's own
    included, with fewer cases than that in the baseline: a cost per case of three cases is noise.
    """
    baseline = history.peer_baseline
    if baseline is None:
        return []  # no baseline taken yet: nothing fixed to compare with
    group = diagnosis_group(claim)
    if group is None or claim.institution_level is None:
        return []
    min_peers = int(params.get("min_peers", 5))
    min_cases = max(1, int(params.get("min_cases", 1)))
    z_threshold = Decimal(str(params.get("z_threshold", 3)))
    key = (claim.institution_level, group, claim.institution_code, min_peers, min_cases, z_threshold)
    if key in baseline.verdicts:
        verdict = baseline.verdicts[key]
    else:
        verdict = baseline.verdicts[key] = peer_verdict(baseline, *key)
    if verdict is None:
        return []
    return [
        _hit(
            "PEER-OUTLIER",
            None,
            max(Decimal(0), _claim_total(claim) - verdict.mean),
            f"{claim.institution_code} cost {verdict.mine:.2f} a case in {group} at level {claim.institution_level} "
            f"in {baseline.period:%Y-%m}; {verdict.peers} peers averaged {verdict.mean:.2f} (z = {verdict.z})",
        )
    ]


def peer_verdict(
    baseline: PeerBaseline,
    level: int,
    group: str,
    institution: str,
    min_peers: int,
    min_cases: int,
    z_threshold: Decimal,
) -> PeerVerdict | None:
    """Whether the institution's cost per case in the baseline is above its peers' (None: not, or
    too few peers, or the institution absent); the same for every claim of that institution."""
    # One pass over the baseline's costs; sums in the same order.
    peers: list[Decimal] = []
    own_total, own_cases, has_own = Decimal(0), 0, False
    for c in baseline.costs:
        if c.institution_level != level or c.diagnosis_group != group or c.cases < min_cases:
            continue
        if c.institution_code == institution:
            own_total += c.total_cost
            own_cases += c.cases
            has_own = True
        else:
            peers.append(c.cost_per_case)
    if not has_own or len(peers) < min_peers:
        return None
    mine = own_total / own_cases
    mean = sum(peers, Decimal(0)) / len(peers)
    if mine <= mean and z_threshold >= 0:
        return None  # at or below the mean: z <= 0, whatever the deviation (spares the sqrt)
    std = (sum(((x - mean) ** 2 for x in peers), Decimal(0)) / len(peers)).sqrt()
    if std == 0:
        if mine <= mean:
            return None
    elif (mine - mean) / std <= z_threshold:
        return None
    return PeerVerdict(mine, mean, "inf" if std == 0 else f"{(mine - mean) / std:.1f}", len(peers))


RULE_FUNCTIONS: dict[str, RuleFunction] = {
    "QTY-MAX-LINE": quantity_per_line,
    "SEX-CONFLICT": sex_conflict,
    "AGE-CONFLICT": age_conflict,
    "INST-LEVEL": institution_level,
    "QTY-MAX-DAY": quantity_per_day,
    "DUP-CHARGE": duplicate_charge,
    "UNBUNDLE": unbundling,
    "PRICE-LIMIT": price_above_limit,
    "SPLIT-ADMISSION": split_admission,
    "PHANTOM-BED": phantom_bed_days,
    "TRACE-RESOLD": traceability_resold,
    "AFTER-DEATH": after_death,
    "DOCTOR-SHOPPING": doctor_shopping,
    "LTC-DURING-STAY": ltc_during_stay,
    "PEER-OUTLIER": peer_outlier,
}

_LIBRARY_START = date(2025, 1, 1)

# The default library: version 1 of every rule, all scopes, all stages unless the rule needs
# history only post-event audit has (split admission, phantom beds, LTC during a stay, peers).
LIBRARY: tuple[RuleVersion, ...] = (
    RuleVersion("QTY-MAX-LINE", 1, "medical", _LIBRARY_START, parameters={"max_quantity": 30}),
    RuleVersion("SEX-CONFLICT", 1, "medical", _LIBRARY_START, severity="refuse"),
    RuleVersion("AGE-CONFLICT", 1, "medical", _LIBRARY_START, severity="refuse"),
    RuleVersion("INST-LEVEL", 1, "policy", _LIBRARY_START, severity="refuse"),
    RuleVersion("QTY-MAX-DAY", 1, "medical", _LIBRARY_START),
    RuleVersion("DUP-CHARGE", 1, "management", _LIBRARY_START, severity="refuse", window_days=1),
    RuleVersion("UNBUNDLE", 1, "management", _LIBRARY_START, window_days=1),
    RuleVersion("PRICE-LIMIT", 1, "policy", _LIBRARY_START, severity="refuse"),
    RuleVersion(
        "SPLIT-ADMISSION",
        1,
        "management",
        _LIBRARY_START,
        stages=frozenset({"post"}),
        parameters={"readmission_days": 15, "same_institution": True},
        window_days=15,
    ),
    RuleVersion("PHANTOM-BED", 1, "management", _LIBRARY_START, stages=frozenset({"in", "post"}), window_days=366),
    RuleVersion("TRACE-RESOLD", 1, "management", _LIBRARY_START, severity="refuse"),
    RuleVersion("AFTER-DEATH", 1, "management", _LIBRARY_START, severity="refuse"),
    RuleVersion(
        "DOCTOR-SHOPPING",
        1,
        "management",
        _LIBRARY_START,
        parameters={"window_days": 90, "min_prescribers": 5, "min_institutions": 5},
        window_days=90,
    ),
    RuleVersion(
        "LTC-DURING-STAY",
        1,
        "policy",
        _LIBRARY_START,
        stages=frozenset({"post"}),
        parameters={"include_admission_day": False, "include_discharge_day": False},
        window_days=366,
    ),
    RuleVersion(
        "PEER-OUTLIER",
        1,
        "medical",
        _LIBRARY_START,
        stages=frozenset({"post"}),
        parameters={"z_threshold": 3, "min_peers": 5},
    ),
)


def evaluate(
    claim: ClaimSettled, history: History, rules: Iterable[RuleVersion], stage: Stage, on_date: date
) -> list[Finding]:
    """Run the rule versions whose scope, stage and effective dates match; findings in rule order."""
    return evaluate_counted(claim, history, rules, stage, on_date)[0]


def evaluate_counted(
    claim: ClaimSettled, history: History, rules: Iterable[RuleVersion], stage: Stage, on_date: date
) -> tuple[list[Finding], int]:
    """`evaluate`, and how many rule versions ran (each rule's scope is matched once, not twice)."""
    findings = []
    ran = 0
    for rule in rules:
        if not rule.applies(claim, stage, on_date):
            continue
        ran += 1
        for hit in RULE_FUNCTIONS[rule.rule_id](claim, history, rule.parameters):
            findings.append(replace(hit, rule_id=rule.rule_id, rule_version=rule.version, severity=rule.severity))
    return findings, ran


def in_stage_check(claim: ClaimSettled, history: History, rules: Sequence[RuleVersion]) -> tuple[list[Finding], int]:
    """事中审核: the refuse-severity findings of the in-stage rules, and how many in-stage rules ran.

    Warnings of the in stage do not stop a settlement (post-event audit flags them); only a
    refusal does. The rules in force on the day care began judge the claim, as after the fact.
    """
    found, ran = evaluate_counted(claim, history, rules, "in", claim.admitted_on)
    return [f for f in found if f.severity == "refuse"], ran


# ---------------------------------------------------------------------------------------------
# Wiring helpers (pure): rule versions and restrictions from stored rows, the history window a
# set of rules needs, the draft order of a precheck as a claim, the business date.
# ---------------------------------------------------------------------------------------------

_ZERO = Decimal("0.00")
DEFAULT_LOOKBACK_DAYS = 366  # when no rule says how far back it looks


def month_of(day: date) -> date:
    """The first day of the day's month: how peer baseline periods are named."""
    return day.replace(day=1)


def settlement_month(claim: ClaimSettled) -> date:
    """The month a claim was settled in (business date): the month a peer baseline counts it in,
    and the month whose claims are judged against the baselines of the months before it."""
    return month_of(business_date(claim.settled_at))


def next_month(period: date) -> date:
    return date(period.year + period.month // 12, period.month % 12 + 1, 1)


def is_closed_period(period: date, today: date) -> bool:
    """A month can be frozen into a peer baseline once it is over: no claim settles in it any more."""
    return next_month(month_of(period)) <= today


def rule_version_from_row(
    *,
    rule_id: str,
    version: int,
    family: str,
    stages: Iterable[str],
    severity: str,
    parameters: Mapping[str, Any],
    scope: Mapping[str, Any],
    window_days: int | None,
    effective_from: date,
    effective_to: date | None,
) -> RuleVersion:
    """A stored rule version as a `RuleVersion`; a malformed row raises ValueError (never silently skipped)."""
    stage_set = frozenset(stages)
    if not stage_set <= ALL_STAGES:
        raise ValueError(f"{rule_id}: unknown stage in {sorted(stage_set)}")
    if severity not in SEVERITIES:
        raise ValueError(f"{rule_id}: unknown severity {severity!r}")
    return RuleVersion(
        rule_id=rule_id,
        version=version,
        family=family,
        effective_from=effective_from,
        effective_to=effective_to,
        scope=RuleScope(
            regions=frozenset(scope.get("regions", ())),
            schemes=frozenset(scope.get("schemes", ())),
            institution_levels=frozenset(int(level) for level in scope.get("institution_levels", ())),
            institution_types=frozenset(scope.get("institution_types", ())),
        ),
        stages=stage_set,  # type: ignore[arg-type]  # checked against ALL_STAGES above
        severity=severity,  # type: ignore[arg-type]  # checked against SEVERITIES above
        parameters=dict(parameters),
        window_days=window_days,
    )


# The rules that read each windowed projection. A projection is read only as far back as its own
# readers look: the in-stage check and the post audit read a year, then 90 days (DOCTOR-SHOPPING's
# drug purchases), of a person's claims that no rule reading claims looks back more than 15 days into.
PRIOR_CLAIM_RULES = frozenset({"DUP-CHARGE", "UNBUNDLE", "SPLIT-ADMISSION", "PHANTOM-BED"})
DRUG_PURCHASE_RULES = frozenset({"DOCTOR-SHOPPING"})


def projection_lookback_days(rules: Iterable[RuleVersion], readers: frozenset[str]) -> int:
    """How many days before a claim's first day one projection is read: the widest window of the
    rules among `rules` that read it, where a reader that says no window looks back the default
    year; 0 (what overlaps the claim) when none of them reads it."""
    return max(
        (
            max(rule.window_days or 0, int(rule.parameters.get("window_days", 0))) or DEFAULT_LOOKBACK_DAYS
            for rule in rules
            if rule.rule_id in readers
        ),
        default=0,
    )


def claim_total(claim: ClaimSettled) -> Decimal:
    return _claim_total(claim)


def drug_groups(claim: ClaimSettled, catalogue: Iterable[ItemRestriction]) -> set[str]:
    """The drug groups (药品通用名组) the claim's lines belong to, as the knowledge base knows them."""
    group_of = {item.item_code: item.drug_group for item in catalogue if item.drug_group}
    return {group for line in claim.lines if (group := group_of.get(line.item_code)) is not None}


def traceability_codes(claim: ClaimSettled) -> list[str]:
    return [code for line in claim.lines for code in line.traceability_codes]


def with_profile(claim: ClaimSettled, profile: InstitutionProfile | None) -> ClaimSettled:
    """The claim with its institution's level, type and region taken from the profile where the
    claim does not say them (what the claim says wins)."""
    if profile is None:
        return claim
    update: dict[str, object] = {}
    if claim.institution_level is None and profile.institution_level is not None:
        update["institution_level"] = profile.institution_level
    if not claim.institution_type and profile.institution_type:
        update["institution_type"] = profile.institution_type
    if not claim.region_code and profile.region_code:
        update["region_code"] = profile.region_code
    return claim.model_copy(update=update) if update else claim


@dataclass(frozen=True)
class DraftLine:
    item_code: str
    quantity: int
    unit_price: Decimal
    traceability_codes: tuple[str, ...] = ()


# Built once: a frozen model, and twelve money fields validated per precheck showed in profiles.
_NOTHING_PAID = SettlementBreakdown(
    medfee_sumamt=_ZERO,
    fulamt_ownpay_amt=_ZERO,
    overlmt_selfpay=_ZERO,
    preselfpay_amt=_ZERO,
    inscp_scp_amt=_ZERO,
    hifp_pay=_ZERO,
    hifmi_pay=_ZERO,
    hifob_pay=_ZERO,
    maf_pay=_ZERO,
    acct_pay=_ZERO,
    psn_cash_pay=_ZERO,
    fund_pay_sumamt=_ZERO,
)


def draft_claim(
    *,
    person_no: str,
    practitioner_code: str,
    institution_code: str,
    visit_type: VisitType,
    admitted_on: date,
    discharged_on: date,
    diagnoses: Iterable[str],
    lines: Iterable[DraftLine],
    institution_level: int | None,
    institution_type: str | None,
    region_code: str | None,
    scheme: Scheme | None,
    now: datetime,
) -> ClaimSettled:
    """A precheck's draft order (事前提醒) as a claim, so the very same rule functions judge it.

    Nothing is paid yet, so the breakdown is zero and the settlement id is a fresh one that
    matches nothing in the history.
    """
    return ClaimSettled(
        settlement_id=uuid4(),
        person_no=person_no,
        institution_code=institution_code,
        practitioner_code=practitioner_code,
        visit_type=visit_type,
        admitted_on=admitted_on,
        discharged_on=discharged_on,
        diagnoses=list(diagnoses),
        lines=[
            ClaimLine(
                line_no=number,
                item_code=line.item_code,
                quantity=line.quantity,
                unit_price=line.unit_price,
                amount=to_fen(line.unit_price * line.quantity),
                traceability_codes=list(line.traceability_codes),
            )
            for number, line in enumerate(lines, start=1)
        ],
        breakdown=_NOTHING_PAID,
        settled_at=now,
        institution_level=institution_level,
        institution_type=institution_type,
        region_code=region_code,
        scheme=scheme,
    )


# ---------------------------------------------------------------------------------------------
# Statistics (pure): merge per-source counts into one row per region and month
# ---------------------------------------------------------------------------------------------

STATISTIC_COUNTS = ("institutions_inspected", "cases_concluded", "letters", "yellow_cards", "red_cards", "flags")
STATISTIC_AMOUNTS = ("amount_recovered", "amount_refused", "penalties", "amount_collected")


def merge_statistics(*sources: Iterable[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """One row per (region, month) with every count and amount (zero where a source had none),
    ordered by month then region."""
    merged: dict[tuple[str, str], dict[str, Any]] = {}
    for source in sources:
        for row in source:
            key = (str(row["region_code"]), str(row["month"]))
            target = merged.setdefault(
                key,
                {"region_code": key[0], "month": key[1]}
                | dict.fromkeys(STATISTIC_COUNTS, 0)
                | dict.fromkeys(STATISTIC_AMOUNTS, Decimal("0.00")),
            )
            for name in STATISTIC_COUNTS:
                target[name] += int(row.get(name, 0) or 0)
            for name in STATISTIC_AMOUNTS:
                target[name] = to_fen(target[name] + Decimal(row.get(name, 0) or 0))
    return [merged[key] for key in sorted(merged, key=lambda k: (k[1], k[0]))]


# ---------------------------------------------------------------------------------------------
# Backtesting (pure): a candidate rule version beside the active one over stored claims
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class BacktestTally:
    claims_hit: int
    findings: int
    amount_at_stake: Decimal
    top_institutions: tuple[tuple[str, int, Decimal], ...]  # (institution, findings, amount), most amount first


def tally_backtest(hits: Iterable[tuple[str, Finding]], *, top: int = 10) -> BacktestTally:
    """Sum one rule version's findings over claims: (settlement key, finding) pairs → hits, amounts, top institutions.

    The key is "institution_code/settlement_id" so one pass gives both claims hit and institutions.
    """
    claims: set[str] = set()
    per_institution: dict[str, tuple[int, Decimal]] = {}
    total = Decimal("0.00")
    count = 0
    for key, finding in hits:
        institution = key.split("/", 1)[0]
        claims.add(key)
        count += 1
        total += finding.amount_at_stake
        found, amount = per_institution.get(institution, (0, Decimal("0.00")))
        per_institution[institution] = (found + 1, amount + finding.amount_at_stake)
    ranked = sorted(per_institution.items(), key=lambda item: (-item[1][1], -item[1][0], item[0]))[:top]
    return BacktestTally(
        claims_hit=len(claims),
        findings=count,
        amount_at_stake=to_fen(total),
        top_institutions=tuple((code, found, to_fen(amount)) for code, (found, amount) in ranked),
    )


def run_as_if_in_force(rule: RuleVersion, claim: ClaimSettled, history: History) -> list[Finding]:
    """The rule's findings on a claim at the post stage, whatever its effective dates (for backtests)."""
    always = replace(rule, effective_from=date.min, effective_to=None, stages=frozenset({"post"}))
    return evaluate(claim, history, [always], "post", claim.admitted_on)


_TRIAL_CLAIM = ClaimSettled(
    settlement_id=UUID(int=0),
    person_no="P00000000000",
    institution_code="TRIAL",
    practitioner_code="TRIAL",
    visit_type="inpatient",
    admitted_on=date(2026, 1, 1),
    discharged_on=date(2026, 1, 3),
    diagnoses=["J18.9"],
    lines=[
        ClaimLine(
            line_no=1,
            item_code="TRIAL",
            quantity=1,
            unit_price=Decimal("1.00"),
            amount=Decimal("1.00"),
            traceability_codes=["TRIAL"],
        )
    ],
    breakdown=SettlementBreakdown(**dict.fromkeys(SettlementBreakdown.model_fields, Decimal("0.00"))),
    settled_at=datetime(2026, 1, 3, tzinfo=BUSINESS_ZONE),
    institution_level=2,
)


def check_rule_version(rule: RuleVersion) -> None:
    """Run the rule once on a trial claim, so parameters it cannot read are refused when stored,
    not when an audit meets them. Raises ValueError."""
    trial = History(
        catalogue=(ItemRestriction("TRIAL", drug_group="TRIAL", max_quantity_per_day=1, limit_price=Decimal("1.00")),),
        peer_baseline=PeerBaseline(date(2025, 12, 1), (InstitutionCost("TRIAL", 2, "J18", 1, Decimal("1.00")),)),
    )
    try:
        run_as_if_in_force(rule, _TRIAL_CLAIM, trial)
    except (TypeError, ValueError, ArithmeticError) as exc:
        raise ValueError(f"{rule.rule_id} v{rule.version}: {exc}") from exc
