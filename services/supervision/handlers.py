"""Post-event supervision (事后监管): the audit of every settled claim and the projections it reads.

The consumer runner's inbox makes each event's effects happen once; the audit row's primary key
makes a claim audited once even if settlement published it twice under different event ids.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, datetime
from uuid import UUID

from sqlalchemy.ext.asyncio import AsyncSession
from uuid6 import uuid7

from services.supervision import repository
from services.supervision.audit_batch import BatchHistory
from services.supervision.models import PointsEntry
from services.supervision.rule_cache import KnowledgeBaseMemo
from services.supervision.sanctions import PointsTally, apply_points, points_for, rule_families
from services.supervision.service import Finding, RuleVersion, evaluate_counted
from shared.business_time import business_date
from shared.events.consumer import AnyHandler, BatchHandler
from shared.events.contracts import (
    AuditFlagged,
    ClaimReversed,
    ClaimSettled,
    LtcServiceRecorded,
    PersonDeceased,
    PersonRegistered,
    PractitionerSuspended,
)
from shared.events.envelope import Event
from shared.events.outbox import publish_many

SOURCE = "/yibao/supervision"
# The knowledge base changes only with migrations: a minute-old copy per worker (decision 0009).
knowledge_base = KnowledgeBaseMemo()


async def on_claims_settled(session: AsyncSession, events: Sequence[Event]) -> None:
    """Audit a poll's settled claims in order, with a few set-based statements for the whole batch.

    Each claim is judged by the same pure rules against the history it would have seen had the
    claims before it been audited one by one (`audit_batch.BatchHistory` records each claim before
    the next is judged); audits, flags, projections and `audit.flagged` events are written in bulk.
    """
    delivered: list[tuple[Event, ClaimSettled]] = []
    for event in events:
        assert isinstance(event.payload, ClaimSettled)
        delivered.append((event, event.payload))
    # Audited already, or reversed before it arrived: either way nothing to add for those. The first
    # delivery of a settlement is the one audited (a republished claim is audited once).
    audited = await repository.audited_already(session, list({claim.settlement_id for _, claim in delivered}))
    fresh: list[tuple[Event, ClaimSettled]] = []
    for event, claim in delivered:
        if claim.settlement_id not in audited:
            audited.add(claim.settlement_id)
            fresh.append((event, claim))
    if not fresh:
        return
    rules = await repository.active_rules(session)  # per batch: an activation applies from the next batch
    catalogue = await knowledge_base.get(lambda: repository.knowledge_base(session))
    loaded = await repository.load_batch_history(session, [claim for _, claim in fresh], rules, catalogue)
    batch = BatchHistory.for_rules(loaded, rules)
    all_flags: list[repository.NewFlag] = []
    audits: list[repository.NewAudit] = []
    flagged_events: list[AuditFlagged] = []
    to_score: list[tuple[ClaimSettled, list[tuple[repository.NewFlag, Finding]]]] = []
    for event, claim in fresh:
        history = batch.history_for(claim)
        # The rules in force on the day care began judge the claim.
        findings, ran = evaluate_counted(claim, history, rules, "post", claim.admitted_on)
        flags = [
            repository.NewFlag(
                id=uuid7(),
                settlement_id=claim.settlement_id,
                rule_id=f.rule_id,
                rule_version=f.rule_version,
                severity=f.severity,
                line_no=f.line_no,
                amount_at_stake=f.amount_at_stake,
                message=f.message[:500],
            )
            for f in findings
        ]
        audits.append(
            repository.NewAudit(
                claim.settlement_id,
                claim.person_no,
                claim.institution_code,
                claim.practitioner_code,
                "flagged" if flags else "clean",
                ran,
            )
        )
        batch.record(claim, history.catalogue)
        all_flags.extend(flags)
        flagged_events.extend(
            AuditFlagged(
                flag_id=flag.id,
                settlement_id=claim.settlement_id,
                person_no=claim.person_no,
                institution_code=claim.institution_code,
                practitioner_code=claim.practitioner_code,
                rule_id=flag.rule_id,
                rule_version=flag.rule_version,
                severity=flag.severity,
                amount_at_stake=flag.amount_at_stake,
                message=flag.message,
                flagged_at=event.time,
            )
            for flag in flags
        )
        if flags:
            to_score.append((claim, list(zip(flags, findings, strict=True))))
    await repository.add_audits(session, audits)  # before the flags, which reference them
    await repository.add_flags(session, all_flags)
    received_json = {claim.settlement_id: event.payload_json for event, claim in fresh if event.payload_json}
    await repository.record_claims(session, batch.recorded, received_json)
    await publish_many(session, flagged_events, source=SOURCE)
    if to_score:
        await score_practitioners(session, to_score, rules)


async def score_practitioners(
    session: AsyncSession,
    to_score: list[tuple[ClaimSettled, list[tuple[repository.NewFlag, Finding]]]],
    rules: list[RuleVersion],
) -> None:
    """医保医师记分: each flagged claim's points go on its doctor's tally, claim by claim in order
    (a suspension lands on the claim that crossed 12, once); every doctor's row is locked once."""
    table = await repository.points_table(session)
    families = rule_families(rules)
    first_claims: dict[str, tuple[str, int]] = {}
    for claim, _ in to_score:
        first_claims.setdefault(claim.practitioner_code, (claim.institution_code, business_date(claim.settled_at).year))
    rows = await repository.lock_practitioners(session, first_claims)
    entries: list[PointsEntry] = []
    suspensions: list[PractitionerSuspended] = []
    for claim, flagged in to_score:
        row = rows[claim.practitioner_code]
        # A claim settled late in an earlier year scores in the current tally's year: points are applied in order.
        on = max(business_date(claim.settled_at), date(row.year, 1, 1))
        tally = PointsTally(row.practitioner_code, row.year, row.points, frozenset(row.reached))  # type: ignore[arg-type]
        result = apply_points(tally, [finding for _, finding in flagged], on, families, table)
        entries.extend(
            PointsEntry(
                id=uuid7(),
                practitioner_code=claim.practitioner_code,
                year=result.tally.year,
                settlement_id=claim.settlement_id,
                flag_id=flag.id,
                rule_id=finding.rule_id,
                points=points,
            )
            for flag, finding in flagged
            if (points := points_for(finding, families, table)) > 0
        )
        row.year = result.tally.year
        row.points = result.tally.points
        row.reached = sorted(result.tally.reached)
        row.institution_code = claim.institution_code
        if "suspension" in result.crossed:
            row.status = "suspended"
            row.suspended_from = on
            suspensions.append(
                PractitionerSuspended(
                    practitioner_code=claim.practitioner_code,
                    institution_code=claim.institution_code,
                    points=result.tally.points,
                    suspended_from=on,
                    reason=f"医保医师记分: {result.tally.points} points in {result.tally.year}",
                )
            )
    await repository.save_practitioners(session, list(rows.values()))
    await repository.add_points_entries(session, entries)
    await publish_many(session, suspensions, source=SOURCE)


