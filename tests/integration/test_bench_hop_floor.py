"""The settlement bench's hop floor does what its ratio claims: every request crosses the three
hops (the checked path reaches supervision) and commits exactly one TPC-B transaction."""

from __future__ import annotations

import asyncio

import aiohttp
import asyncpg

from bench.settlement import SETTLEMENTS, HopFloor, pgbench
from devstack.stack import Stack
from shared.settings import plain_url
from tests.integration.conftest import FreshDatabase

CLAIM = {"person_no": "P90000000001", "visit_type": "inpatient", "lines": []}


async def test_each_floor_request_is_three_hops_and_one_tpcb_transaction(
    infra: Stack, fresh_database: FreshDatabase
) -> None:
    url = await fresh_database("hop_floor")
    await asyncio.to_thread(pgbench, ["-i", "-s", "1", "-q"], url)
    floor = HopFloor(url, infra.var / "log", pgbench_scale=1)
    floor.start()
    try:
        await floor.wait_ready()
        async with aiohttp.ClientSession(base_url=floor.gateway_url) as client:
            for path, count in ((SETTLEMENTS, 5), (f"{SETTLEMENTS}-unchecked", 3)):
                for _ in range(count):
                    async with client.post(path, json=CLAIM) as answer:
                        assert answer.status == 201
                        assert (await answer.json())["person_no"] == "P90000000001"
        async with (
            aiohttp.ClientSession() as client,
            client.get(f"http://127.0.0.1:{floor.ports['supervision']}/readyz") as ready,
        ):
            assert (await ready.json())["checks_answered"] == 5
    finally:
        await asyncio.to_thread(floor.stop)
    conn = await asyncpg.connect(plain_url(url))
    try:
        history = await conn.fetchrow("SELECT count(*) AS n, coalesce(sum(delta), 0) AS total FROM pgbench_history")
        # TPC-B's invariant: every transaction moved its delta on a branch, a teller and an account.
        branches = await conn.fetchval("SELECT sum(bbalance) FROM pgbench_branches")
        tellers = await conn.fetchval("SELECT sum(tbalance) FROM pgbench_tellers")
        accounts = await conn.fetchval("SELECT sum(abalance) FROM pgbench_accounts")
    finally:
        await conn.close()
    assert history is not None
    assert history["n"] == 8
    assert branches == tellers == accounts == history["total"]
