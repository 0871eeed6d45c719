"""UUIDs made in bulk (shared.uuids): the right version and variant, the given instant, all distinct."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

from shared.uuids import random_uuids, time_ordered_uuids


def test_time_ordered_ids_are_version_7_of_the_instant_and_distinct() -> None:
    at = datetime(2026, 11, 24, 1, 2, 3, 456789, tzinfo=UTC)
    ids = time_ordered_uuids(20_000, at)
    assert len(ids) == len(set(ids)) == 20_000
    assert all(isinstance(i, uuid.UUID) and i.version == 7 and i.variant == uuid.RFC_4122 for i in ids)
    assert {i.int >> 80 for i in ids} == {int(at.timestamp() * 1000)}
    # Below the timestamp the bits are random: no two ids of the batch share them.
    assert len({i.int & ((1 << 80) - 1) for i in ids}) == 20_000


def test_a_later_batch_sorts_after_an_earlier_one() -> None:
    at = datetime.now(UTC)
    earlier, later = time_ordered_uuids(100, at), time_ordered_uuids(100, at + timedelta(milliseconds=2))
    assert max(i.int for i in earlier) < min(i.int for i in later)
    assert time_ordered_uuids(0, at) == []


def test_random_ids_are_version_4_distinct_and_behave_as_uuids() -> None:
    ids = random_uuids(20_000)
    assert len(set(ids)) == 20_000
    assert all(i.version == 4 and i.variant == uuid.RFC_4122 for i in ids)
    first = ids[0]
    same = uuid.UUID(str(first))
    assert first == same
    assert hash(first) == hash(same)
    assert str(first) == str(same)
    assert random_uuids(0) == []
