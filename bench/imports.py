"""`import`: persons imported through enrollment's real batch-import route, against a plain COPY.

**ours**: N generated persons (devstack.population, the same generator as `make population`) posted as CSV
in chunks of `BENCH_IMPORT_CHUNK` rows, `BENCH_IMPORT_CONCURRENCY` at a time (as the CLI does), to `POST /api/v1/enrollment/imports/persons` of the enrollment app
built in-process exactly as services/enrollment/main.py builds it (FastAPI lifespan, DbSession per request,
OPS token), on a fresh database migrated by enrollment's own Alembic migrations. Every row goes through the
same validation, keyed hash, encryption, idempotency check, set-based writes and outbox events as in production.

**plain**: the same rows, as text columns, through asyncpg `copy_records_to_table` into a plain table.

**database floor** (a bound, not a third contender): the exact rows the import stored (every table it
wrote, read back after the round) are written again by binary COPY, in foreign-key order, into a fresh
database migrated the same way: the same indexes, unique keys, exclusion constraint and foreign keys,
and no Python work at all. No import that stores those rows can be faster than PostgreSQL storing them,
so `floor_ratio` bounds the ratio any implementation of the real path could reach on this machine.

`ratio` = median(ours rows/s) / median(plain rows/s), rounds alternating ours, plain.
"""

from __future__ import annotations

import asyncio
import csv
import io
import json
import os
import time
from collections import Counter
from datetime import date
from typing import Any

import asyncpg
import httpx
from sqlalchemy import event, func, select
from sqlalchemy.ext.asyncio import AsyncSession, create_async_engine

from bench.harness import BenchContext, BenchResult, cpu_delta, cpu_seconds, database_floor, env_int, median, register
from devstack.infra import REPO_ROOT
from devstack.population import COLUMNS, generate
from devstack.tokens import development_token
from services.enrollment import repository
from services.enrollment.api import router
from services.enrollment.models import CoverageCount
from services.enrollment.regions import parse_regions
from services.enrollment.settings import Settings
from shared.app import create_service_app
from shared.auth import Role
from shared.settings import async_url, plain_url

DEFAULT_ROWS = 100_000  # issue 4; set BENCH_IMPORT_ROWS lower on a busy machine and report the N used
ENROLLMENT = REPO_ROOT / "services" / "enrollment"


def rows_wanted() -> int:
    return env_int("BENCH_IMPORT_ROWS", DEFAULT_ROWS)


def chunk_rows() -> int:
    return env_int("BENCH_IMPORT_CHUNK", 5000)  # as devstack.population's import_file


def concurrency() -> int:
    """Chunks in flight at once, as the CLI posts them (devstack.population import --parallel)."""
    return env_int("BENCH_IMPORT_CONCURRENCY", 2)


def _csv_chunks(rows: list[dict[str, str]], size: int) -> list[bytes]:
    chunks = []
    for start in range(0, len(rows), size):
        out = io.StringIO()
        writer = csv.DictWriter(out, fieldnames=COLUMNS, lineterminator="\n")
        writer.writeheader()
        writer.writerows(rows[start : start + size])
        chunks.append(out.getvalue().encode())
    return chunks


