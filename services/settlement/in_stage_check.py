"""事中审核 (in-stage check): what settlement does with supervision's answer. Pure, no I/O.

Before a settlement is stored, settlement asks supervision's `POST /checks` whether a
refuse-severity in-stage rule stops the claim, within a deadline (150 ms by default). The
call itself is in `supervision_client.py`; this module builds its request, reads its answer
and decides:

- supervision answered with refusals → refuse the claim (422 `refused-by-supervision`);
- supervision answered without refusals → settle;
- no usable answer in time (timeout, unreachable, an error status, a malformed body):
  fail-open settles and marks the claim `post_audit_required`; fail-closed refuses with 503.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date
from decimal import Decimal, InvalidOperation
from typing import Any, Literal

FailMode = Literal["open", "closed"]
UnansweredReason = Literal["timeout", "unreachable", "error"]


@dataclass(frozen=True)
class CheckLine:
    item_code: str
    quantity: int
    unit_price: Decimal
    traceability_codes: tuple[str, ...] = ()


def check_request(
    *,
    person_no: str,
    practitioner_code: str,
    institution_code: str,
    visit_type: str,
    admitted_on: date,
    discharged_on: date,
    diagnoses: Sequence[str],
    lines: Iterable[CheckLine],
    scheme: str | None,
    institution_level: int | None,
    institution_type: str | None,
    region_code: str | None,
) -> dict[str, Any]:
    """The JSON body of supervision's `POST /checks`: the claim as settlement is about to store it.

    Money travels as two-decimal strings, as everywhere in the API.
    """
    return {
        "person_no": person_no,
        "practitioner_code": practitioner_code,
        "institution_code": institution_code,
        "visit_type": visit_type,
        "admitted_on": admitted_on.isoformat(),
        "discharged_on": discharged_on.isoformat(),
        "diagnoses": list(diagnoses),
        "scheme": scheme,
        "institution_level": institution_level,
        "institution_type": institution_type,
        "region_code": region_code,
        "lines": [
            {
                "item_code": line.item_code,
                "quantity": line.quantity,
                "unit_price": f"{line.unit_price:.2f}",
                "traceability_codes": list(line.traceability_codes),
            }
            for line in lines
        ],
    }


@dataclass(frozen=True)
class RefusedFinding:
    """One refuse-severity finding of an in-stage rule (拒付)."""

    rule_id: str
    rule_version: int
    line_no: int | None
    amount_at_stake: Decimal
    message: str


@dataclass(frozen=True)
class Answered:
    findings: tuple[RefusedFinding, ...]


@dataclass(frozen=True)
class Unanswered:
    reason: UnansweredReason
    detail: str


CheckOutcome = Answered | Unanswered


def read_answer(status_code: int, body: Any) -> CheckOutcome:
    """Supervision's HTTP answer as an outcome. Anything but a well-formed 200 is no answer:
    a refusal must be one supervision really gave, never one guessed from a broken reply."""
    if status_code != 200:
        return Unanswered("error", f"supervision answered HTTP {status_code}")
    if not isinstance(body, Mapping) or not isinstance(body.get("findings"), list):
        return Unanswered("error", "supervision's answer has no findings list")
    findings = []
    for raw in body["findings"]:
        try:
            findings.append(
                RefusedFinding(
                    rule_id=str(raw["rule_id"]),
                    rule_version=int(raw["rule_version"]),
                    line_no=None if raw.get("line_no") is None else int(raw["line_no"]),
                    amount_at_stake=Decimal(str(raw["amount_at_stake"])),
                    message=str(raw["message"]),
                )
            )
        except (KeyError, TypeError, ValueError, InvalidOperation):
            return Unanswered("error", "supervision's answer has a malformed finding")
    return Answered(tuple(findings))


@dataclass(frozen=True)
class Decision:
    """What to do with the claim: settle, settle marked for post audit, refuse, or give up (503)."""

    action: Literal["settle", "settle-for-post-audit", "refuse", "unavailable"]
    findings: tuple[RefusedFinding, ...] = ()
    reason: UnansweredReason | None = None

    @property
    def post_audit_required(self) -> bool:
        return self.action == "settle-for-post-audit"


def decide(outcome: CheckOutcome, fail_mode: FailMode) -> Decision:
    if isinstance(outcome, Answered):
        return Decision("refuse", outcome.findings) if outcome.findings else Decision("settle")
    if fail_mode == "closed":
        return Decision("unavailable", reason=outcome.reason)
    return Decision("settle-for-post-audit", reason=outcome.reason)


def refused_rules(findings: Iterable[RefusedFinding]) -> list[str]:
    """The rules that refused, each once, in the order supervision gave them."""
    return list(dict.fromkeys(f.rule_id for f in findings))


def refusal_detail(findings: Sequence[RefusedFinding]) -> str:
    return (
        f"Supervision's in-stage check (事中审核) refuses this claim: {', '.join(refused_rules(findings))}. "
        "Correct the lines named in errors, or settle without them."
    )


def refusal_errors(findings: Iterable[RefusedFinding]) -> list[tuple[str, str]]:
    """(field, message) per finding: a line's finding points at `lines.<index>`, a claim's at the claim."""
    return [
        (f"lines.{f.line_no - 1}" if f.line_no is not None else "claim", f"{f.rule_id} v{f.rule_version}: {f.message}")
        for f in findings
    ]
