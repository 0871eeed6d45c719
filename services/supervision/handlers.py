"""Post-event audit (事后监管) of every settled claim."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession
from uuid6 import uuid7

from services.supervision import repository
from services.supervision.models import Flag
from services.supervision.service import DEFAULT_RULES, audit_claim
from shared.events.consumer import Handler
from shared.events.contracts import AuditFlagged, ClaimSettled
from shared.events.envelope import Event
from shared.events.outbox import publish

SOURCE = "/yibao/supervision"


async def on_claim_settled(session: AsyncSession, event: Event) -> None:
    claim = event.payload
    assert isinstance(claim, ClaimSettled)
    findings = audit_claim(claim)
    first_time = await repository.claim_audit(
        session,
        settlement_id=claim.settlement_id,
        person_no=claim.person_no,
        institution_code=claim.institution_code,
        practitioner_code=claim.practitioner_code,
        outcome="flagged" if findings else "clean",
        rules_run=len(DEFAULT_RULES),
    )
    if not first_time:
        return
    flags = [
        Flag(
            id=uuid7(),
            settlement_id=claim.settlement_id,
            rule_id=f.rule_id,
            rule_version=f.rule_version,
            severity=f.severity,
            line_no=f.line_no,
            amount_at_stake=f.amount_at_stake,
            message=f.message,
        )
        for f in findings
    ]
    await repository.add_flags(session, flags)
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


HANDLERS: dict[str, Handler] = {ClaimSettled.event_type: on_claim_settled}
