"""The batch audit's in-order history: a claim later in a batch sees the claims before it."""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal
from uuid import uuid4

from services.supervision.audit_batch import BatchHistory, LoadedHistory, first_of_each
from services.supervision.service import (
    LIBRARY,
    ItemRestriction,
    PriorClaim,
    evaluate,
    lookback_days,
)
from shared.events.contracts import ClaimLine, ClaimSettled, SettlementBreakdown

ZERO = Decimal("0.00")
BREAKDOWN = SettlementBreakdown(
    medfee_sumamt=ZERO,
    fulamt_ownpay_amt=ZERO,
    overlmt_selfpay=ZERO,
    preselfpay_amt=ZERO,
    inscp_scp_amt=ZERO,
    hifp_pay=ZERO,
    hifmi_pay=ZERO,
    hifob_pay=ZERO,
    maf_pay=ZERO,
    acct_pay=ZERO,
    psn_cash_pay=ZERO,
    fund_pay_sumamt=ZERO,
)
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
        breakdown=BREAKDOWN,
        settled_at=datetime(2026, 11, 3, 2, tzinfo=UTC),
        institution_level=level,
    )


def audit_in_order(batch: BatchHistory, claims: list[ClaimSettled]) -> list[list[str]]:
    """What the handler does per claim: count, read the history, judge, record."""
    results = []
    for c in claims:
        batch.count_institution_case(c)
        history = batch.history_for(c)
        results.append([f.rule_id for f in evaluate(c, history, LIBRARY, "post", c.admitted_on)])
        batch.record(c, history.catalogue)
    return results


def fresh_batch(loaded: LoadedHistory | None = None) -> BatchHistory:
    return BatchHistory(loaded or LoadedHistory(catalogue=dict(CATALOGUE)), lookback_days(LIBRARY))


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


def test_each_claim_counts_in_its_institutions_cost_before_the_peer_rule_reads_it() -> None:
    loaded = LoadedHistory(institution_costs={("H9", 2, "J18"): (4, Decimal("400.00"))})
    batch = fresh_batch(loaded)
    first, second = claim("P00000000001", "A", level=2), claim("P00000000002", "B", level=2)
    batch.count_institution_case(first)
    assert {(p.institution_code, p.cases) for p in batch.history_for(first).peer_costs} == {("H9", 4), ("H1", 1)}
    batch.count_institution_case(second)
    assert {(p.institution_code, p.cases) for p in batch.history_for(second).peer_costs} == {("H9", 4), ("H1", 2)}
    assert batch.cost_deltas == {("H1", 2, "J18"): (2, Decimal("20.00"))}
    assert batch.history_for(claim("P00000000003", "C", level=3)).peer_costs == ()


def test_a_settlement_delivered_twice_is_audited_once() -> None:
    one, other = claim("P00000000001", "A"), claim("P00000000002", "B")
    assert first_of_each([one, other, one]) == [one, other]
