"""The live coverage count of a node below the city works in proportion to the node's persons (migration 0010,
decision 0019), and counts what a plain statement of the rule counts, at every level; a snapshot counts the same.

A population of 60,000 persons (bench.coverage's set-based load over the demo region tree, two years of
enrollments, some pending, suspended, terminated, deceased) on a fresh database migrated by enrollment's own
migrations. The planner once turned a village's count into a pass over every covering enrollment of the city."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from datetime import date
from typing import Any

import asyncpg
import pytest
from sqlalchemy import event, text
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, create_async_engine

from bench.coverage import ENROLLMENT, drill_path, load_population
from bench.harness import BenchContext
from devstack.stack import Stack
from services.enrollment import repository
from services.enrollment.regions import CHILD_LEVEL, PREFIX_LENGTH, Region, RegionTree, parse_regions
from shared.business_time import business_today
from shared.settings import async_url, plain_url

PERSONS = 60_000

# The rule written out once more, plainly (count(DISTINCT), no index in mind): the oracle the repository must match.
_REFERENCE = """
SELECT left(p.hukou_region_code, $2) AS child, e.scheme, count(DISTINCT p.person_no) AS n
FROM persons p JOIN enrollments e ON e.person_no = p.person_no
WHERE p.hukou_region_code LIKE $1 || '%' AND (p.died_on IS NULL OR p.died_on >= $3)
  AND e.activated_at IS NOT NULL AND e.effective_from <= $3 AND e.effective_to >= $3
  AND (e.status IN ('active', 'terminated') OR (e.status = 'suspended' AND e.suspended_from > $3))
