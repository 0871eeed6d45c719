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


async def test_the_consumer_runner_handles_a_poll_with_fewer_gc_passes(monkeypatch: pytest.MonkeyPatch) -> None:
    from shared.db import Database
    from shared.events.consumer import ConsumerRunner

    runner = ConsumerRunner(
        name="gc-test",
        db=Database("postgresql+asyncpg://nobody@127.0.0.1:1/none", pre_ping=False),
        bootstrap_servers="127.0.0.1:1",
        handlers={},
        topics=["t"],
    )
    seen: list[tuple[int, int, int]] = []

    async def process(records: object) -> None:
        seen.append(gc.get_threshold())

    monkeypatch.setattr(runner, "_process_records", process)
    before = gc.get_threshold()
    await runner.process_records([])
    assert seen == [(max(BULK_GEN0_THRESHOLD, before[0]), before[1], before[2])]
    assert gc.get_threshold() == before
    await runner.db.dispose()