async def measure_ours(ctx: BenchContext, rows: list[dict[str, str]]) -> dict[str, Any]:
    url = await ctx.migrated_database("enrollment", ctx.unique("imp"))
    app = create_service_app(
        Settings(database_url=url, kafka_bootstrap_servers=ctx.bootstrap),
        title="Yibao enrollment (bench)",
        description="bench",
        routers=[router],
        migrations_dir=ENROLLMENT / "migrations",
    )
    app.state.regions = parse_regions((ENROLLMENT / "data" / "regions.csv").read_text(encoding="utf-8"))
    headers = {
        "Authorization": f"Bearer {development_token(Role.OPS, 'bench-import')}",
        "Content-Type": "text/csv",
    }
    chunks = _csv_chunks(rows, chunk_rows())  # prepared before the clock: the file exists before the import
    totals = {"applied": 0, "unchanged": 0, "rejected": 0}
    pg_cpu_before = cpu_seconds(ctx.postgres_pid(), children=True)
    py_cpu_before = cpu_seconds(os.getpid())
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://enrollment", timeout=600) as client:
            in_flight = asyncio.Semaphore(concurrency())

            async def post(body: bytes) -> None:
                async with in_flight:
                    answer = await client.post("/api/v1/enrollment/imports/persons", content=body, headers=headers)
                if answer.status_code != 200:
                    raise RuntimeError(f"import answered {answer.status_code}: {answer.text[:500]}")
                report = answer.json()
                totals["applied"] += report["applied"]
                totals["unchanged"] += report["unchanged"]
                totals["rejected"] += len(report["rejected"])

            started = time.perf_counter()
            await asyncio.gather(*(post(body) for body in chunks))
            elapsed = time.perf_counter() - started
    conn = await asyncpg.connect(plain_url(url))
    try:
        persons = await conn.fetchval("SELECT count(*) FROM persons")
        outbox = await conn.fetchval("SELECT count(*) FROM outbox")
    finally:
        await conn.close()
    if totals["applied"] + totals["rejected"] != len(rows) or persons != totals["applied"]:
        raise RuntimeError(f"import incomplete: {totals}, {persons} persons stored, {len(rows)} rows sent")
    python_cpu = cpu_delta(py_cpu_before, cpu_seconds(os.getpid()))
    postgres_cpu = cpu_delta(pg_cpu_before, cpu_seconds(ctx.postgres_pid(), children=True))
    return {
        "rows_per_s": len(rows) / elapsed,
        "elapsed_s": elapsed,
        "applied": totals["applied"],
        "rejected": totals["rejected"],
        "persons_stored": persons,
        "outbox_events": outbox,
        "python_cpu_s": python_cpu,
        "postgres_cpu_s": postgres_cpu,
        # Per row: steadier than rows/s on a machine shared with other work.
        "python_cpu_us_per_row": None if python_cpu is None else python_cpu / len(rows) * 1e6,
        "postgres_cpu_us_per_row": None if postgres_cpu is None else postgres_cpu / len(rows) * 1e6,
        "database_url": url,
    }


async def explain_coverage(url: str, city_prefix: str) -> dict[str, Any]:
    """EXPLAIN ANALYZE of the statement GET /stats/coverage runs for a city (counts by county and scheme).

    The statement is captured from repository.insured_counts itself, so the plan is that of the real query.
    """
    engine = create_async_engine(async_url(url))
    captured: list[tuple[str, Any]] = []

    def capture(_conn: Any, _cursor: Any, statement: str, parameters: Any, _context: Any, _many: bool) -> None:
        captured.append((statement, parameters))

    event.listen(engine.sync_engine, "before_cursor_execute", capture)
    try:
        async with AsyncSession(engine) as session:
            started = time.perf_counter()
            counts = await repository.insured_counts(session, city_prefix, 6, date.today())
            query_ms = (time.perf_counter() - started) * 1000
        event.remove(engine.sync_engine, "before_cursor_execute", capture)
        # The same figures from a coverage snapshot: taken once (one pass over every person), then read.
        async with AsyncSession(engine) as session, session.begin():
            started = time.perf_counter()
            await repository.take_coverage_snapshot(session, date.today())
            snapshot_take_ms = (time.perf_counter() - started) * 1000
        async with AsyncSession(engine) as session:
            started = time.perf_counter()
            from_snapshot = await repository.snapshot_insured_counts(session, date.today(), city_prefix, 6)
            snapshot_query_ms = (time.perf_counter() - started) * 1000
            snapshot_rows = await session.scalar(
                select(func.count()).select_from(CoverageCount).where(CoverageCount.as_of == date.today())
            )
    finally:
        await engine.dispose()
    if from_snapshot != counts:
        raise RuntimeError(f"the coverage snapshot says {from_snapshot}, the live query {counts}")
    statement, parameters = next((s, p) for s, p in captured if "count(" in s.lower())
    if "%s" in statement:  # a format-style driver statement: asyncpg wants $1, $2, ...
        pieces = statement.split("%s")
        statement = "".join(f"{piece}${i}" for i, piece in enumerate(pieces[:-1], start=1)) + pieces[-1]
    conn = await asyncpg.connect(plain_url(url))
    try:
        await conn.execute("ANALYZE")
        plan = await conn.fetchval(f"EXPLAIN (ANALYZE, BUFFERS, FORMAT JSON) {statement}", *parameters)
        persons = await conn.fetchval("SELECT count(*) FROM persons")
    finally:
        await conn.close()
    top = json.loads(plan)[0]
    node_types = sorted(set(_node_types(top["Plan"])))
    return {
        "city_prefix": city_prefix,
        "persons": persons,
        "insured_counted": sum(counts.values()),
        "query_ms": query_ms,
        "snapshot_take_ms": snapshot_take_ms,
        "snapshot_query_ms": snapshot_query_ms,
        "snapshot_rows": snapshot_rows,
        "execution_ms": top["Execution Time"],
        "planning_ms": top["Planning Time"],
        "total_cost": top["Plan"]["Total Cost"],
        "node_types": node_types,
        "plan": top["Plan"],
    }


