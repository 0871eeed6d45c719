"""The batch audit's in-order history: a claim later in a batch sees the claims before it."""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal
from uuid import uuid4

from hypothesis import given, settings
from hypothesis import strategies as st

from services.supervision.audit_batch import BatchHistory, LoadedHistory
from services.supervision.service import (
    LIBRARY,
    InstitutionCost,
    ItemRestriction,
    PriorClaim,
    evaluate,
)
from shared.events.contracts import ClaimLine, ClaimSettled
from tests.claims import ZERO_BREAKDOWN

CATALOGUE = {"XN05BA0010101": ItemRestriction("XN05BA0010101", max_quantity_per_day=3, drug_group="N05BA")}


def claim(
    person: str,
    item: str,
    *,
    day: date = date(2026, 11, 3),
    until: date | None = None,
    codes: tuple[str, ...] = (),
    institution: str = "H1",
    level: int | None = None,
) -> ClaimSettled:
    return ClaimSettled(
        settlement_id=uuid4(),
        person_no=person,
        institution_code=institution,
        practitioner_code="D1",
        visit_type="inpatient" if until else "outpatient",
        admitted_on=day,
        discharged_on=until or day,
        diagnoses=["J18.9"],
        lines=[
            ClaimLine(
                line_no=1,
                item_code=item,
                quantity=1,
                unit_price=Decimal("10.00"),
                amount=Decimal("10.00"),
                traceability_codes=list(codes),
            )
        ],
        breakdown=ZERO_BREAKDOWN,
        settled_at=datetime(2026, 11, 3, 2, tzinfo=UTC),
        institution_level=level,
    )


def audit_in_order(batch: BatchHistory, claims: list[ClaimSettled]) -> list[list[str]]:
    """What the handler does per claim: count, read the history, judge, record."""
    results = []
    for c in claims:
        history = batch.history_for(c)
        results.append([f.rule_id for f in evaluate(c, history, LIBRARY, "post", c.admitted_on)])
        batch.record(c, history.catalogue)
    return results


def fresh_batch(loaded: LoadedHistory | None = None) -> BatchHistory:
    return BatchHistory.for_rules(loaded or LoadedHistory(catalogue=dict(CATALOGUE)), LIBRARY)


def test_the_second_claim_of_a_day_in_one_batch_is_a_duplicate_charge() -> None:
    first, second = claim("P00000000001", "250101001"), claim("P00000000001", "250101001", institution="H2")
    assert audit_in_order(fresh_batch(), [first, second]) == [[], ["DUP-CHARGE"]]
    # Another person's claim that day is not history for this one.
    assert audit_in_order(fresh_batch(), [first, claim("P00000000002", "250101001")]) == [[], []]


def test_a_traceability_code_sold_twice_in_one_batch_keeps_its_first_seller() -> None:
    batch = fresh_batch()
    first = claim("P00000000001", "XN05BA0010101", codes=("T1",))
    again = claim("P00000000002", "XN05BA0010101", codes=("T1",), day=date(2026, 11, 4))
    assert audit_in_order(batch, [first, again]) == [[], ["TRACE-RESOLD"]]
    assert batch.loaded.sold_codes == {"T1": first.settlement_id}
    assert [r.codes for r in batch.recorded] == [("T1",), ("T1",)]
    assert [sorted(r.drug_groups) for r in batch.recorded] == [["N05BA"], ["N05BA"]]
    assert [p.settlement_id for p in batch.loaded.drug_purchases["P00000000001"]] == [first.settlement_id]


def test_overlapping_and_split_stays_within_a_batch() -> None:
    stay = claim("P00000000001", "250101001", day=date(2026, 10, 1), until=date(2026, 10, 8))
    readmitted = claim("P00000000001", "250101001", day=date(2026, 10, 12), until=date(2026, 10, 20))
    overlapping = claim("P00000000001", "250101001", day=date(2026, 10, 15), until=date(2026, 10, 18), institution="H2")
    found = audit_in_order(fresh_batch(), [stay, readmitted, overlapping])
    assert found[0] == []
    assert "SPLIT-ADMISSION" in found[1]
    assert "PHANTOM-BED" in found[2]


def test_the_history_window_and_the_claim_itself_are_left_out() -> None:
    me = claim("P00000000001", "250101001")
    old = PriorClaim(uuid4(), "H1", "outpatient", date(2024, 1, 1), date(2024, 1, 1), ("J18.9",), ("250101001",))
    later = PriorClaim(uuid4(), "H1", "outpatient", date(2026, 12, 1), date(2026, 12, 1), ("J18.9",), ("250101001",))
    itself = PriorClaim(me.settlement_id, "H1", "outpatient", me.admitted_on, me.admitted_on, (), ("250101001",))
    same_day = PriorClaim(uuid4(), "H9", "outpatient", me.admitted_on, me.admitted_on, (), ("250101001",))
    loaded = LoadedHistory(prior_claims={"P00000000001": [old, later, itself, same_day]})
    history = fresh_batch(loaded).history_for(me)
    assert history.prior_claims == (same_day,)


