"""Supervision's migration 0008 on the real PostgreSQL, on a database of its own migrated step by
step: PHANTOM-BED and LTC-DURING-STAY get a version 2 that looks back no further than they read,
so the claims window of the active rules is 90 days instead of 366; a rule an auditor versioned
already is left alone; the downgrade gives the seeded versions back."""

from __future__ import annotations

from collections.abc import AsyncIterator

import asyncpg
import pytest

from devstack.stack import Stack
from shared.settings import plain_url
from tests.integration.migration_steps import alembic, scratch_database


@pytest.fixture
async def database(infra: Stack) -> AsyncIterator[str]:
    async with scratch_database(infra, "rulewin") as url:
        yield url


async def _active(url: str) -> dict[str, tuple[int, int | None]]:
    conn = await asyncpg.connect(plain_url(url))
    try:
        rows = await conn.fetch("SELECT rule_id, version, window_days FROM rule_versions WHERE active")
    finally:
        await conn.close()
    return {row["rule_id"]: (row["version"], row["window_days"]) for row in rows}


async def test_0008_narrows_the_seeded_year_windows_and_its_downgrade_restores_them(database: str) -> None:
    await alembic("supervision", database, "upgrade", "0007")
    before = await _active(database)
    assert before["PHANTOM-BED"] == (1, 366)
    assert before["LTC-DURING-STAY"] == (1, 366)
    assert max(window or 0 for _, window in before.values()) == 366

    await alembic("supervision", database, "upgrade", "0008")
    after = await _active(database)
    assert after["PHANTOM-BED"] == (2, 1)
    assert after["LTC-DURING-STAY"] == (2, None)
    assert {rule: v for rule, v in after.items() if rule not in ("PHANTOM-BED", "LTC-DURING-STAY")} == {
        rule: v for rule, v in before.items() if rule not in ("PHANTOM-BED", "LTC-DURING-STAY")
    }
    assert max(window or 0 for _, window in after.values()) == 90  # DOCTOR-SHOPPING's

    await alembic("supervision", database, "downgrade", "0007")
    assert await _active(database) == before


async def test_0008_leaves_a_rule_an_auditor_has_versioned_since(database: str) -> None:
    await alembic("supervision", database, "upgrade", "0007")
    conn = await asyncpg.connect(plain_url(database))
    try:
        # An auditor's own version 2 of PHANTOM-BED, not activated: the rule is theirs now.
        await conn.execute(
            "INSERT INTO rule_versions (rule_id, version, family, stages, severity, parameters, scope, window_days,"
            " effective_from, active) SELECT rule_id, 2, family, stages, 'refuse', parameters, scope, 30,"
            " effective_from, false FROM rule_versions WHERE rule_id = 'PHANTOM-BED' AND version = 1"
        )
    finally:
        await conn.close()
    await alembic("supervision", database, "upgrade", "0008")
    after = await _active(database)
    assert after["PHANTOM-BED"] == (1, 366)
    assert after["LTC-DURING-STAY"] == (2, None)
