"""异地就医备案 cross-region filings: what may be filed and what is approved automatically. Pure, no I/O."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta
from enum import StrEnum


class FilingType(StrEnum):
    RESETTLED_RETIREE = "resettled_retiree"  # 异地安置退休
    LONG_TERM_RESIDENT = "long_term_resident"  # 异地长期居住
    POSTED_WORKER = "posted_worker"  # 常驻异地工作
    REFERRAL = "referral"  # 转诊转院
    EMERGENCY = "emergency"  # 急诊抢救
    TEMPORARY = "temporary"  # 其他临时外出


LONG_TERM = frozenset({FilingType.RESETTLED_RETIREE, FilingType.LONG_TERM_RESIDENT, FilingType.POSTED_WORKER})


class FilingStatus(StrEnum):
    PENDING_REVIEW = "pending_review"  # 待审核: ops decide
    APPROVED = "approved"
    REVOKED = "revoked"
    EXPIRED = "expired"  # approved, and valid_to has passed (computed, never stored)


@dataclass(frozen=True)
class FilingPolicy:
    """Demo defaults (*parameters*): a bureau sets them per region."""

    long_term_min_days: int = 180  # a long-term filing covers at least six months
    long_term_max_days: int = 5 * 366
    temporary_max_days: int = 180  # 临时外出 and 转诊 filings last at most six months
    emergency_backdate_days: int = 30  # 急诊抢救 may be filed afterwards (补备案) within this many days


class FilingRejected(ValueError):
    """The filing cannot be accepted; `field` names the part to change."""

    def __init__(self, message: str, field: str) -> None:
        super().__init__(message)
        self.field = field


@dataclass(frozen=True)
class FilingDecision:
    status: FilingStatus
    reason: str


def same_county(a: str, b: str) -> bool:
    """Region codes share their 6-digit county part: care there is not 异地."""
    return a[:6] == b[:6]


def decide_filing(
    *,
    filing_type: FilingType,
    home_region_code: str,
    destination_region_code: str,
    valid_from: date,
    valid_to: date,
    today: date,
    insured: bool,
    retiree: bool,
    commitment: bool,
    policy: FilingPolicy = FilingPolicy(),
) -> FilingDecision:
    """Refuse what cannot be filed (FilingRejected); approve automatically where the rules allow, else review."""
    if not insured:
        raise FilingRejected("only a person with an active basic enrollment can file", "person_no")
    if same_county(home_region_code, destination_region_code):
        raise FilingRejected(
            "the destination lies in the insuring county: that is not cross-region care", "destination_region_code"
        )
    if valid_to < valid_from:
        raise FilingRejected("valid_to comes before valid_from", "valid_to")
    days = (valid_to - valid_from).days + 1
    earliest = today - timedelta(days=policy.emergency_backdate_days) if filing_type is FilingType.EMERGENCY else today
    if valid_from < earliest:
        raise FilingRejected(
            "only an emergency (急诊抢救) filing may start in the past"
            if filing_type is not FilingType.EMERGENCY
            else f"an emergency filing may start at most {policy.emergency_backdate_days} days ago",
            "valid_from",
        )
    if filing_type in LONG_TERM:
        if not policy.long_term_min_days <= days <= policy.long_term_max_days:
            raise FilingRejected(
                f"a long-term filing lasts {policy.long_term_min_days} to {policy.long_term_max_days} days; "
                "for a shorter stay file as temporary",
                "valid_to",
            )
    elif days > policy.temporary_max_days:
        raise FilingRejected(f"a {filing_type.value} filing lasts at most {policy.temporary_max_days} days", "valid_to")

    if filing_type is FilingType.RESETTLED_RETIREE and not retiree:
        return FilingDecision(
            FilingStatus.PENDING_REVIEW, "resettled-retiree filing for a person not recorded as retired"
        )
    if filing_type in (FilingType.LONG_TERM_RESIDENT, FilingType.POSTED_WORKER) and not commitment:
        return FilingDecision(
            FilingStatus.PENDING_REVIEW, "no personal commitment (个人承诺): documents to be reviewed"
        )
    return FilingDecision(FilingStatus.APPROVED, "approved automatically")


def effective_status(stored: str, valid_to: date, today: date) -> FilingStatus:
    """An approved filing whose validity has passed reads as expired."""
    status = FilingStatus(stored)
    if status is FilingStatus.APPROVED and valid_to < today:
        return FilingStatus.EXPIRED
    return status
