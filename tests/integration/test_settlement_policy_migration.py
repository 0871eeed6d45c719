"""Migration 0012 on the real PostgreSQL: policy versions stored with one assistance_share and
assistance_cap come out with that share and cap for every 救助 group, parse, and keep every other
value; the downgrade gives the older shape back. On a database of its own, migrated step by step."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import AsyncIterator
from decimal import Decimal

import asyncpg
import pytest

from devstack.stack import Stack
from services.settlement.policies import load_policy_rows, parse_policy_row
from services.settlement.service import ASSISTANCE_GROUPS, AssistanceTerms
from shared.settings import plain_url
from tests.integration.migration_steps import alembic, scratch_database

LEGACY_CSV = (
    "region,scheme,year,visit_type,institution_level,retiree,version,effective_from,effective_to,deductible,ratio,"
    "cap,critical_threshold,critical_tiers,critical_cap,assistance_share,assistance_cap,unfiled_reduction\n"
    "350500,resident,2026,inpatient,3,false,1,2026-01-01,,1000,0.67,150000,15000,50000:0.60;:0.70,400000,0.70,"
    "30000,0.15\n"
    "350500,resident,2026,inpatient,3,false,2,2026-07-01,,800,0.67,150000,15000,50000:0.60;:0.70,400000,0.65,"
    "25000.50,0.15\n"
)


async def _alembic(url: str, *args: str) -> None:
    await alembic("settlement", url, *args)


@pytest.fixture
async def database(infra: Stack) -> AsyncIterator[str]:
    async with scratch_database(infra, "polmig") as url:
        yield url


async def _source_rows(url: str) -> list[dict[str, str]]:
    conn = await asyncpg.connect(plain_url(url))
    try:
        rows = await conn.fetch("SELECT source_row FROM policies ORDER BY version")
        return [json.loads(r["source_row"]) for r in rows]
    finally:
        await conn.close()


async def test_stored_policies_move_to_assistance_by_group_without_losing_a_value(database: str) -> None:
    await _alembic(database, "upgrade", "0011")
    # The rows exactly as the loader before 0012 stored them: the CSV row, column → text.
    legacy = list(csv.DictReader(io.StringIO(LEGACY_CSV)))
    assert (legacy[1]["assistance_share"], legacy[1]["assistance_cap"]) == ("0.65", "25000.50")
    conn = await asyncpg.connect(plain_url(database))
    try:
        for row in legacy:
            await conn.execute(
                "INSERT INTO policies (region, scheme, year, visit_type, institution_level, retiree, version,"
                " source_row) VALUES ($1, $2, $3, $4, $5, $6, $7, $8::jsonb)",
                row["region"], row["scheme"], int(row["year"]), row["visit_type"], int(row["institution_level"]),
                row["retiree"] == "true", int(row["version"]), json.dumps(row),
            )  # fmt: skip
    finally:
        await conn.close()

    await _alembic(database, "upgrade", "head")
    migrated = await _source_rows(database)
    for before, after in zip(legacy, migrated, strict=True):
        assert "assistance_share" not in after
        assert "assistance_cap" not in after
        # Every other column as it was.
        assert {k: v for k, v in before.items() if not k.startswith("assistance_")} == {
            k: v for k, v in after.items() if k != "assistance_by_group"
        }
        policy = parse_policy_row(after).policy
        share, cap = Decimal(before["assistance_share"]), Decimal(before["assistance_cap"])
        assert policy.assistance == {group: AssistanceTerms(share, cap, Decimal(0)) for group in ASSISTANCE_GROUPS}
    # The same old file loaded after the migration is the same rows (a reload is `unchanged`, not a 409).
    assert [row for row, _ in load_policy_rows(LEGACY_CSV)] == migrated

    await _alembic(database, "downgrade", "0011")
    assert await _source_rows(database) == legacy
