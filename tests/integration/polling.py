"""Waiting in integration tests for something another task does (a relay, a consumer)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable


async def wait_until(what: str, check: Callable[[], bool], timeout: float, *, every: float = 0.01) -> None:
    """Until `check()` holds, looking every `every` seconds; fails naming `what` after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, what
        await asyncio.sleep(every)
