"""The post-event audit of a batch of settled claims, in order (pure: the caller loads and writes).

The repository loads, in a few set-based queries, what every claim of the batch may read (its
person's claims, drug purchases and LTC visits in the window, sold traceability codes, the
knowledge base, the frozen peer baselines). `BatchHistory` then hands each claim, in delivery
order, the same `History` that `repository.load_history` would have read had the claims before it
been committed one by one: each audited claim is recorded into the overlay before the next one is
judged, so duplicate billing, a traceability code sold twice or overlapping stays within one batch
are caught exactly as across batches. The peer comparison reads only a frozen baseline, which no
claim of the batch changes (decision 0017).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import Literal
from uuid import UUID

from services.supervision.service import (
    DRUG_PURCHASE_RULES,
    PRIOR_CLAIM_RULES,
    DrugPurchase,
    History,
    InstitutionCost,
    InstitutionProfile,
    ItemRestriction,
    LtcService,
    PeerBaseline,
    PriorClaim,
    RuleVersion,
    SoldCode,
    diagnosis_group,
    drug_groups,
    month_of,
    projection_lookback_days,
    settlement_month,
    traceability_codes,
)
from shared.events.contracts import ClaimSettled

PeerKey = tuple[date, int, str]  # baseline period, level, diagnosis group (同级同病种)


@dataclass(frozen=True)
class PersonRow:
    sex: Literal["M", "F"] | None
    birth_date: date | None
    death_date: date | None


_UNKNOWN_PERSON = PersonRow(sex=None, birth_date=None, death_date=None)  # no person.registered seen yet


@dataclass
class LoadedHistory:
    """What the repository read for a whole batch, before any claim of it is recorded."""

    persons: dict[str, PersonRow] = field(default_factory=dict)
    prior_claims: dict[str, list[PriorClaim]] = field(default_factory=dict)  # by person
    catalogue: dict[str, ItemRestriction] = field(default_factory=dict)  # by item code
    drug_purchases: dict[str, list[DrugPurchase]] = field(default_factory=dict)  # by person
    sold_codes: dict[str, UUID] = field(default_factory=dict)  # code -> the settlement that sold it first
    ltc_services: dict[str, list[LtcService]] = field(default_factory=dict)  # by person
    # Month of settlement -> the latest peer baseline period before it (None: no baseline yet), for
    # the batch's months; and that baseline's costs by (period, level, group), by institution code.
    baseline_of_month: dict[date, date | None] = field(default_factory=dict)
    baseline_costs: dict[PeerKey, tuple[InstitutionCost, ...]] = field(default_factory=dict)
    institutions: dict[str, InstitutionProfile] = field(default_factory=dict)  # only those asked for
    # Each claim's business date of settlement, worked out once for the batch (the peer baseline's
    # month and the history's settled_on both come from it).
    settled_on: dict[UUID, date] = field(default_factory=dict)


def window_start(claim: ClaimSettled, lookback_days: int) -> date:
    """The first day of the claim's history window (as `repository.load_history` computes it)."""
    return _window_start(claim.admitted_on, timedelta(days=lookback_days))


def _window_start(admitted_on: date, lookback: timedelta) -> date:
    return admitted_on - lookback if admitted_on > date.min + lookback else date.min


@dataclass
class RecordedClaim:
    """A claim's writes into the projections, collected for one bulk write per table."""

    claim: ClaimSettled
    drug_groups: frozenset[str]
    codes: tuple[str, ...]
    settled_on: date | None = None  # business date, when the batch worked it out already


