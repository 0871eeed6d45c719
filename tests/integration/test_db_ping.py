"""The pool's one-round-trip ping: a pooled connection the server dropped is replaced, not used."""

from __future__ import annotations

import asyncpg
from sqlalchemy import text

from shared.db import Database
from shared.settings import plain_url
from tests.integration.conftest import FreshDatabase


async def test_a_dropped_pooled_connection_is_replaced_on_checkout(fresh_database: FreshDatabase) -> None:
    url = await fresh_database("db_ping")
    db = Database(url, pool_size=1, max_overflow=0)
    try:
        async with db.transaction() as session:
            first_pid = await session.scalar(text("SELECT pg_backend_pid()"))
        admin = await asyncpg.connect(plain_url(url))
        try:
            assert await admin.fetchval("SELECT pg_terminate_backend($1)", first_pid) is True
        finally:
            await admin.close()
        # The only pooled connection is dead; the request still succeeds, on a new one.
        async with db.transaction() as session:
            second_pid = await session.scalar(text("SELECT pg_backend_pid()"))
        assert second_pid != first_pid
    finally:
        await db.dispose()


async def test_without_the_ping_the_dropped_connection_fails_the_first_use(fresh_database: FreshDatabase) -> None:
    # The control: what the ping protects against (workers run without it and retry instead).
    url = await fresh_database("db_no_ping")
    db = Database(url, pool_size=1, max_overflow=0, pre_ping=False)
    try:
        async with db.transaction() as session:
            pid = await session.scalar(text("SELECT pg_backend_pid()"))
        admin = await asyncpg.connect(plain_url(url))
        try:
            await admin.fetchval("SELECT pg_terminate_backend($1)", pid)
        finally:
            await admin.close()
        failed = False
        try:
            async with db.transaction() as session:
                await session.scalar(text("SELECT 1"))
        except Exception:
            failed = True
        assert failed
    finally:
        await db.dispose()


async def test_the_ping_is_the_transactions_begin(fresh_database: FreshDatabase) -> None:
    """A checked-out connection costs one round trip before the first statement, not two: the
    ping is the BEGIN the transaction needs anyway (no separate SELECT 1)."""
    url = await fresh_database("db_ping_begin")
    db = Database(url, pool_size=1, max_overflow=0)
    sent: list[str] = []
    try:
        async with db.transaction() as session:  # the pool's only connection, now pooled
            raw = await (await session.connection()).get_raw_connection()
            driver = raw.driver_connection
            assert driver is not None
            driver.add_query_logger(lambda record: sent.append(record.query.strip().rstrip(";").upper()))
        sent.clear()  # the first transaction's COMMIT
        async with db.transaction() as session:
            assert await session.scalar(text("SELECT 41 + 1")) == 42
        # Simple-protocol round trips (prepared statements are not logged): BEGIN, then COMMIT.
        assert sent == ["BEGIN", "COMMIT"], sent
        sent.clear()
        async with db.transaction() as session:  # a rolled-back transaction: BEGIN, ROLLBACK
            await session.scalar(text("SELECT 1"))
            await session.rollback()
        assert sent == ["BEGIN", "ROLLBACK"], sent
    finally:
        await db.dispose()
