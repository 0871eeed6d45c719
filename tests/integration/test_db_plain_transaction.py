"""Database.plain_transaction: a route's transaction on a plain asyncpg connection (decision 0022)."""

from __future__ import annotations

import asyncio

import asyncpg
import pytest

from shared.db import Database, PositionalStatement
from shared.settings import plain_url
from tests.integration.conftest import FreshDatabase

_INSERT = PositionalStatement("INSERT INTO notes (body) VALUES (:body) RETURNING id")
_COUNT = PositionalStatement("SELECT count(*) AS n FROM notes WHERE body = :body")
_SLEEP = PositionalStatement("SELECT pg_sleep(5)")
_PID = PositionalStatement("SELECT pg_backend_pid() AS pid, now() = statement_timestamp() AS fresh_transaction")


async def _database(fresh_database: FreshDatabase, name: str) -> tuple[str, Database]:
    url = await fresh_database(name)
    admin = await asyncpg.connect(plain_url(url))
    try:
        await admin.execute("CREATE TABLE notes (id serial PRIMARY KEY, body text NOT NULL CHECK (body <> 'bad'))")
    finally:
        await admin.close()
    return url, Database(url, pool_size=1, max_overflow=0)


async def _write_then_refuse(db: Database) -> None:
    async with db.plain_transaction() as transaction:
        await transaction.fetchrow(_INSERT, {"body": "dropped"})
        raise RuntimeError("refused after a write")


async def _write_then_fail(db: Database) -> None:
    async with db.plain_transaction() as transaction:
        await transaction.fetchrow(_INSERT, {"body": "dropped"})
        await transaction.fetchrow(_INSERT, {"body": "bad"})


async def _write_then_time_out(db: Database) -> None:
    async with db.plain_transaction() as transaction:
        await transaction.fetchrow(_INSERT, {"body": "dropped"})
        async with asyncio.timeout(0.2):
            await transaction.fetchrow(_SLEEP, {})


async def test_the_block_commits_and_a_raise_rolls_everything_back(fresh_database: FreshDatabase) -> None:
    _, db = await _database(fresh_database, "plain_tx_commit")
    try:
        async with db.plain_transaction() as transaction:
            await transaction.fetchrow(_INSERT, {"body": "kept"})
            await transaction.fetchrow(_INSERT, {"body": "kept"})
        with pytest.raises(RuntimeError, match="refused"):
            await _write_then_refuse(db)
        # A failed statement aborts the transaction; the block's raise rolls it back, and the
        # connection goes back to the pool outside any transaction (the next block works).
        with pytest.raises(asyncpg.CheckViolationError):
            await _write_then_fail(db)
        # Cancelled with a statement still in flight: the connection cannot take a ROLLBACK, so it
        # is closed (never pooled inside a transaction), and the timeout is what the caller sees.
        with pytest.raises(TimeoutError):
            await _write_then_time_out(db)
        async with db.plain_transaction() as transaction:
            kept = await transaction.fetchrow(_COUNT, {"body": "kept"})
            dropped = await transaction.fetchrow(_COUNT, {"body": "dropped"})
        assert kept is not None
        assert kept["n"] == 2
        assert dropped is not None
        assert dropped["n"] == 0
    finally:
        await db.dispose()


async def test_every_block_is_one_transaction(fresh_database: FreshDatabase) -> None:
    """Two statements of a block share the transaction's start (now()); a statement alone would not."""
    _, db = await _database(fresh_database, "plain_tx_one")
    try:
        async with db.plain_transaction() as transaction:
            await transaction.fetchrow(_PID, {})
            later = await transaction.fetchrow(_PID, {})
        assert later is not None
        assert later["fresh_transaction"] is False
    finally:
        await db.dispose()


async def test_a_dropped_pooled_connection_is_replaced_at_begin(fresh_database: FreshDatabase) -> None:
    url, db = await _database(fresh_database, "plain_tx_drop")
    try:
        async with db.plain_transaction() as transaction:
            first = await transaction.fetchrow(_PID, {})
        assert first is not None
        admin = await asyncpg.connect(plain_url(url))
        try:
            assert await admin.fetchval("SELECT pg_terminate_backend($1)", first["pid"]) is True
        finally:
            await admin.close()
        # The pool's only connection is dead; the block still runs, on a new one.
        async with db.plain_transaction() as transaction:
            second = await transaction.fetchrow(_PID, {})
            await transaction.fetchrow(_INSERT, {"body": "after the drop"})
        assert second is not None
        assert second["pid"] != first["pid"]
    finally:
        await db.dispose()


async def test_statements_are_told_to_plain_statement_listeners(fresh_database: FreshDatabase) -> None:
    _, db = await _database(fresh_database, "plain_tx_listen")
    seen: list[str] = []
    stop = db.listen_plain_statements(seen.append)
    try:
        async with db.plain_transaction() as transaction:
            await transaction.fetch(_COUNT, {"body": "x"})
        assert seen == [_COUNT.sql]
    finally:
        stop()
        await db.dispose()


async def test_a_block_without_statements_takes_no_connection(fresh_database: FreshDatabase) -> None:
    """Begun at the first statement: a route refused before it reads (a bad token, an invalid body)
    costs the database nothing. With a pool of one, a block holding the only connection would make
    the inner block wait for it until the pool timeout."""
    url = await fresh_database("plain_tx_lazy")
    db = Database(url, pool_size=1, max_overflow=0, pool_timeout_s=1.0)
    try:
        async with db.plain_transaction() as idle:
            async with db.plain_transaction() as busy:
                assert await busy.fetchrow(_PID, {}) is not None
            assert idle.connection is None
        with pytest.raises(RuntimeError, match="refused"):
            await _refuse_before_reading(db)
        async with db.plain_transaction() as transaction:
            assert await transaction.fetchrow(_PID, {}) is not None
    finally:
        await db.dispose()


async def _refuse_before_reading(db: Database) -> None:
    async with db.plain_transaction():
        raise RuntimeError("refused before reading")
