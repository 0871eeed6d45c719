"""A live coverage count that runs past ENROLLMENT_COVERAGE_LIVE_TIMEOUT_S is stopped by PostgreSQL and answered
503 coverage-count-too-slow (pointing at the snapshot), not left to the gateway's 504; the next request counts
again. The count is made slow for certain by a lock another transaction holds on `persons`."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from dataclasses import dataclass

import asyncpg
import httpx
import pytest

from devstack.stack import Stack
from devstack.tokens import development_token
from shared.auth import Role
from shared.settings import plain_url
from tests.integration.enrollment_app import enrollment_app

COUNTY = "350582000000"  # 晋江市
COVERAGE = "/api/v1/enrollment/stats/coverage"
OPS = {"Authorization": f"Bearer {development_token(Role.OPS, 'coverage-limit-test')}"}
LIMIT_S = 0.5


@dataclass
class Enrollment:
    client: httpx.AsyncClient
    url: str


@pytest.fixture
async def enrollment(infra: Stack) -> AsyncIterator[Enrollment]:
    async with enrollment_app(infra, "covlimit", coverage_live_timeout_s=LIMIT_S) as (client, url):
        yield Enrollment(client, plain_url(url))


async def test_a_live_count_past_its_limit_is_a_503_pointing_at_the_snapshot(enrollment: Enrollment) -> None:
    quick = await enrollment.client.get(COVERAGE, params={"region": COUNTY}, headers=OPS)
    assert quick.status_code == 200, quick.text

    blocker = await asyncpg.connect(enrollment.url)
    try:
        holding = blocker.transaction()
        await holding.start()
        await blocker.execute("LOCK TABLE persons IN ACCESS EXCLUSIVE MODE")
        started = time.monotonic()
        slow = await enrollment.client.get(COVERAGE, params={"region": COUNTY}, headers=OPS)
        waited = time.monotonic() - started
        await holding.rollback()
    finally:
        await blocker.close()
    assert slow.status_code == 503, slow.text
    assert slow.headers["content-type"].startswith("application/problem+json")
    problem = slow.json()
    assert problem["type"].endswith("/coverage-count-too-slow")
    assert "source=snapshot" in problem["detail"]
    assert LIMIT_S <= waited < LIMIT_S + 5  # stopped at the limit, not left running until the lock went

    # The limit belonged to that request's transaction: the next count runs (and its other statements too).
    again = await enrollment.client.get(COVERAGE, params={"region": COUNTY}, headers=OPS)
    assert again.status_code == 200, again.text
    assert again.json() == quick.json()
