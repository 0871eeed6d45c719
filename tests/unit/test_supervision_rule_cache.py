"""The precheck memo of active rule versions: reused within its TTL, re-read after it or when forgotten."""

from __future__ import annotations

from services.supervision.rule_cache import ActiveRulesMemo
from services.supervision.service import LIBRARY, RuleVersion


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


async def test_reuses_within_ttl_reloads_after_and_on_forget() -> None:
    clock = Clock()
    memo = ActiveRulesMemo(ttl_seconds=1.0, clock=clock)
    loads: list[int] = []

    async def load() -> list[RuleVersion]:
        loads.append(1)
        return list(LIBRARY)[: len(loads)]

    first = await memo.get(load)
    clock.now += 0.9
    assert await memo.get(load) is first
    assert len(loads) == 1
    clock.now += 0.1
    second = await memo.get(load)
    assert len(loads) == 2
    assert len(second) == 2
    memo.forget()
    assert len(await memo.get(load)) == 3
