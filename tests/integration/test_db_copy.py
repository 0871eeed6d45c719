"""shared.db.copy_records: COPY inside the session's transaction; a refusal (by the server, or a value the client
cannot encode) is CopyRefused, leaves nothing, and the transaction goes on after its savepoint rolls back."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

import pytest
from sqlalchemy import text

from shared.db import CopyRefused, Database, copy_records, copy_text, copy_text_value
from tests.integration.conftest import FreshDatabase

COLUMNS = ("event_id", "event_type", "topic", "key", "shard", "source", "occurred_at", "payload")


def _row(event_id: uuid.UUID, shard: object = 1) -> tuple[object, ...]:
    return (event_id, "test.copied", "test.copied", "k", shard, "/test", datetime.now(UTC), b"{}")


async def test_copy_writes_in_the_transaction_and_a_refusal_leaves_nothing(fresh_database: FreshDatabase) -> None:
    db = Database(await fresh_database("db_copy"))
    kept, duplicate = uuid.uuid4(), uuid.uuid4()
    try:
        async with db.transaction() as session:
            await session.execute(text("SELECT 1"))  # the transaction is begun
            await copy_records(session, "outbox", COLUMNS, [_row(kept), _row(duplicate)])
            with pytest.raises(CopyRefused, match="duplicate key"):  # the server refuses: a unique key
                async with session.begin_nested():
                    await copy_records(session, "outbox", COLUMNS, [_row(uuid.uuid4()), _row(duplicate)])
            with pytest.raises(CopyRefused):  # the client cannot encode a word as a smallint
                async with session.begin_nested():
                    await copy_records(session, "outbox", COLUMNS, [_row(uuid.uuid4()), _row(uuid.uuid4(), "x")])
            await copy_records(session, "outbox", COLUMNS, [_row(uuid.uuid4())])  # and the transaction goes on
        async with db.transaction() as session:
            stored = (await session.execute(text("SELECT event_id FROM outbox ORDER BY id"))).scalars().all()
        assert len(stored) == 3
        assert stored[:2] == [kept, duplicate]
    finally:
        await db.dispose()


async def test_copy_outside_a_begun_transaction_is_refused_before_writing(fresh_database: FreshDatabase) -> None:
    # Without the checkout ping nothing has begun a transaction on the connection yet (SQLAlchemy's
    # asyncpg adapter sends BEGIN lazily, with the first statement): COPY would autocommit, so it is refused.
    db = Database(await fresh_database("db_copy_no_tx"), pre_ping=False)
    try:
        async with db.sessions() as session:
            with pytest.raises(RuntimeError, match="transaction"):
                await copy_records(session, "outbox", COLUMNS, [_row(uuid.uuid4())])
        async with db.transaction() as session:
            assert await session.scalar(text("SELECT count(*) FROM outbox")) == 0
    finally:
        await db.dispose()


async def test_copy_in_a_session_never_committed_leaves_nothing(fresh_database: FreshDatabase) -> None:
    # With the checkout ping the connection's transaction has begun (the ping is its BEGIN), so COPY
    # runs inside it, and a session closed without commit rolls it back.
    db = Database(await fresh_database("db_copy_uncommitted"))
    try:
        async with db.sessions() as session:
            await copy_records(session, "outbox", COLUMNS, [_row(uuid.uuid4())])
            assert await session.scalar(text("SELECT count(*) FROM outbox")) == 1
        async with db.transaction() as session:
            assert await session.scalar(text("SELECT count(*) FROM outbox")) == 0
    finally:
        await db.dispose()


async def test_copy_text_stores_escaped_strings_and_nulls_and_a_refusal_leaves_nothing(
    fresh_database: FreshDatabase,
) -> None:
    """shared.db.copy_text: the text format's escapes (copy_text_value) read back as written; a value the column's
    input function refuses is CopyRefused, leaves nothing, and the transaction goes on."""
    db = Database(await fresh_database("db_copy_text"))
    odd = "tab\there, line\nbreak, cr\r, back\\slash, \\N, 晋江"
    columns = ("event_id", "event_type", "topic", "key", "shard", "source", "subject", "occurred_at", "payload")

    def line(event_id: uuid.UUID, shard: str = "1", subject: str | None = None) -> str:
        fields = [str(event_id), "test.copied", "test.copied", copy_text_value(odd), shard, "/test"]
        return "\t".join([*fields, copy_text_value(subject), "2026-11-24T03:04:05.000600+00:00", "\\\\x7b7d"]) + "\n"

    kept = uuid.uuid4()
    try:
        async with db.transaction() as session:
            await session.execute(text("SELECT 1"))
            await copy_text(session, "outbox", columns, [line(kept, subject=odd), line(uuid.uuid4())])
            with pytest.raises(CopyRefused, match="smallint"):  # the server's input function refuses a word
                async with session.begin_nested():
                    await copy_text(session, "outbox", columns, [line(uuid.uuid4()), line(uuid.uuid4(), shard="x")])
            await copy_text(session, "outbox", columns, [line(uuid.uuid4())])
        async with db.transaction() as session:
            stored = (
                await session.execute(text("SELECT event_id, key, subject, payload FROM outbox ORDER BY id"))
            ).all()
        assert len(stored) == 3
        assert tuple(stored[0]) == (kept, odd, odd, b"{}")
        assert stored[1].subject is None
    finally:
        await db.dispose()
