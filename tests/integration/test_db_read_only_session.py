"""`Database.reading()`: no checkout ping, yet a pooled connection the server dropped never fails
a read: the statement runs once more on a new connection (decision 0009)."""

from __future__ import annotations

import asyncio

import asyncpg
import pytest
from sqlalchemy import event, text
from sqlalchemy.exc import ProgrammingError
from sqlalchemy.exc import TimeoutError as PoolTimeout

from shared.db import Database, fetch_row
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


async def test_fetch_row_on_a_dropped_connection_runs_again_on_a_new_one(fresh_database: FreshDatabase) -> None:
    """`fetch_row` on a reading session goes to a plain asyncpg pool, past SQLAlchemy: the same
    retry holds, and only a dropped connection is retried."""
    url = await fresh_database("db_read_only_fetch_row")
    db = Database(url, pool_size=1, max_overflow=0)
    try:
        async with db.reading() as session:
            first = await fetch_row(session, "SELECT pg_backend_pid() AS pid, $1::int + 1 AS next", 41)
        assert first is not None
        assert first["next"] == 42
        await _terminate(url, first["pid"])
        async with db.reading() as session:
            second = await fetch_row(session, "SELECT pg_backend_pid() AS pid")
        assert second is not None
        assert second["pid"] != first["pid"]
        # Not a dropped connection: raised as it is, and the pooled connection stays usable.
        async with db.reading() as session:
            with pytest.raises(asyncpg.UndefinedColumnError):
                await fetch_row(session, "SELECT no_such_column FROM pg_class")
        async with db.reading() as session:
            third = await fetch_row(session, "SELECT pg_backend_pid() AS pid")
        assert third is not None
        assert third["pid"] == second["pid"]
    finally:
        await db.dispose()


async def test_fetch_row_in_a_transaction_runs_on_the_sessions_connection(fresh_database: FreshDatabase) -> None:
    """Outside `reading()`, `fetch_row` runs in the session's own transaction (it sees that
    transaction's uncommitted writes) through SQLAlchemy, whose engine events see it; on a reading
    session the statement is told to `listen_plain_statements` listeners instead."""
    url = await fresh_database("db_fetch_row_transaction")
    db = Database(url, pool_size=1, max_overflow=0)
    engine_statements: list[str] = []
    plain_statements: list[str] = []

    def count(conn: object, cursor: object, statement: str, *args: object) -> None:
        engine_statements.append(statement)

    event.listen(db.engine.sync_engine, "before_cursor_execute", count)
    stop_listening = db.listen_plain_statements(plain_statements.append)
    try:
        async with db.transaction() as session:
            await session.execute(text("CREATE TEMPORARY TABLE seen (n int)"))
            await session.execute(text("INSERT INTO seen VALUES (7)"))
            row = await fetch_row(session, "SELECT sum(n) + $1::int AS total FROM seen", 1)
            assert row is not None
            assert row["total"] == 8
        assert engine_statements[-1] == "SELECT sum(n) + $1::int AS total FROM seen"
        assert plain_statements == []
        async with db.reading() as session:
            assert await fetch_row(session, "SELECT 1 AS one WHERE false") is None
        assert plain_statements == ["SELECT 1 AS one WHERE false"]
    finally:
        stop_listening()
        event.remove(db.engine.sync_engine, "before_cursor_execute", count)
        await db.dispose()


async def test_fetch_row_with_every_plain_connection_busy_is_database_busy(fresh_database: FreshDatabase) -> None:
    """The plain pool waits `pool_timeout_s` for a connection, then raises what the engines' pools
    raise (SQLAlchemy's TimeoutError: the 503 database-busy problem), not asyncpg's own timeout."""
    url = await fresh_database("db_fetch_row_busy")
    db = Database(url, pool_size=1, max_overflow=0, pool_timeout_s=0.2)
    try:
        async with db.reading() as holder, db.reading() as waiter:
            slow = asyncio.create_task(fetch_row(holder, "SELECT pg_sleep(1.5)"))
            await asyncio.sleep(0.3)  # the slow statement holds the only connection
            with pytest.raises(PoolTimeout):
                await fetch_row(waiter, "SELECT 1")
            await slow
            assert await fetch_row(waiter, "SELECT 2 AS two") is not None
    finally:
        await db.dispose()
