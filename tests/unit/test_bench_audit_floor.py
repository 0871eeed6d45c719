"""The audit bench's pipeline floor reads each claim as the audit would: its history row and every
traceability code, from the event value the relay publishes."""

from datetime import date

from bench.audit import ClaimFactory
from bench.audit_floor import rows_of
from shared.events.envelope import Event, encode


def test_rows_of_a_claim_are_its_history_row_and_each_traceability_code() -> None:
    factory = ClaimFactory(2000, seed=7)
    claims = [factory.claim() for _ in range(200)]
    with_codes = [c for c in claims if any(line.traceability_codes for line in c.lines)]
    assert with_codes  # the factory sells drugs with codes in about a fifth of its claims
    for claim in claims:
        _key, value, _headers = encode(Event.new(claim, source="/yibao/settlement"))
        row, codes = rows_of(value)
        assert row[:6] == (
            str(claim.settlement_id),
            claim.person_no,
            claim.practitioner_code,
            claim.institution_code,
            claim.admitted_on,
            claim.discharged_on,
        )
        assert isinstance(row[4], date)
        assert row[6] == value.decode()  # the whole claim, kept as its JSON
        assert codes == [(code, str(claim.settlement_id)) for line in claim.lines for code in line.traceability_codes]
