"""Outbox shards: a key always maps to the same shard, or per-person ordering would break."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from shared.events.outbox import OUTBOX_SHARDS, shard_of


def test_shard_count_is_fixed() -> None:
    assert OUTBOX_SHARDS == 16


def test_shards_are_pinned_for_known_keys() -> None:
    # Pinned values (CRC-32 mod 16): a change here moves live keys to another shard.
    assert {k: shard_of(k) for k in ("P00000000001", "P00000000002", "P00000012345", "", "患者")} == {
        "P00000000001": 9,
        "P00000000002": 3,
        "P00000012345": 6,
        "": 0,
        "患者": 9,
    }


def test_keys_spread_over_every_shard() -> None:
    shards = {shard_of(f"P{n:011d}") for n in range(1, 1001)}
    assert shards == set(range(OUTBOX_SHARDS))


@settings(max_examples=200, deadline=None)
@given(st.text())
def test_any_key_maps_to_one_stable_shard_in_range(key: str) -> None:
    shard = shard_of(key)
    assert shard in range(OUTBOX_SHARDS)
    assert shard_of(key) == shard
    assert shard_of(str(key)) == shard


@settings(max_examples=200)
@given(key=st.text(max_size=30), count=st.integers(min_value=1, max_value=12))
def test_relay_partitions_as_the_producer_would(key: str, count: int) -> None:
    # The relay builds record batches per partition itself; a key must land where
    # AIOKafkaProducer.send would put it, or a key's events could split across partitions.
    from aiokafka.partitioner import DefaultPartitioner, murmur2

    from shared.events.outbox import partition_for

    partitions = list(range(count))
    expected = DefaultPartitioner()(key.encode(), partitions, partitions)
    assert partition_for(key.encode(), tuple(partitions)) == expected
    assert expected == (murmur2(key.encode()) & 0x7FFFFFFF) % count
