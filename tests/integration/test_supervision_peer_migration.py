"""Supervision's migration 0006 on the real PostgreSQL, on a database of its own migrated step by
step: the running institution costs give way to the peer baseline tables, a baseline's period must
be a month, and the downgrade rebuilds the running totals from the claim history."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from datetime import date
from decimal import Decimal

import asyncpg
import pytest

from devstack.stack import Stack
from shared.settings import plain_url
from tests.integration.migration_steps import alembic, scratch_database


async def _alembic(url: str, *args: str) -> None:
    await alembic("supervision", url, *args)


@pytest.fixture
async def database(infra: Stack) -> AsyncIterator[str]:
    async with scratch_database(infra, "peermig") as url:
        yield url


async def _tables(conn: asyncpg.Connection) -> set[str]:
    rows = await conn.fetch("SELECT tablename FROM pg_tables WHERE schemaname = 'public'")
    return {row["tablename"] for row in rows}


async def test_0006_replaces_running_costs_with_baselines_and_its_downgrade_rebuilds_them(database: str) -> None:
    await _alembic(database, "upgrade", "0005")
    conn = await asyncpg.connect(plain_url(database))
    try:
        history = [
            ("H1", 2, "J18", "100.00"),
            ("H1", 2, "J18", "300.00"),
            ("H2", 2, "J18", "50.00"),
            ("H2", None, "J18", "70.00"),  # no level: never a peer
            ("H3", 1, None, "20.00"),  # no diagnosis: never a peer
        ]
        for institution, level, group, total in history:
            await conn.execute(
                "INSERT INTO claim_history (settlement_id, person_no, institution_code, practitioner_code, "
                "visit_type, admitted_on, discharged_on, diagnoses, item_codes, total, institution_level, "
                "diagnosis_group, settled_on, claim) VALUES ($1, 'P00000000001', $2, 'D1', 'outpatient', "
                "'2026-10-02', '2026-10-02', '{}', '{}', $3, $4, $5, '2026-10-02', '{}')",
                uuid.uuid4(), institution, Decimal(total), level, group,
            )  # fmt: skip
        await conn.close()
        await _alembic(database, "upgrade", "0006")
        conn = await asyncpg.connect(plain_url(database))
        tables = await _tables(conn)
        assert {"peer_baselines", "peer_baseline_costs"} <= tables
        assert "institution_costs" not in tables
        with pytest.raises(asyncpg.CheckViolationError):
            await conn.execute(
                "INSERT INTO peer_baselines (period, taken_by, institutions, diagnosis_groups, cases) "
                "VALUES ('2026-10-15', 'ops', 0, 0, 0)"
            )
        await conn.execute(
            "INSERT INTO peer_baselines (period, taken_by, institutions, diagnosis_groups, cases) "
            "VALUES ($1, 'ops', 1, 1, 2)",
            date(2026, 10, 1),
        )
        await conn.close()

        await _alembic(database, "downgrade", "0005")
        conn = await asyncpg.connect(plain_url(database))
        tables = await _tables(conn)
        assert "peer_baselines" not in tables
        assert "peer_baseline_costs" not in tables
        rebuilt = await conn.fetch(
            "SELECT institution_code, institution_level, diagnosis_group, cases, total_cost FROM institution_costs "
            "ORDER BY institution_code"
        )
        assert [tuple(row) for row in rebuilt] == [
            ("H1", 2, "J18", 2, Decimal("400.00")),
            ("H2", 2, "J18", 1, Decimal("50.00")),
        ]
        await conn.close()
        await _alembic(database, "upgrade", "head")
        conn = await asyncpg.connect(plain_url(database))
        assert "institution_costs" not in await _tables(conn)
    finally:
        await conn.close()
