"""Post-event supervision (事后监管): the audit of every settled claim and the projections it reads.

The consumer runner's inbox makes each event's effects happen once; the audit row's primary key
makes a claim audited once even if settlement published it twice under different event ids.
"""

from __future__ import annotations

from datetime import date, datetime
from uuid import UUID

from sqlalchemy.ext.asyncio import AsyncSession
from uuid6 import uuid7

from services.supervision import repository
from services.supervision.models import Flag, PointsEntry
from services.supervision.sanctions import PointsTally, apply_points, points_for, rule_families
from services.supervision.service import Finding, RuleVersion, business_date, evaluate
from shared.events.consumer import Handler
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
from shared.events.outbox import publish

SOURCE = "/yibao/supervision"


async def on_claim_settled(session: AsyncSession, event: Event) -> None:
    claim = event.payload
    assert isinstance(claim, ClaimSettled)
    first_time = await repository.claim_audit(
        session,
        settlement_id=claim.settlement_id,
        person_no=claim.person_no,
        institution_code=claim.institution_code,
        practitioner_code=claim.practitioner_code,
        outcome="pending",
        rules_run=0,
    )
    if not first_time:
        return  # audited already, or reversed before it arrived: either way nothing to add
    rules = await repository.active_rules(session)
    await repository.count_institution_case(session, claim)
    history = await repository.load_history(session, claim, rules)
    # The rules in force on the day care began judge the claim.
    findings = evaluate(claim, history, rules, "post", claim.admitted_on)
    flags = [
        Flag(
            id=uuid7(),
            settlement_id=claim.settlement_id,
            rule_id=f.rule_id,
            rule_version=f.rule_version,
            severity=f.severity,
            line_no=f.line_no,
            amount_at_stake=f.amount_at_stake,
            message=f.message[:500],
            status="active",
        )
        for f in findings
    ]
    await repository.add_flags(session, flags)
    ran = sum(1 for rule in rules if rule.applies(claim, "post", claim.admitted_on))
    await repository.finish_audit(session, claim.settlement_id, outcome="flagged" if flags else "clean", rules_run=ran)
    await repository.record_claim(session, claim, history.catalogue)
    for flag in flags:
        await publish(
            session,
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
            ),
            source=SOURCE,
        )
    if flags:
        await score_practitioner(session, claim, list(zip(flags, findings, strict=True)), rules)


async def score_practitioner(
    session: AsyncSession, claim: ClaimSettled, flagged: list[tuple[Flag, Finding]], rules: list[RuleVersion]
) -> None:
    """医保医师记分: the findings' points go on the doctor's tally; 12 in a year suspends, once."""
    table = await repository.points_table(session)
    families = rule_families(rules)
    on = business_date(claim.settled_at)
    row = await repository.lock_practitioner(
        session, claim.practitioner_code, institution_code=claim.institution_code, year=on.year
    )
    # A claim settled late in an earlier year scores in the current tally's year: points are applied in order.
    on = max(on, date(row.year, 1, 1))
    tally = PointsTally(row.practitioner_code, row.year, row.points, frozenset(row.reached))  # type: ignore[arg-type]
    result = apply_points(tally, [finding for _, finding in flagged], on, families, table)
    entries = [
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
    ]
    await repository.add_points_entries(session, entries)
    row.year = result.tally.year
    row.points = result.tally.points
    row.reached = sorted(result.tally.reached)
    row.institution_code = claim.institution_code
    if "suspension" in result.crossed:
        row.status = "suspended"
        row.suspended_from = on
        await publish(
            session,
            PractitionerSuspended(
                practitioner_code=claim.practitioner_code,
                institution_code=claim.institution_code,
                points=result.tally.points,
                suspended_from=on,
                reason=f"医保医师记分: {result.tally.points} points in {result.tally.year}",
            ),
            source=SOURCE,
        )
    await session.flush()


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


HANDLERS: dict[str, Handler] = {
    ClaimSettled.event_type: on_claim_settled,
    ClaimReversed.event_type: on_claim_reversed,
    PersonRegistered.event_type: on_person_registered,
    PersonDeceased.event_type: on_person_deceased,
    LtcServiceRecorded.event_type: on_ltc_service_recorded,
}
