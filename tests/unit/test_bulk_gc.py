"""shared.bulk.fewer_gc_passes: a higher generation-0 threshold while bulk work runs, restored after the last."""

from __future__ import annotations

import gc

import pytest

from shared.bulk import BULK_GEN0_THRESHOLD, fewer_gc_passes


def test_the_threshold_is_raised_inside_and_restored_after_overlapping_blocks() -> None:
    before = gc.get_threshold()
    first, second = fewer_gc_passes(), fewer_gc_passes()
    first.__enter__()
    assert gc.get_threshold() == (max(BULK_GEN0_THRESHOLD, before[0]), before[1], before[2])
    second.__enter__()
    first.__exit__(None, None, None)  # the first to start ends first: the second still runs raised
    assert gc.get_threshold()[0] == max(BULK_GEN0_THRESHOLD, before[0])
    second.__exit__(None, None, None)
    assert gc.get_threshold() == before


def test_the_threshold_is_restored_when_the_work_fails() -> None:
    before = gc.get_threshold()
    with pytest.raises(RuntimeError), fewer_gc_passes():
        raise RuntimeError("a refused file")
    assert gc.get_threshold() == before
