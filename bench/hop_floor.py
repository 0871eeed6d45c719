"""The settlement bench's hop floor: a settlement's three HTTP hops with nothing in them.

What the issue fixes about a settlement, and nothing more: the hospital's request enters at the
gateway, which passes it to settlement; settlement asks supervision's in-stage check (事中审核,
issue 6 item 6) and then commits one transaction. Here every hop is the same stack as ours
(FastAPI on uvicorn, aiohttp between processes, asyncpg to PostgreSQL), started the same way
(`uvicorn --no-access-log --log-level warning`, one process each), but:

- the gateway checks no token, and forwards the body as it came;
- settlement parses the claim's JSON and nothing else: no validation, eligibility, catalogue,
  policy, calculation, idempotency key, accumulators, ledger or outbox;
- supervision's check answers "no findings" without reading anything;
- settlement's transaction is pgbench's own TPC-B transaction, on pgbench's tables.

So it costs less than any settlement can, and its rate bounds ours from above: measured beside
pgbench in the same run, its ratio is the most any settlement design on this stack could reach
on this machine. One module, three roles, chosen by `HOP_FLOOR_ROLE`.
"""

from __future__ import annotations

import json
import os
import random
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import aiohttp
import asyncpg
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, Response

from shared.http_client import pooled_session

ROLE = os.environ.get("HOP_FLOOR_ROLE", "supervision")
NEXT_URL = os.environ.get("HOP_FLOOR_NEXT_URL", "")
DATABASE_URL = os.environ.get("HOP_FLOOR_DATABASE_URL", "")
PGBENCH_SCALE = int(os.environ.get("HOP_FLOOR_PGBENCH_SCALE", "32"))
POOL_SIZE = 10  # as shared.db.Database's
CONNECTIONS = 100

# pgbench's built-in TPC-B-like script, statement for statement.
_TPCB = (
    "UPDATE pgbench_accounts SET abalance = abalance + $1 WHERE aid = $2",
    "SELECT abalance FROM pgbench_accounts WHERE aid = $1",
    "UPDATE pgbench_tellers SET tbalance = tbalance + $1 WHERE tid = $2",
    "UPDATE pgbench_branches SET bbalance = bbalance + $1 WHERE bid = $2",
    "INSERT INTO pgbench_history (tid, bid, aid, delta, mtime) VALUES ($1, $2, $3, $4, CURRENT_TIMESTAMP)",
)


@asynccontextmanager
async def _lifespan(app: FastAPI) -> AsyncIterator[None]:
    app.state.http = None
    app.state.pool = None
    if NEXT_URL:
        app.state.http = pooled_session(
            max_connections=CONNECTIONS,
            max_connections_per_host=CONNECTIONS,
            timeout=aiohttp.ClientTimeout(total=30),
        )
    if DATABASE_URL:
        app.state.pool = await asyncpg.create_pool(DATABASE_URL, min_size=POOL_SIZE, max_size=POOL_SIZE)
    try:
        yield
    finally:
        if app.state.http is not None:
            await app.state.http.close()
        if app.state.pool is not None:
            await app.state.pool.close()


app = FastAPI(lifespan=_lifespan)


_checks_answered = 0  # for the floor's own test: every checked settlement reached supervision


@app.get("/readyz")
async def readyz() -> dict[str, object]:
    return {"status": "ready", "role": ROLE, "checks_answered": _checks_answered}


async def _forward(request: Request, url: str, body: bytes) -> tuple[int, bytes]:
    session: aiohttp.ClientSession = request.app.state.http
    headers = {"content-type": request.headers.get("content-type", "application/json")}
    async with session.post(url, data=body, headers=headers, allow_redirects=False) as upstream:
        return upstream.status, await upstream.read()


async def _tpcb(pool: asyncpg.Pool) -> None:
    aid = random.randint(1, 100000 * PGBENCH_SCALE)
    bid = random.randint(1, PGBENCH_SCALE)
    tid = random.randint(1, 10 * PGBENCH_SCALE)
    delta = random.randint(-5000, 5000)
    async with pool.acquire() as conn, conn.transaction():
        await conn.execute(_TPCB[0], delta, aid)
        await conn.fetchval(_TPCB[1], aid)
        await conn.execute(_TPCB[2], delta, tid)
        await conn.execute(_TPCB[3], delta, bid)
        await conn.execute(_TPCB[4], tid, bid, aid, delta)


@app.post("/api/v1/settlement/{path}")
async def gateway(path: str, request: Request) -> Response:
    status, body = await _forward(request, f"{NEXT_URL}/{path}", await request.body())
    return Response(content=body, status_code=status, media_type="application/json")


async def _settle(request: Request, *, checked: bool) -> Response:
    body = await request.body()
    claim = json.loads(body)
    if checked:
        await _forward(request, f"{NEXT_URL}/checks", body)
    await _tpcb(request.app.state.pool)
    return JSONResponse({"settlement_id": str(uuid.uuid4()), "person_no": claim.get("person_no")}, status_code=201)


@app.post("/settlements")
async def settle(request: Request) -> Response:
    return await _settle(request, checked=True)


@app.post("/settlements-unchecked")
async def settle_unchecked(request: Request) -> Response:
    """Two hops only: what the floor would be if settlement did not ask supervision (issue 6 says it must)."""
    return await _settle(request, checked=False)


@app.post("/checks")
async def check(request: Request) -> dict[str, list[object]]:
    global _checks_answered
    await request.body()
    _checks_answered += 1
    return {"findings": []}
