"""The relay's polling schedule: fast while rows come, doubling waits up to the idle cap once they stop."""

from __future__ import annotations

import asyncio

import pytest

import shared.events.outbox as outbox
from shared.db import Database
from shared.events.outbox import OutboxRelay, PollBackoff

BUSY = 0.05
CAP = 1.0
BATCH = 1000


def test_empty_claims_wait_twice_as_long_each_time_up_to_the_cap() -> None:
    backoff = PollBackoff(BUSY, CAP)
    waits = [backoff.after(0, BATCH) for _ in range(8)]
    assert waits == pytest.approx([0.05, 0.1, 0.2, 0.4, 0.8, 1.0, 1.0, 1.0])


def test_a_batch_found_brings_the_relay_back_to_the_busy_interval_at_once() -> None:
    backoff = PollBackoff(BUSY, CAP)
    for _ in range(10):
        backoff.after(0, BATCH)  # backed off to the cap
    assert backoff.after(3, BATCH) == BUSY
    # The next lull starts over from the busy interval, not from the cap.
    assert [backoff.after(0, BATCH) for _ in range(3)] == pytest.approx([0.05, 0.1, 0.2])


def test_a_full_batch_means_a_backlog_so_the_next_claim_goes_at_once() -> None:
    backoff = PollBackoff(BUSY, CAP)
    for _ in range(10):
        backoff.after(0, BATCH)
    assert backoff.after(BATCH, BATCH) == 0.0
    assert backoff.after(BATCH, BATCH) == 0.0
    assert backoff.after(0, BATCH) == BUSY


def test_a_cap_below_the_busy_interval_never_makes_the_relay_poll_faster_than_it() -> None:
    backoff = PollBackoff(0.5, 0.1)
    assert [backoff.after(0, BATCH) for _ in range(3)] == [0.5, 0.5, 0.5]


def test_the_total_wait_to_reach_the_cap_is_the_sum_of_the_doublings() -> None:
    # 0.05 + 0.1 + 0.2 + 0.4 + 0.8: idle claims slow to the cap within ~1.6 s of the last row.
    backoff = PollBackoff(BUSY, CAP)
    waited = 0.0
    while (wait := backoff.after(0, BATCH)) < CAP:
        waited += wait
    assert waited == pytest.approx(1.55)


class ScriptedRelay(OutboxRelay):
    """A relay whose claims publish the scripted counts, and no database behind them."""

    def __init__(self, published: list[int], stop: asyncio.Event) -> None:
        super().__init__(
            Database("postgresql+asyncpg://nobody@127.0.0.1:1/none", pre_ping=False),
            producer=None,  # never used: publish_batch is scripted
            service="backoff-test",
            batch_size=10,
            poll_interval=BUSY,
            idle_poll_cap=CAP,
        )
        self.script = list(published)
        self.stop = stop

    async def publish_batch(self) -> int:
        if len(self.script) == 1:
            self.stop.set()
        return self.script.pop(0)

    async def pending_count(self) -> int:
        return 0


async def test_the_relay_loop_waits_what_the_schedule_says(monkeypatch: pytest.MonkeyPatch) -> None:
    waits: list[float] = []

    async def record_wait(stop: asyncio.Event, seconds: float) -> None:
        waits.append(seconds)  # instead of sleeping

    monkeypatch.setattr(outbox, "_sleep_or_stop", record_wait)
    stop = asyncio.Event()
    relay = ScriptedRelay([10, 4, 0, 0, 0, 0, 0, 0, 0, 7, 0, 0], stop)
    await relay.run(stop)
    # Full batch: no wait; partial: busy; seven empties: doubling to the cap; a batch: busy again.
    assert waits == pytest.approx([0.05, 0.05, 0.1, 0.2, 0.4, 0.8, 1.0, 1.0, 0.05, 0.05, 0.1])
    assert relay.script == []
    await relay.db.dispose()
