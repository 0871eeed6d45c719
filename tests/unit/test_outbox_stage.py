"""publish_many's events (outbox.stage): a fan-out of thousands is stamped with the instant it is made."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

from shared.events.contracts.enrollment import PersonDeceased
from shared.events.outbox import stage


def _millis(event_id: object) -> int:
    return int(str(event_id).replace("-", "")[:12], 16)  # a version-7 id's first 48 bits


def test_a_large_batch_is_stamped_now_not_in_the_future() -> None:
    payloads = [
        PersonDeceased(person_no=f"P{i:011d}", died_on=date(2026, 11, 1), recorded_at=datetime(2026, 11, 2, tzinfo=UTC))
        for i in range(5000)
    ]
    before = datetime.now(UTC)
    events, params = stage(payloads, source="enrollment")
    after = datetime.now(UTC)

    assert len({e.id for e in events}) == 5000
    assert all(e.id.version == 7 for e in events)
    # uuid7() one by one moved its clock a millisecond per id: 5,000 ids reached 5 s ahead.
    latest = max(_millis(e.id) for e in events)
    assert latest <= int((after + timedelta(milliseconds=5)).timestamp() * 1000)
    assert min(_millis(e.id) for e in events) >= int(before.timestamp() * 1000) - 1
    assert {e.time for e in events} == {events[0].time}
    assert params["event_ids"] == [e.id for e in events]
    assert [e.subject for e in events] == [p.person_no for p in payloads]
