"""The relay's claim reads only the rows it takes: PostgreSQL walks the pending index in id
order and stops at the limit, whatever the backlog (decision 0004)."""

from __future__ import annotations

import json
from typing import Any

import asyncpg

from shared.events.outbox import _CLAIM_BATCH, _RELAY_LOCK_NAMESPACE
from shared.settings import plain_url
from tests.integration.conftest import FreshDatabase

BACKLOG = 20_000
LIMIT = 500


def _nodes(plan: dict[str, Any]) -> list[dict[str, Any]]:
    return [plan, *(node for child in plan.get("Plans", []) for node in _nodes(child))]


async def test_a_claim_walks_the_pending_index_and_stops_at_its_limit(fresh_database: FreshDatabase) -> None:
    url = await fresh_database("claim_plan")
    explain_claim = "EXPLAIN (ANALYZE, FORMAT JSON) " + _CLAIM_BATCH.text.replace(":namespace", "$1").replace(
        ":limit", "$2"
    )
    conn = await asyncpg.connect(plain_url(url))
    try:
        await conn.execute(
            "INSERT INTO outbox (event_id, event_type, topic, key, shard, source, occurred_at, payload) "
            "SELECT gen_random_uuid(), 't', 't', 'k' || n % 1000, n % 16, '/test', now(), '\\x7b7d'::bytea "
            "FROM generate_series(1, $1::integer) AS n",
            BACKLOG,
        )
        await conn.execute("ANALYZE outbox")
        # EXPLAIN ANALYZE runs the claim: in a transaction, so it holds its advisory locks as the relay's does.
        async with conn.transaction():
            plan = json.loads(await conn.fetchval(explain_claim, _RELAY_LOCK_NAMESPACE, LIMIT))[0]["Plan"]
            claimed = await conn.fetchval("SELECT count(*) FROM outbox WHERE published_at IS NOT NULL")
    finally:
        await conn.close()
    nodes = _nodes(plan)
    assert claimed == LIMIT
    # No sort of the pending rows: they come out of the index in id order...
    assert not [n for n in nodes if n["Node Type"] in ("Sort", "Incremental Sort")]
    pending_scans = [n for n in nodes if n.get("Index Name") == "ix_outbox_pending_id"]
    assert pending_scans
    assert pending_scans[0]["Node Type"] == "Index Scan"
    # ...and the scan stops at the limit instead of reading the whole backlog.
    assert pending_scans[0]["Actual Rows"] <= LIMIT
