"""Short-lived memos of reference data: the active rule versions and the knowledge base (知识库).

Loading them was a query each on every POST /prechecks and /checks. Both change rarely, so a
request may use a copy up to `ttl_seconds` old (decision 0009):

- active rule versions, 1 s: an auditor's activation takes effect in this process at once (the
  route forgets the memo) and in every other process within a second;
- the knowledge base (item restrictions), 60 s: only migrations change it (no API writes it), and
  a deploy restarts the processes anyway; the TTL bounds a manual fix's delay to a minute.

Pure: the clock and the loader are passed in, so it is unit tested.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from time import monotonic
from typing import Generic, TypeVar

from services.supervision.service import ItemRestriction, RuleVersion

ACTIVE_RULES_TTL_SECONDS = 1.0
KNOWLEDGE_BASE_TTL_SECONDS = 60.0

T = TypeVar("T")


class TtlMemo(Generic[T]):
    """The last loaded value, re-loaded when it is `ttl_seconds` old or forgotten."""

    def __init__(self, ttl_seconds: float, clock: Callable[[], float] = monotonic) -> None:
        self._ttl = ttl_seconds
        self._clock = clock
        self._value: T | None = None
        self._loaded_at = 0.0

    async def get(self, load: Callable[[], Awaitable[T]]) -> T:
        now = self._clock()
        if self._value is None or now - self._loaded_at >= self._ttl:
            self._value = await load()
            self._loaded_at = now
        return self._value

    def forget(self) -> None:
        self._value = None


class ActiveRulesMemo(TtlMemo[list[RuleVersion]]):
    def __init__(self, ttl_seconds: float = ACTIVE_RULES_TTL_SECONDS, clock: Callable[[], float] = monotonic) -> None:
        super().__init__(ttl_seconds, clock)


class KnowledgeBaseMemo(TtlMemo[dict[str, ItemRestriction]]):
    """The whole knowledge base by item code (restricted items: thousands of rows, not millions)."""

    def __init__(self, ttl_seconds: float = KNOWLEDGE_BASE_TTL_SECONDS, clock: Callable[[], float] = monotonic) -> None:
        super().__init__(ttl_seconds, clock)
