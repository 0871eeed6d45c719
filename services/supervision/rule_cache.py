"""A short-lived memo of the active rule versions for prechecks (事前提醒).

Loading every active rule version was a query on each POST /prechecks; rules change rarely
(an auditor activating a version), so a precheck may use a list up to `ttl_seconds` old.
This process forgets the memo at once when it changes a rule itself; other processes see the
change within the TTL. Pure: the clock and the loader are passed in, so it is unit tested.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from time import monotonic

from services.supervision.service import RuleVersion

ACTIVE_RULES_TTL_SECONDS = 1.0


class ActiveRulesMemo:
    def __init__(self, ttl_seconds: float = ACTIVE_RULES_TTL_SECONDS, clock: Callable[[], float] = monotonic) -> None:
        self._ttl = ttl_seconds
        self._clock = clock
        self._rules: list[RuleVersion] | None = None
        self._loaded_at = 0.0

    async def get(self, load: Callable[[], Awaitable[list[RuleVersion]]]) -> list[RuleVersion]:
        now = self._clock()
        if self._rules is None or now - self._loaded_at >= self._ttl:
            self._rules = await load()
            self._loaded_at = now
        return self._rules

    def forget(self) -> None:
        self._rules = None
