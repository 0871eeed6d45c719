"""`Database.reading()`: no checkout ping, yet a pooled connection the server dropped never fails
a read: the statement runs once more on a new connection (decision 0009)."""

from __future__ import annotations

import asyncpg
import pytest
from sqlalchemy import event, text
from sqlalchemy.exc import ProgrammingError

from shared.db import Database
from shared.settings import plain_url
from tests.integration.conftest import FreshDatabase


async def _terminate(url: str, pid: int) -> None:
    admin = await asyncpg.connect(plain_url(url))
    try:
        assert await admin.fetchval("SELECT pg_terminate_backend($1)", pid) is True
    finally:
        await admin.close()


async def test_a_dropped_connection_is_replaced_by_a_retry_not_a_ping(fresh_database: FreshDatabase) -> None:
    url = await fresh_database("db_read_only")
    db = Database(url, pool_size=1, max_overflow=0)
    checkouts = 0

    def count(*args: object) -> None:
        nonlocal checkouts
        checkouts += 1

    event.listen(db.reader_engine.sync_engine.pool, "checkout", count)
    try:
        async with db.reading() as session:
            first_pid = await session.scalar(text("SELECT pg_backend_pid()"))
        assert checkouts == 1
        await _terminate(url, first_pid)
        # The only pooled connection is dead: the first statement fails on it and runs again on a new one.
        async with db.reading() as session:
            second_pid = await session.scalar(text("SELECT pg_backend_pid()"))
            assert second_pid != first_pid
        assert checkouts == 3  # the dead connection, then its replacement: no ping in between
        await _terminate(url, second_pid)
        async with db.reading() as session:
            rows = (await session.execute(text("SELECT pg_backend_pid()"))).scalars().all()
        assert len(rows) == 1
        assert rows[0] not in (first_pid, second_pid)
    finally:
        event.remove(db.reader_engine.sync_engine.pool, "checkout", count)
        await db.dispose()


async def test_an_error_that_is_not_a_dropped_connection_is_not_retried(fresh_database: FreshDatabase) -> None:
    url = await fresh_database("db_read_only_errors")
    db = Database(url, pool_size=1, max_overflow=0)
    statements: list[str] = []

    def count(conn: object, cursor: object, statement: str, *args: object) -> None:
        statements.append(statement)

    event.listen(db.reader_engine.sync_engine, "before_cursor_execute", count)
    try:
        with pytest.raises(ProgrammingError):
            async with db.reading() as session:
                await session.execute(text("SELECT no_such_column FROM pg_class"))
        assert len(statements) == 1
    finally:
        event.remove(db.reader_engine.sync_engine, "before_cursor_execute", count)
        await db.dispose()