GROUP BY 1, 2
"""


@pytest.fixture(scope="module")
def tree() -> RegionTree:
    return parse_regions((ENROLLMENT / "data" / "regions.csv").read_text(encoding="utf-8"))


@pytest.fixture
async def populated(infra: Stack, tree: RegionTree) -> AsyncIterator[str]:
    ctx = BenchContext(infra.database_url, infra.bootstrap, 0, 1, None)
    url = await ctx.migrated_database("enrollment", ctx.unique("coverage_plan"))
    try:
        await load_population(url, tree, PERSONS, business_today())
        yield url
    finally:
        await ctx.drop_databases()


def _child_length(node: Region) -> int:
    child = CHILD_LEVEL[node.level]
    return PREFIX_LENGTH[child] if child else PREFIX_LENGTH[node.level]


def _nodes(plan: dict[str, Any]) -> list[dict[str, Any]]:
    return [plan, *(node for child in plan.get("Plans", []) for node in _nodes(child))]


async def _plan_of_live_count(engine: AsyncEngine, node: Region, on: date, url: str) -> list[dict[str, Any]]:
    """EXPLAIN ANALYZE of the very statement repository.insured_counts issues for the node."""
    captured: list[tuple[str, Any]] = []

    def capture(_conn: Any, _cursor: Any, statement: str, parameters: Any, _context: Any, _many: bool) -> None:
        captured.append((statement, parameters))

    event.listen(engine.sync_engine, "before_cursor_execute", capture)
    try:
        async with AsyncSession(engine) as session:
            await repository.insured_counts(session, node.prefix, _child_length(node), on)
    finally:
        event.remove(engine.sync_engine, "before_cursor_execute", capture)
    statement, parameters = captured[-1]
    conn = await asyncpg.connect(plain_url(url))
    try:
        plan = json.loads(await conn.fetchval(f"EXPLAIN (ANALYZE, FORMAT JSON) {statement}", *parameters))
    finally:
        await conn.close()
    return _nodes(plan[0]["Plan"])


async def test_live_counts_below_the_city_read_only_the_nodes_persons_and_match_the_rule(
    populated: str, tree: RegionTree
) -> None:
    today = business_today()
    engine = create_async_engine(async_url(populated))
    conn = await asyncpg.connect(plain_url(populated))
    try:
        for level, node in drill_path(tree).items():
            async with AsyncSession(engine) as session:
                counts = await repository.insured_counts(session, node.prefix, _child_length(node), today)
            rows = await conn.fetch(_REFERENCE, node.prefix, _child_length(node), today)
            assert counts == {(r["child"], r["scheme"]): r["n"] for r in rows}, level
            assert {scheme for _, scheme in counts} == {"employee", "resident"}, level
            if level == "city":
                continue
            under = await conn.fetchval(
                "SELECT count(*) FROM persons WHERE hukou_region_code LIKE $1 || '%'", node.prefix
            )
            nodes = await _plan_of_live_count(engine, node, today, populated)
            on_enrollments = [n for n in nodes if n.get("Relation Name") == "enrollments"]
            # Each of the node's persons is looked up by person, index only: no pass over the city's enrollments.
            assert on_enrollments, level
            assert all(n["Node Type"] == "Index Only Scan" for n in on_enrollments), (level, on_enrollments)
            assert {n.get("Index Name") for n in on_enrollments} == {"ix_enrollments_covering"}, level
            assert sum(n["Actual Loops"] for n in on_enrollments) <= under, level
            if level == "county":  # a sixth of everyone: reading them by a sequential scan may well be cheaper
                continue
            # The node's persons by the hukou prefix (index only, or a bitmap while the table is this small).
            assert "ix_persons_hukou_covering" in {n.get("Index Name") for n in nodes}, level
            assert not [n for n in nodes if n.get("Relation Name") == "persons" and n["Node Type"] == "Seq Scan"]
    finally:
        await conn.close()
        await engine.dispose()


async def test_a_village_count_reads_only_the_village_also_from_a_generic_plan(
    populated: str, tree: RegionTree
) -> None:
    """asyncpg prepares every statement, and PostgreSQL may keep a generic plan after five runs on a connection:
    forced here, the village's count (and its uninsured list) must still read only the village's persons."""
    today = business_today()
    village = drill_path(tree)["village"]
    engine = create_async_engine(async_url(populated))
    try:
        for _ in range(3):  # ANALYZE samples at random: a plan must hold whatever statistics it drew
            async with AsyncSession(engine) as session, session.begin():
                await session.execute(text("ANALYZE persons, enrollments"))
                await session.execute(text("SET LOCAL plan_cache_mode = force_generic_plan"))
                under = await session.scalar(
                    text("SELECT count(*) FROM persons WHERE hukou_region_code LIKE :p"), {"p": village.prefix + "%"}
                )
                before = await _persons_rows_read(session)
                counts = await repository.insured_counts(session, village.prefix, 15, today)
                await repository.uninsured_under(session, village.prefix, today, limit=100, after=None)
                read = await _persons_rows_read(session) - before
            assert counts
            assert under
            # Each of the two calls reads the village's persons about once (by index); a plan unable to use the
            # prefix, or walking persons in person_no order to fill a page, reads all 60,000.
            assert read <= 4 * under, (read, under)
    finally:
        await engine.dispose()


async def _persons_rows_read(session: AsyncSession) -> int:
    """Rows of persons read in this transaction so far: by sequential scans and through its indexes."""
    read = await session.scalar(
        text(
            "SELECT pg_stat_get_xact_tuples_returned('persons'::regclass)"
            " + coalesce(sum(pg_stat_get_xact_tuples_returned(indexrelid)), 0)"
            " FROM pg_index WHERE indrelid = 'persons'::regclass"
        )
    )
    return int(read or 0)


async def test_a_snapshot_of_the_population_counts_what_the_live_count_counts_at_every_level(
    populated: str, tree: RegionTree
) -> None:
    today = business_today()
    engine = create_async_engine(async_url(populated))
    try:
        async with AsyncSession(engine) as session, session.begin():
            await repository.take_coverage_snapshot(session, today)
        for level, node in drill_path(tree).items():
            async with AsyncSession(engine) as session:
                live = await repository.insured_counts(session, node.prefix, _child_length(node), today)
                snapshot = await repository.snapshot_insured_counts(session, today, node.prefix, _child_length(node))
            assert snapshot == live, level
            assert live, level
    finally:
        await engine.dispose()
