"""Versioned, effective-dated policies (待遇政策) and their selection. Pure: text in, records out.

A policy is keyed by region × scheme × year × visit type × institution level × retiree. It is never
edited in place: a change is a new version with a later effective date, and the newest version
effective on the date of service wins. Rows repeating a (key, version) are refused.

医疗救助 is per 救助对象 group, in one column `assistance_by_group`:
`group:share:cap[:deductible]` items joined by `;`, e.g. `extreme_poverty:1.00:60000;poverty_risk:0.60:20000:1000`
(share 救助比例, cap 年度救助限额, deductible 救助起付线, 0 when left out); empty: no group gets assistance.
A file with the older header (one `assistance_share` and `assistance_cap` for every group) is still
read: each known group gets that share and cap, as migration 0012 did to the stored versions.
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass
from datetime import date
from decimal import Decimal, InvalidOperation
from pathlib import Path

from services.settlement.service import ASSISTANCE_GROUPS, AssistanceTerms, CriticalTier, Policy, Scheme

COLUMNS = (
    "region",
    "scheme",
    "year",
    "visit_type",
    "institution_level",
    "retiree",
    "version",
    "effective_from",
    "effective_to",
    "deductible",
    "ratio",
    "cap",
    "critical_threshold",
    "critical_tiers",
    "critical_cap",
    "assistance_by_group",
    "unfiled_reduction",
)
# The header before 医疗救助 was per group: one share and cap for every group (read, then converted).
LEGACY_COLUMNS = (
    *COLUMNS[: COLUMNS.index("assistance_by_group")],
    "assistance_share",
    "assistance_cap",
    *COLUMNS[COLUMNS.index("assistance_by_group") + 1 :],
)
DEMO_POLICIES = Path(__file__).parent / "data" / "policies.csv"


@dataclass(frozen=True)
class PolicyKey:
    region: str  # 统筹区划, e.g. "350500" Quanzhou
    scheme: Scheme
    year: int  # 医保年度
    visit_type: str  # inpatient / outpatient
    institution_level: int  # 1 一级 / 2 二级 / 3 三级
    retiree: bool  # 退休 (residents: always False)


@dataclass(frozen=True)
class PolicyRecord:
    key: PolicyKey
    version: int  # 1, 2, ...: a higher version supersedes from its effective_from
    effective_from: date
    effective_to: date | None  # None: open-ended
    policy: Policy


class PolicyTableError(ValueError):
    def __init__(self, errors: list[tuple[int, str]]) -> None:
        self.errors = errors
        super().__init__("; ".join(f"row {row}: {reason}" for row, reason in errors))


MAX_VERSION = 2**31 - 1  # policies.version is INTEGER: a larger one failed in PostgreSQL (500), not here


class PolicyNotFound(LookupError):
    """No policy applies; the message names the key and what was missing."""


def _dec(value: str, field: str) -> Decimal:
    try:
        d = Decimal(value)
    except InvalidOperation:
        raise ValueError(f"{field} {value!r} is not a number") from None
    if not d.is_finite() or d < 0:
        raise ValueError(f"{field} {value!r} must be a non-negative number")
    return d


def _ratio(value: str, field: str) -> Decimal:
    d = _dec(value, field)
    if d > 1:
        raise ValueError(f"{field} {d} is above 1")
    return d


def parse_tiers(text: str) -> tuple[CriticalTier, ...]:
    """'50000:0.60;:0.70' → up to 50,000 at 60%, above at 70% (the last band has no upper bound)."""
    tiers: list[CriticalTier] = []
    for part in text.split(";"):
        upper_s, sep, ratio_s = part.partition(":")
        if not sep:
            raise ValueError(f"critical tier {part!r} is not upper:ratio")
        upper = _dec(upper_s, "critical tier upper") if upper_s else None
        tiers.append(CriticalTier(upper=upper, ratio=_ratio(ratio_s, "critical tier ratio")))
    uppers = [t.upper for t in tiers]
    if uppers[-1] is not None or any(u is None for u in uppers[:-1]):
        raise ValueError("only the last critical tier may (and must) be open-ended")
    bounded = [u for u in uppers if u is not None]
    if bounded != sorted(bounded):
        raise ValueError("critical tiers must be ascending")
    return tuple(tiers)


def parse_assistance_groups(text: str) -> dict[str, AssistanceTerms]:
    """'extreme_poverty:1.00:60000;poverty_risk:0.60:20000:1000' → terms per group, in the order given."""
    groups: dict[str, AssistanceTerms] = {}
    if not text.strip():
        return groups
    for part in text.split(";"):
        cells = [c.strip() for c in part.split(":")]
        if len(cells) not in (3, 4):
            raise ValueError(f"assistance group {part!r} is not group:share:cap or group:share:cap:deductible")
        group = cells[0]
        if group not in ASSISTANCE_GROUPS:
            raise ValueError(f"assistance group {group!r} is unknown; known groups: {', '.join(ASSISTANCE_GROUPS)}")
        if group in groups:
            raise ValueError(f"assistance group {group} is listed twice")
        groups[group] = AssistanceTerms(
            share=_ratio(cells[1], f"{group} assistance share"),
            cap=_dec(cells[2], f"{group} assistance cap"),
            deductible=_dec(cells[3], f"{group} assistance deductible") if len(cells) == 4 else Decimal("0"),
        )
    return groups


def from_legacy_row(row: dict[str, str]) -> dict[str, str]:
    """A row of the older header as a current one: every known group gets its one share and cap
    (no 救助起付线), as migration 0012 converts the stored versions."""
    _ratio(row["assistance_share"], "assistance_share")  # refused under the old column's own name
    _dec(row["assistance_cap"], "assistance_cap")
    by_group = ";".join(f"{group}:{row['assistance_share']}:{row['assistance_cap']}:0" for group in ASSISTANCE_GROUPS)
    return {column: by_group if column == "assistance_by_group" else row[column] for column in COLUMNS}


def parse_policy_row(row: dict[str, str]) -> PolicyRecord:
    """One CSV row (column → text) as a record; ValueError says what is wrong."""
    if not (len(row["region"]) == 6 and row["region"].isdigit()):
        raise ValueError(f"region {row['region']!r} is not a 6-digit 区划代码")
    if row["scheme"] not in ("employee", "resident"):
        raise ValueError(f"scheme {row['scheme']!r} is not employee/resident")
    if row["visit_type"] not in ("inpatient", "outpatient"):
        raise ValueError(f"visit_type {row['visit_type']!r} is not inpatient/outpatient")
    if row["institution_level"] not in ("1", "2", "3"):
        raise ValueError(f"institution_level {row['institution_level']!r} is not 1/2/3")
    if row["retiree"] not in ("true", "false"):
        raise ValueError(f"retiree {row['retiree']!r} is not true/false")
    if row["scheme"] == "resident" and row["retiree"] == "true":
        raise ValueError("residents have no retiree policy")
    try:
        year = int(row["year"])
        version = int(row["version"])
    except ValueError:
        raise ValueError("year and version must be whole numbers") from None
    if not 1 <= version <= MAX_VERSION:
        raise ValueError(f"version {version} must lie in 1..{MAX_VERSION}")
    try:
        eff_from = date.fromisoformat(row["effective_from"])
        eff_to = date.fromisoformat(row["effective_to"]) if row["effective_to"] else None
    except ValueError:
        raise ValueError("effective_from/effective_to must be dates YYYY-MM-DD") from None
    if eff_to is not None and eff_to < eff_from:
        raise ValueError(f"effective_to {eff_to} is before effective_from {eff_from}")
    if eff_from.year != year:
        raise ValueError(f"effective_from {eff_from} is not in year {year}")
    key = PolicyKey(
        region=row["region"],
        scheme=row["scheme"],  # type: ignore[arg-type]
        year=year,
        visit_type=row["visit_type"],
        institution_level=int(row["institution_level"]),
        retiree=row["retiree"] == "true",
    )
    name = "-".join(
        [key.region, str(year), key.scheme, key.visit_type, f"L{key.institution_level}"]
        + (["retiree"] if key.retiree else [])
        + [f"v{version}"]
    )
    policy = Policy(
        version=name,
        scheme=key.scheme,
        deductible=_dec(row["deductible"], "deductible"),
        ratio=_ratio(row["ratio"], "ratio"),
        cap=_dec(row["cap"], "cap"),
        critical_threshold=_dec(row["critical_threshold"], "critical_threshold"),
        critical_tiers=parse_tiers(row["critical_tiers"]),
        critical_cap=_dec(row["critical_cap"], "critical_cap"),
        unfiled_reduction=_ratio(row["unfiled_reduction"], "unfiled_reduction"),
        assistance=parse_assistance_groups(row["assistance_by_group"]),
    )
    return PolicyRecord(key=key, version=version, effective_from=eff_from, effective_to=eff_to, policy=policy)


def load_policy_rows(text: str) -> list[tuple[dict[str, str], PolicyRecord]]:
    """Parse a policy CSV (header = COLUMNS, or LEGACY_COLUMNS) into (row as loaded, record) pairs.

    Raises PolicyTableError listing every bad row. The row is kept (in the current columns) so
    storage can hold exactly what was validated and parse it again with `parse_policy_row`.
    """
    reader = csv.reader(io.StringIO(text))
    header = tuple(h.strip() for h in next(reader, []))
    if header not in (COLUMNS, LEGACY_COLUMNS):
        raise PolicyTableError([(1, f"header must be {','.join(COLUMNS)}")])
    legacy = header == LEGACY_COLUMNS
    loaded: list[tuple[dict[str, str], PolicyRecord]] = []
    errors: list[tuple[int, str]] = []
    seen: dict[tuple[PolicyKey, int], int] = {}
    for row_no, cells in enumerate(reader, start=2):
        if not cells or all(not c.strip() for c in cells):
            continue
        if len(cells) != len(header):
            errors.append((row_no, f"{len(cells)} fields, expected {len(header)}"))
            continue
        row = dict(zip(header, (c.strip() for c in cells), strict=True))
        try:
            if legacy:
                row = from_legacy_row(row)
            rec = parse_policy_row(row)
        except ValueError as exc:
            errors.append((row_no, str(exc)))
            continue
        if (rec.key, rec.version) in seen:
            errors.append(
                (
                    row_no,
                    f"version {rec.version} of {rec.policy.version} repeats row {seen[(rec.key, rec.version)]}: "
                    "policies are not edited in place, add a new version",
                )
            )
            continue
        seen[(rec.key, rec.version)] = row_no
        loaded.append((row, rec))
    if errors:
        raise PolicyTableError(errors)
    return loaded


def load_policies(text: str) -> list[PolicyRecord]:
    """Parse a policy CSV (header = COLUMNS). Raises PolicyTableError listing every bad row."""
    return [record for _, record in load_policy_rows(text)]


def select_policy(
    policies: list[PolicyRecord],
    region: str,
    scheme: Scheme,
    on_date: date,
    visit_type: str,
    institution_level: int,
    retiree: bool,
) -> Policy:
    """The newest version effective on `on_date` for the key; PolicyNotFound names what was missing."""
    key = PolicyKey(region, scheme, on_date.year, visit_type, institution_level, retiree)
    matching = [p for p in policies if p.key == key]
    if not matching:
        # Say which part of the key has nothing, going from the broadest to the narrowest.
        checks: list[tuple[str, object]] = [
            ("region", region),
            ("scheme", scheme),
            ("year", on_date.year),
            ("visit_type", visit_type),
            ("institution_level", institution_level),
            ("retiree", retiree),
        ]
        pool = policies
        for field, value in checks:
            narrowed = [p for p in pool if getattr(p.key, field) == value]
            if not narrowed:
                known = sorted({str(getattr(p.key, field)) for p in pool})
                raise PolicyNotFound(
                    f"no policy for {field}={value} (with {', '.join(f'{f}={v}' for f, v in checks)}); "
                    f"known {field} values there: {', '.join(known) or 'none'}"
                )
            pool = narrowed
        raise PolicyNotFound(f"no policy for {key}")  # pragma: no cover - the loop always narrows to empty
    effective = [
        p for p in matching if p.effective_from <= on_date and (p.effective_to is None or on_date <= p.effective_to)
    ]
    if not effective:
        spans = ", ".join(f"v{p.version} {p.effective_from}..{p.effective_to or ''}" for p in matching)
        raise PolicyNotFound(
            f"no version of {matching[0].policy.version.rsplit('-v', 1)[0]} effective on {on_date} ({spans})"
        )
    return max(effective, key=lambda p: (p.version, p.effective_from)).policy
