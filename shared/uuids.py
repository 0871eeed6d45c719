"""UUIDs made in bulk, for batch writes (an import's thousands of rows and events).

`uuid.uuid4()` costs about 2 µs an id and `uuid6.uuid7()` more; here one `os.urandom` call and two big-integer
masks make a whole batch, and each id is asyncpg's own UUID type (a `uuid.UUID` subclass: equal, hashable and
serialised like one), which asyncpg's codecs write without a Python call per value.
"""

from __future__ import annotations

import os
from datetime import datetime
from uuid import UUID

from asyncpg.pgproto.pgproto import UUID as WireUUID

_KEEP_V4 = bytes.fromhex("ffffffffffff0fff3fffffffffffffff")  # all but the version nibble and variant bits
_SET_V4 = bytes.fromhex("00000000000040008000000000000000")  # version 4, RFC 4122 variant
_KEEP_V7 = bytes.fromhex("0000000000000fff3fffffffffffffff")  # the random bits only
_V7_BITS = bytes.fromhex("00000000000070008000000000000000")  # version 7, RFC 4122 variant


def _masked(count: int, keep: bytes, put: bytes) -> list[UUID]:
    if count <= 0:
        return []
    size = 16 * count
    noise = int.from_bytes(os.urandom(size))
    raw = (noise & int.from_bytes(keep * count) | int.from_bytes(put * count)).to_bytes(size)
    return [WireUUID(raw[start : start + 16]) for start in range(0, size, 16)]


def random_uuids(count: int) -> list[UUID]:
    """`count` version-4 (random) UUIDs."""
    return _masked(count, _KEEP_V4, _SET_V4)


def time_ordered_uuids(count: int, at: datetime) -> list[UUID]:
    """`count` version-7 UUIDs stamped with one instant's millisecond, unique by their 74 random bits.

    uuid6.uuid7 moves its clock a millisecond ahead for every id within one millisecond: a batch of 15,000
    would be stamped up to 15 s in the future. Ids of one batch sort among themselves at random; a later
    batch's sort after an earlier one's."""
    millis = (int(at.timestamp() * 1000) & 0xFFFF_FFFF_FFFF).to_bytes(6)
    return _masked(count, _KEEP_V7, millis + _V7_BITS[6:])
