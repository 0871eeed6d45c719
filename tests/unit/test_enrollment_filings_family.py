"""异地就医备案 filing rules and 家庭共济 binding rules."""

from __future__ import annotations

from datetime import date, timedelta

import pytest

from services.enrollment.family import BindingRefused, Party, Relation, check_binding
from services.enrollment.filings import (
    FilingRejected,
    FilingStatus,
    FilingType,
    decide_filing,
    effective_status,
)

TODAY = date(2026, 11, 23)
HOME = "350582"
AWAY = "310101"


def decide(filing_type: FilingType, *, days: int = 30, start: date = TODAY, **kw: object) -> FilingStatus:
    args: dict[str, object] = {
        "filing_type": filing_type,
        "home_region_code": HOME,
        "destination_region_code": AWAY,
        "valid_from": start,
        "valid_to": start + timedelta(days=days - 1),
        "today": TODAY,
        "insured": True,
        "retiree": False,
        "commitment": False,
    } | kw
    return decide_filing(**args).status  # type: ignore[arg-type]


@pytest.mark.parametrize("filing_type", [FilingType.REFERRAL, FilingType.EMERGENCY, FilingType.TEMPORARY])
def test_temporary_filings_are_approved_automatically(filing_type: FilingType) -> None:
    assert decide(filing_type, days=30) is FilingStatus.APPROVED


def test_long_term_filings_with_a_commitment_are_approved_else_reviewed() -> None:
    for filing_type in (FilingType.LONG_TERM_RESIDENT, FilingType.POSTED_WORKER):
        assert decide(filing_type, days=365, commitment=True) is FilingStatus.APPROVED
        assert decide(filing_type, days=365) is FilingStatus.PENDING_REVIEW


def test_resettled_retiree_needs_a_retiree_for_automatic_approval() -> None:
    assert decide(FilingType.RESETTLED_RETIREE, days=365, retiree=True) is FilingStatus.APPROVED
    assert decide(FilingType.RESETTLED_RETIREE, days=365, retiree=False) is FilingStatus.PENDING_REVIEW


def test_uninsured_cannot_file() -> None:
    with pytest.raises(FilingRejected) as bad:
        decide(FilingType.TEMPORARY, insured=False)
    assert bad.value.field == "person_no"


def test_a_destination_in_the_home_county_is_not_cross_region() -> None:
    with pytest.raises(FilingRejected) as bad:
        decide(FilingType.TEMPORARY, destination_region_code="350582101000")
    assert bad.value.field == "destination_region_code"


def test_validity_limits_by_type() -> None:
    assert decide(FilingType.TEMPORARY, days=180) is FilingStatus.APPROVED
    with pytest.raises(FilingRejected, match="at most 180"):
        decide(FilingType.TEMPORARY, days=181)
    with pytest.raises(FilingRejected, match="long-term"):
        decide(FilingType.LONG_TERM_RESIDENT, days=179, commitment=True)
    with pytest.raises(FilingRejected, match="before"):
        decide_filing(
            filing_type=FilingType.TEMPORARY, home_region_code=HOME, destination_region_code=AWAY,
            valid_from=TODAY, valid_to=TODAY - timedelta(days=1), today=TODAY, insured=True, retiree=False,
            commitment=False,
        )  # fmt: skip


def test_only_emergencies_may_be_filed_afterwards() -> None:
    assert decide(FilingType.EMERGENCY, start=TODAY - timedelta(days=30)) is FilingStatus.APPROVED
    with pytest.raises(FilingRejected, match="at most 30 days ago"):
        decide(FilingType.EMERGENCY, start=TODAY - timedelta(days=31))
    with pytest.raises(FilingRejected, match="only an emergency"):
        decide(FilingType.TEMPORARY, start=TODAY - timedelta(days=1))


def test_an_approved_filing_past_its_validity_reads_expired() -> None:
    assert effective_status("approved", TODAY - timedelta(days=1), TODAY) is FilingStatus.EXPIRED
    assert effective_status("approved", TODAY, TODAY) is FilingStatus.APPROVED
    assert effective_status("revoked", TODAY - timedelta(days=1), TODAY) is FilingStatus.REVOKED
    assert effective_status("pending_review", TODAY - timedelta(days=1), TODAY) is FilingStatus.PENDING_REVIEW


# --- 家庭共济 ---

EMPLOYEE = Party("P00000000001", date(1980, 6, 1), alive=True, active_schemes=frozenset({"employee"}))


def relative(no: int, born: date, *, schemes: frozenset[str] = frozenset({"resident"}), alive: bool = True) -> Party:
    return Party(f"P{no:011d}", born, alive=alive, active_schemes=schemes)


def refused(**kw: object) -> str:
    args: dict[str, object] = {"holder": EMPLOYEE, "bound_relatives": {}} | kw
    with pytest.raises(BindingRefused) as bad:
        check_binding(**args)  # type: ignore[arg-type]
    return bad.value.kind


def test_spouse_parent_and_child_can_be_bound() -> None:
    check_binding(holder=EMPLOYEE, relative=relative(2, date(1982, 1, 1)), relation=Relation.SPOUSE, bound_relatives={})
    check_binding(holder=EMPLOYEE, relative=relative(3, date(1955, 1, 1)), relation=Relation.PARENT, bound_relatives={})
    check_binding(holder=EMPLOYEE, relative=relative(4, date(2010, 1, 1)), relation=Relation.CHILD, bound_relatives={})


def test_refusals_name_their_reason() -> None:
    spouse = relative(2, date(1982, 1, 1))
    assert refused(relative=EMPLOYEE, relation=Relation.SPOUSE) == "self-binding"
    assert refused(relative=relative(2, date(1982, 1, 1), alive=False), relation=Relation.SPOUSE) == "person-deceased"
    assert refused(holder=spouse, relative=EMPLOYEE, relation=Relation.SPOUSE) == "holder-not-employee"
    assert refused(relative=relative(2, date(1982, 1, 1), schemes=frozenset()), relation=Relation.SPOUSE) == (
        "relative-not-insured"
    )
    assert refused(relative=spouse, relation=Relation.SPOUSE, bound_relatives={spouse.person_no: Relation.SPOUSE}) == (
        "already-bound"
    )
    assert refused(relative=relative(5, date(1983, 1, 1)), relation=Relation.SPOUSE,
                   bound_relatives={"P00000000009": Relation.SPOUSE}) == "spouse-already-bound"  # fmt: skip
    assert refused(relative=relative(3, date(1975, 1, 1)), relation=Relation.PARENT) == "implausible-relation"
    assert refused(relative=relative(4, date(1985, 1, 1)), relation=Relation.CHILD) == "implausible-relation"


def test_at_most_the_maximum_number_of_relatives() -> None:
    full = {f"P{n:011d}": Relation.CHILD for n in range(10, 16)}
    assert refused(relative=relative(3, date(1955, 1, 1)), relation=Relation.PARENT, bound_relatives=full) == (
        "too-many-relatives"
    )
    check_binding(
        holder=EMPLOYEE,
        relative=relative(3, date(1955, 1, 1)),
        relation=Relation.PARENT,
        bound_relatives=dict(list(full.items())[:5]),
    )
