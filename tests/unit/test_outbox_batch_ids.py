"""The outbox's bulk event ids (shared.events.outbox.batch_event_ids): UUIDv7 of the given instant, all distinct."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

from shared.events.outbox import batch_event_ids


def test_batch_ids_are_version_7_of_the_instant_and_distinct() -> None:
    at = datetime(2026, 11, 24, 1, 2, 3, 456789, tzinfo=UTC)
    ids = batch_event_ids(20_000, at)
    assert len(ids) == len(set(ids)) == 20_000
    assert all(i.version == 7 and i.variant == uuid.RFC_4122 for i in ids)
    millis = {i.int >> 80 for i in ids}
    assert millis == {int(at.timestamp() * 1000)}
    # The random part is random: the bits below the timestamp are not constant across the batch.
    assert len({i.int & ((1 << 80) - 1) for i in ids}) == 20_000


def test_a_later_batch_sorts_after_an_earlier_one() -> None:
    at = datetime.now(UTC)
    earlier, later = batch_event_ids(100, at), batch_event_ids(100, at + timedelta(milliseconds=2))
    assert max(earlier) < min(later)
    assert batch_event_ids(0, at) == []