OCTOBER, NOVEMBER = date(2026, 10, 1), date(2026, 11, 1)
# October's frozen baseline at level 2 in J18: five peers near 10.00 a case, H1 at 40.00 (far above).
OCTOBER_J18 = (
    *(InstitutionCost(f"H9{i}", 2, "J18", 4, Decimal(f"{38 + i}.00")) for i in range(5)),
    InstitutionCost("H1", 2, "J18", 2, Decimal("80.00")),
)


def with_october_baseline() -> LoadedHistory:
    return LoadedHistory(
        catalogue=dict(CATALOGUE),
        baseline_of_month={NOVEMBER: OCTOBER},
        baseline_costs={(OCTOBER, 2, "J18"): tuple(sorted(OCTOBER_J18, key=lambda c: c.institution_code))},
    )


def test_a_claim_reads_the_latest_baseline_before_its_own_month_and_claims_do_not_change_it() -> None:
    batch = fresh_batch(with_october_baseline())
    first, second = claim("P00000000001", "A", level=2), claim("P00000000002", "B", level=2)
    before = batch.history_for(first).peer_baseline
    assert before is not None
    assert before.period == OCTOBER
    assert {(p.institution_code, p.cases) for p in before.costs} == {(f"H9{i}", 4) for i in range(5)} | {("H1", 2)}
    assert audit_in_order(batch, [first, second]) == [["PEER-OUTLIER"], ["PEER-OUTLIER"]]
    # Audited claims go into the history, never into the frozen figures.
    assert batch.history_for(second).peer_baseline == before
    # Another level has no figures in the baseline; a month with no baseline before it has none at all.
    other_level = batch.history_for(claim("P00000000003", "C", level=3)).peer_baseline
    assert other_level is not None
    assert other_level.costs == ()
    december = claim("P00000000004", "D", level=2).model_copy(
        update={"settled_at": datetime(2026, 12, 2, 2, tzinfo=UTC)}
    )
    assert batch.history_for(december).peer_baseline is None
    # Not loaded at all (the peer rule not among the rules): no baseline.
    assert fresh_batch().history_for(first).peer_baseline is None


CLAIM_SPECS = [
    (f"P{n:011d}", institution, 10 + n % 7)
    for n, institution in enumerate(["H1", "H90", "H91", "H1", "H92", "H93", "H1", "H94", "H90", "H1"])
]


def peer_findings(claims: list[ClaimSettled]) -> dict[object, list[tuple[str, Decimal]]]:
    batch = fresh_batch(with_october_baseline())
    found: dict[object, list[tuple[str, Decimal]]] = {}
    for c in claims:
        history = batch.history_for(c)
        findings = evaluate(c, history, LIBRARY, "post", c.admitted_on)
        found[c.settlement_id] = [(f.message, f.amount_at_stake) for f in findings if f.rule_id == "PEER-OUTLIER"]
        batch.record(c, history.catalogue)
    return found


@settings(max_examples=50, deadline=None)
@given(st.permutations(range(len(CLAIM_SPECS))), st.integers(min_value=1, max_value=len(CLAIM_SPECS)))
def test_the_peer_rule_flags_the_same_claims_whatever_order_they_are_audited_in(
    order: list[int], batch_size: int
) -> None:
    """Claims from different partitions arrive in any interleaving and any batch split: the
    findings of the peer rule are the same for each claim (they were not, with running totals)."""
    claims = []
    for person, institution, quantity in CLAIM_SPECS:
        c = claim(person, "250101001", institution=institution, level=2)
        line = c.lines[0].model_copy(update={"quantity": quantity, "amount": Decimal("10.00") * quantity})
        claims.append(c.model_copy(update={"lines": [line]}))
    in_order = peer_findings(claims)
    assert sum(bool(found) for found in in_order.values()) == 4  # H1's four claims, and only those
    shuffled = [claims[i] for i in order]
    # Batches of any size, each with a fresh overlay over the same loaded history.
    across_batches: dict[object, list[tuple[str, Decimal]]] = {}
    for start in range(0, len(shuffled), batch_size):
        across_batches |= peer_findings(shuffled[start : start + batch_size])
    assert across_batches == in_order