class BatchHistory:
    """Hands out each claim's `History` in order, recording each audited claim before the next."""

    def __init__(self, loaded: LoadedHistory, lookback_days: int, purchases_lookback_days: int | None = None) -> None:
        self.loaded = loaded
        self.lookback_days = lookback_days  # of the prior claims
        self.purchases_lookback_days = lookback_days if purchases_lookback_days is None else purchases_lookback_days
        # As timedeltas once, not one per claim.
        self._claims_lookback = timedelta(days=self.lookback_days)
        self._purchases_lookback = timedelta(days=self.purchases_lookback_days)
        # One `PeerBaseline` per (period, level, group), shared by the batch's claims of that group.
        self.baselines: dict[tuple[date, int | None, str | None], PeerBaseline] = {}
        self.recorded: list[RecordedClaim] = []

    @classmethod
    def for_rules(cls, loaded: LoadedHistory, rules: Iterable[RuleVersion]) -> BatchHistory:
        """Each windowed projection narrowed to what its own readers among `rules` look back on."""
        rules = list(rules)
        return cls(
            loaded,
            projection_lookback_days(rules, PRIOR_CLAIM_RULES),
            projection_lookback_days(rules, DRUG_PURCHASE_RULES),
        )

    def peer_baseline(self, claim: ClaimSettled) -> PeerBaseline | None:
        """The frozen baseline the claim is judged against (the latest of a month before its own),
        with the figures of its level and diagnosis group; None when no such baseline was taken."""
        months = self.loaded.baseline_of_month
        if not months:
            return None  # not loaded: the peer rule is not among the rules
        day = self.loaded.settled_on.get(claim.settlement_id)
        period = months.get(settlement_month(claim) if day is None else month_of(day))
        if period is None:
            return None
        group = diagnosis_group(claim)
        level = claim.institution_level
        key = (period, level, group)
        baseline = self.baselines.get(key)
        if baseline is None:
            costs = () if group is None or level is None else self.loaded.baseline_costs.get((period, level, group), ())
            baseline = self.baselines[key] = PeerBaseline(period=period, costs=costs)
        return baseline

    def history_for(self, claim: ClaimSettled) -> History:
        # Called for every claim of every batch: the parts a claim lacks (restricted items, codes, a
        # stay, a peer group) cost nothing, and the window test reads locals.
        loaded = self.loaded
        earliest = _window_start(claim.admitted_on, self._claims_lookback)
        last_day = claim.discharged_on
        settlement_id = claim.settlement_id
        prior = tuple(
            p
            for p in loaded.prior_claims.get(claim.person_no, ())
            if p.discharged_on >= earliest and p.admitted_on <= last_day and p.settlement_id != settlement_id
        )
        catalogue: tuple[ItemRestriction, ...] = ()
        purchases: tuple[DrugPurchase, ...] = ()
        known = loaded.catalogue
        if known:
            wanted = {line.item_code for line in claim.lines}
            for p in prior:
                wanted.update(p.item_codes)
            catalogue = tuple(known[code] for code in sorted(wanted) if code in known)
            groups = drug_groups(claim, catalogue) if catalogue else set()
            if groups:
                first_purchase = _window_start(claim.admitted_on, self._purchases_lookback)
                purchases = tuple(
                    purchase
                    for purchase in loaded.drug_purchases.get(claim.person_no, ())
                    if purchase.drug_group in groups and first_purchase <= purchase.purchased_on <= claim.admitted_on
                )
        sold: tuple[SoldCode, ...] = ()
        codes = traceability_codes(claim)
        if codes:
            sold_codes = loaded.sold_codes
            sold = tuple(
                SoldCode(code=code, settlement_id=sold_codes[code]) for code in sorted(set(codes)) if code in sold_codes
            )
        ltc: tuple[LtcService, ...] = ()
        if claim.visit_type == "inpatient":
            ltc = tuple(
                visit
                for visit in loaded.ltc_services.get(claim.person_no, ())
                if claim.admitted_on <= visit.service_date <= claim.discharged_on
            )
        person = loaded.persons.get(claim.person_no, _UNKNOWN_PERSON)
        return History(
            sex=person.sex,
            birth_date=person.birth_date,
            death_date=person.death_date,
            catalogue=catalogue,
            prior_claims=prior,
            sold_codes=sold,
            drug_purchases=purchases,
            ltc_services=ltc,
            peer_baseline=self.peer_baseline(claim),
        )

    def record(self, claim: ClaimSettled, catalogue: Iterable[ItemRestriction]) -> None:
        """Put an audited claim into the overlay (and the list to write), as `repository.record_claim` does."""
        loaded = self.loaded
        persons_claims = loaded.prior_claims.setdefault(claim.person_no, [])
        if all(p.settlement_id != claim.settlement_id for p in persons_claims):
            persons_claims.append(
                PriorClaim(
                    settlement_id=claim.settlement_id,
                    institution_code=claim.institution_code,
                    visit_type=claim.visit_type,
                    admitted_on=claim.admitted_on,
                    discharged_on=claim.discharged_on,
                    diagnoses=tuple(claim.diagnoses),
                    item_codes=tuple(sorted({line.item_code for line in claim.lines})),
                )
            )
        groups = frozenset(drug_groups(claim, catalogue)) if catalogue else frozenset()
        if groups:
            purchases = loaded.drug_purchases.setdefault(claim.person_no, [])
            for group in sorted(groups):
                purchases.append(
                    DrugPurchase(
                        settlement_id=claim.settlement_id,
                        drug_group=group,
                        practitioner_code=claim.practitioner_code,
                        institution_code=claim.institution_code,
                        purchased_on=claim.admitted_on,
                    )
                )
        codes = traceability_codes(claim)
        unique_codes = tuple(sorted(set(codes))) if codes else ()
        for code in unique_codes:
            loaded.sold_codes.setdefault(code, claim.settlement_id)  # the first seller keeps a code
        self.recorded.append(RecordedClaim(claim, groups, unique_codes, loaded.settled_on.get(claim.settlement_id)))