def _node_types(plan: dict[str, Any]) -> list[str]:
    found = [f"{plan['Node Type']}" + (f" on {plan['Index Name']}" if "Index Name" in plan else "")]
    for child in plan.get("Plans", []):
        found.extend(_node_types(child))
    return found


async def measure_plain(ctx: BenchContext, rows: list[dict[str, str]]) -> dict[str, Any]:
    columns = ", ".join(f"{c} text" for c in COLUMNS)
    url = await ctx.fresh_database(ctx.unique("impplain"), extra_ddl=(f"CREATE TABLE plain_persons ({columns})",))
    records = [tuple(r[c] or None for c in COLUMNS) for r in rows]
    conn = await asyncpg.connect(plain_url(url))
    try:
        started = time.perf_counter()
        async with conn.transaction():
            await conn.copy_records_to_table("plain_persons", records=records, columns=list(COLUMNS))
        elapsed = time.perf_counter() - started
        stored = await conn.fetchval("SELECT count(*) FROM plain_persons")
    finally:
        await conn.close()
    if stored != len(rows):
        raise RuntimeError(f"plain COPY stored {stored} of {len(rows)} rows")
    return {"rows_per_s": len(rows) / elapsed, "elapsed_s": elapsed}


@register("import", ratio_min=0.1, default=False)
async def import_bench(ctx: BenchContext) -> BenchResult:
    n = rows_wanted()
    rows = list(generate(n, seed=2026))
    ours: list[dict[str, Any]] = []
    plain: list[dict[str, Any]] = []
    floor: list[dict[str, Any]] = []
    coverage: dict[str, Any] | None = None
    for _ in range(ctx.repeat):
        ours.append(await measure_ours(ctx, rows))
        imported = ours[-1].pop("database_url")
        floor.append(await database_floor(ctx, "enrollment", imported, n))  # before the snapshot adds rows
        if coverage is None:  # the coverage query on the database the import just filled
            city = max(Counter(r["hukou_region_code"][:4] for r in rows).items(), key=lambda kv: kv[1])[0]
            coverage = await explain_coverage(imported, city)
        plain.append(await measure_plain(ctx, rows))
        await ctx.drop_databases()  # 100k encrypted persons per round add up on a small disk
    ours_rate = median([o["rows_per_s"] for o in ours])
    plain_rate = median([p["rows_per_s"] for p in plain])
    figures: dict[str, Any] = {
        "rows": n,
        "chunk_rows": chunk_rows(),
        "chunks_in_flight": concurrency(),
        "ours_rows_per_s": ours_rate,
        "plain_rows_per_s": plain_rate,
        "ours_rounds": ours,
        "plain_rounds": plain,
        "round_ratios": [o["rows_per_s"] / p["rows_per_s"] for o, p in zip(ours, plain, strict=True)],
        # What PostgreSQL alone needs to store the import's rows (module doc): the best ratio any import
        # writing them could reach here.
        "floor_rows_per_s": median([f["units_per_s"] for f in floor]),
        "floor_ratio": median([f["units_per_s"] for f in floor]) / plain_rate,
        "floor_rounds": floor,
        "coverage_query": coverage,
    }
    notes = [] if n == DEFAULT_ROWS else [f"ran with {n} rows (BENCH_IMPORT_ROWS), not the default {DEFAULT_ROWS}"]
    return BenchResult(figures=figures, ratio=ours_rate / plain_rate, notes=notes)