async def on_claim_reversed(session: AsyncSession, event: Event) -> None:
    reversed_claim = event.payload
    assert isinstance(reversed_claim, ClaimReversed)
    # A reversal that overtakes its claim (another topic) leaves a marker so the claim is never audited.
    if await repository.claim_audit(
        session,
        settlement_id=reversed_claim.settlement_id,
        person_no=reversed_claim.person_no,
        institution_code=reversed_claim.institution_code,
        practitioner_code=None,
        outcome="reversed",
        rules_run=0,
        withdrawn_at=reversed_claim.reversed_at,
    ):
        return
    withdrawn = await repository.withdraw_flags(session, reversed_claim.settlement_id, reversed_claim.reversed_at)
    await repository.forget_claim(session, reversed_claim.settlement_id)
    await unscore(session, [flag.id for flag in withdrawn], reversed_claim.reversed_at)


async def unscore(session: AsyncSession, flag_ids: list[UUID], at: datetime) -> None:
    """Take a withdrawn flag's points back off the tally (a level already reached stays reached)."""
    scored = await repository.points_for_flags(session, flag_ids)
    for entry in scored:
        row = await repository.lock_practitioner(
            session, entry.practitioner_code, institution_code="", year=business_date(at).year
        )
        if row.year == entry.year:
            row.points = max(0, row.points - entry.points)
        await repository.add_points_entries(
            session,
            [
                PointsEntry(
                    id=uuid7(),
                    practitioner_code=entry.practitioner_code,
                    year=entry.year,
                    settlement_id=entry.settlement_id,
                    flag_id=entry.flag_id,
                    rule_id=entry.rule_id,
                    points=-entry.points,
                )
            ],
        )
    await session.flush()


async def on_person_registered(session: AsyncSession, event: Event) -> None:
    person = event.payload
    assert isinstance(person, PersonRegistered)
    await repository.record_person(session, person.person_no, sex=person.sex, birth_date=person.birth_date)


async def on_person_deceased(session: AsyncSession, event: Event) -> None:
    death = event.payload
    assert isinstance(death, PersonDeceased)
    await repository.record_death(session, death.person_no, death.died_on)


async def on_ltc_service_recorded(session: AsyncSession, event: Event) -> None:
    visit = event.payload
    assert isinstance(visit, LtcServiceRecorded)
    await repository.record_ltc_service(
        session,
        visit_id=visit.visit_id,
        person_no=visit.person_no,
        service_date=visit.service_date,
        amount=visit.amount,
    )


HANDLERS: dict[str, AnyHandler] = {
    ClaimSettled.event_type: BatchHandler(on_claims_settled),
    ClaimReversed.event_type: on_claim_reversed,
    PersonRegistered.event_type: on_person_registered,
    PersonDeceased.event_type: on_person_deceased,
    LtcServiceRecorded.event_type: on_ltc_service_recorded,
}
