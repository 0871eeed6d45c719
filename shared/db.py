"""Async SQLAlchemy 2 on asyncpg. The request or handler boundary owns the transaction."""

from __future__ import annotations

import asyncio
import io
import re
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Sequence
from contextlib import asynccontextmanager
from typing import Annotated, Any, Protocol

import asyncpg
from asyncpg.pool import PoolConnectionProxy
from fastapi import Depends, Request
from sqlalchemy import event, text
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.exc import DBAPIError, DisconnectionError
from sqlalchemy.exc import TimeoutError as PoolTimeout
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker, create_async_engine
from sqlalchemy.util import await_only

from shared.settings import async_url, plain_url


class RowByName(Protocol):
    """A row whose columns are read by name: an asyncpg Record or a SQLAlchemy RowMapping."""

    def __getitem__(self, name: str, /) -> Any: ...


class Database:
    def __init__(
        self,
        url: str,
        *,
        pool_size: int = 10,
        max_overflow: int = 10,
        pre_ping: bool = True,
        pool_timeout_s: float = 30.0,
    ) -> None:
        """`pre_ping` tests each connection as it leaves the pool, so a request never fails on a
        connection the server dropped. Loops that retry anyway (the relay, the consumers) turn
        it off and let a failed batch replace the connection."""
        self.engine: AsyncEngine = create_async_engine(
            async_url(url),
            pool_size=pool_size,
            max_overflow=max_overflow,
            pool_pre_ping=False,
            pool_timeout=pool_timeout_s,
        )
        if pre_ping:
            event.listen(self.engine.sync_engine.pool, "checkout", _ping_on_checkout)
        self.sessions = async_sessionmaker(self.engine, expire_on_commit=False)
        # Read-only sessions get a pool of their own: autocommit (asyncpg sends no BEGIN and no
        # COMMIT) and no checkout ping; a statement on a dropped connection is retried instead.
        self.reader_engine: AsyncEngine = create_async_engine(
            async_url(url),
            pool_size=pool_size,
            max_overflow=max_overflow,
            pool_timeout=pool_timeout_s,
            isolation_level="AUTOCOMMIT",
        )
        self.readers = async_sessionmaker(
            self.reader_engine, class_=ReadOnlySession, expire_on_commit=False, info={"database": self}
        )
        # Hot one-statement reads (`fetch_row` on a reading session) go past SQLAlchemy to a pool
        # of plain asyncpg connections, opened on first use.
        self._plain_url = plain_url(url)
        self._plain_pool_size = pool_size + max_overflow
        self._pool_timeout_s = pool_timeout_s
        self._plain_pool: asyncpg.Pool | None = None
        self._plain_pool_opening = asyncio.Lock()
        self._plain_statement_listeners: list[Callable[[str], None]] = []

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[AsyncSession]:
        """One unit of work: commits when the block ends, rolls back when it raises."""
        async with self.sessions() as session, session.begin():
            yield session

    @asynccontextmanager
    async def reading(self) -> AsyncIterator[AsyncSession]:
        """A read-only unit of work without a transaction: each statement sees its own snapshot, so
        it suits a request that reads everything it needs in one statement. Never write through it
        (each write would commit on its own). Its connections are not pinged on checkout (one
        round trip a request less): a statement whose connection the server dropped runs once
        more on a new one (`ReadOnlySession`), so a request still never fails on a dead one."""
        async with self.readers() as session:
            yield session

    async def fetch_row(self, sql: str, *args: Any) -> asyncpg.Record | None:
        """The first row of one read statement (`$1`-style parameters) on a pooled plain asyncpg
        connection, outside a transaction (see `fetch_row`). A statement whose connection the
        server dropped runs once more on another; a pool with every connection busy for
        `pool_timeout_s` raises SQLAlchemy's pool TimeoutError (503 database-busy), as the
        engines' pools do."""
        pool = self._plain_pool or await self._open_plain_pool()
        for listener in self._plain_statement_listeners:
            listener(sql)
        for attempt in (1, 2):
            connection = await self._acquire(pool)
            try:
                return await connection.fetchrow(sql, *args)
            except Exception:
                if attempt == 2 or not connection.is_closed():
                    raise
            finally:
                await pool.release(connection)
        raise AssertionError("unreachable")

    def listen_plain_statements(self, listener: Callable[[str], None]) -> Callable[[], None]:
        """Call `listener` with each statement `fetch_row` or a `plain_transaction` sends past
        SQLAlchemy (whose engine events do not see them): for tests and benches that count
        statements. Returns the remover."""
        self._plain_statement_listeners.append(listener)
        return lambda: self._plain_statement_listeners.remove(listener)

    @asynccontextmanager
    async def plain_transaction(self) -> AsyncIterator[PlainTransaction]:
        """One unit of work on a plain asyncpg connection (the `fetch_row` pool), past SQLAlchemy:
        BEGIN, then COMMIT when the block ends, ROLLBACK when it raises (decision 0022).

        For a hot write route whose every statement is plain SQL text (settlement's POST
        /settlements): SQLAlchemy's session, pool checkout and greenlet hops cost several hundred
        µs of CPU a transaction, more than asyncpg's own BEGIN, statements and COMMIT. As with the
        checkout ping, the BEGIN tests the connection: one the server dropped is discarded and the
        BEGIN sent once more on another, so a request never fails on a dead pooled connection. A
        pool with every connection busy for `pool_timeout_s` raises SQLAlchemy's pool
        TimeoutError (503 database-busy), as the engines' pools do."""
        pool = self._plain_pool or await self._open_plain_pool()
        # Begun on the first statement, as a session checks out on first use: a request refused
        # before it reads anything (a bad token, an invalid body) takes no connection.
        transaction = PlainTransaction(lambda: self._begun(pool), self._plain_statement_listeners)
        try:
            try:
                yield transaction
            except BaseException:
                if transaction.connection is not None:  # the block's own error is the one raised
                    await _end_or_drop(transaction.connection, "ROLLBACK")
                raise
            if transaction.connection is not None:
                try:
                    await transaction.connection.execute("COMMIT")
                except BaseException:
                    # COMMIT failed (a lost connection, a cancelled request): nothing was committed.
                    await _end_or_drop(transaction.connection, "ROLLBACK")
                    raise
        finally:
            if transaction.connection is not None:
                await pool.release(transaction.connection)

    async def _begun(self, pool: asyncpg.Pool) -> PoolConnectionProxy[asyncpg.Record]:
        for attempt in (1, 2):
            connection = await self._acquire(pool)
            try:
                await connection.execute("BEGIN")
            except BaseException as exc:
                dropped = connection.is_closed()  # by the server: the case the retry is for
                if not dropped:
                    connection.terminate()  # it may be inside a transaction now; never pool that
                await pool.release(connection)  # a closed one is discarded by the pool
                if attempt == 2 or not dropped or not isinstance(exc, Exception):
                    raise
            else:
                return connection
        raise AssertionError("unreachable")

    async def _acquire(self, pool: asyncpg.Pool) -> PoolConnectionProxy[asyncpg.Record]:
        """A plain connection, or SQLAlchemy's pool TimeoutError (503 database-busy) as the engines'
        pools raise it when every connection stays busy for `pool_timeout_s`."""
        try:
            connection: PoolConnectionProxy[asyncpg.Record] = await pool.acquire(timeout=self._pool_timeout_s)
        except TimeoutError as exc:
            raise PoolTimeout(f"no free connection within {self._pool_timeout_s}s") from exc
        return connection

    async def _open_plain_pool(self) -> asyncpg.Pool:
        async with self._plain_pool_opening:
            if self._plain_pool is None:
                self._plain_pool = await asyncpg.create_pool(
                    self._plain_url,
                    min_size=1,
                    max_size=self._plain_pool_size,
                    # Only autocommit reads run here: no session state to reset on release (the
                    # default reset is a round trip per release).
                    reset=_nothing_to_reset,
                )
            return self._plain_pool

    async def ping(self) -> None:
        async with self.engine.connect() as conn:
            await conn.execute(text("SELECT 1"))

    async def dispose(self) -> None:
        await self.engine.dispose()
        await self.reader_engine.dispose()
        if self._plain_pool is not None:
            await self._plain_pool.close()
            self._plain_pool = None


async def _nothing_to_reset(connection: asyncpg.Connection) -> None:
    return None


async def fetch_row(session: AsyncSession, sql: str, *args: Any) -> RowByName | None:
    """The first row of one statement, with asyncpg's own `$1`-style parameters, as a mapping.

    On a reading session (`Database.reading()`) it goes past SQLAlchemy to a plain asyncpg pool:
    for a hot read that fetches everything in one statement (a precheck's history view), the
    session, its pool checkout and SQLAlchemy's execute path cost several times the statement's
    own send and decode (about 0.6 ms of CPU against 0.14 ms, measured). Asyncpg prepares it once
    per connection. No JSON codecs there: a json column comes back as text. Other sessions run it
    on their own connection, in their transaction, through `exec_driver_sql` (engine events see it)."""
    database = session.info.get("database") if isinstance(session, ReadOnlySession) else None
    if isinstance(database, Database):
        return await database.fetch_row(sql, *args)
    connection = await session.connection()
    row = (await connection.exec_driver_sql(sql, args)).first()
    return None if row is None else row._mapping


class PositionalStatement:
    """A statement written with SQLAlchemy-style `:name` parameters, turned once (at import) into
    asyncpg's `$1`-style text and the order of its names, for a `PlainTransaction`.

    The same name stands for the same `$n` wherever it appears. Quoted literals are left alone, and
    `::` casts and `HH24:MI`-like text never start a name (the colon must not follow a word character
    or another colon)."""

    _NAME = re.compile(r"(?<![:\w]):([A-Za-z_]\w*)")
    _LITERAL = re.compile(r"('(?:[^']|'')*')")

    def __init__(self, sql: str) -> None:
        self.names: tuple[str, ...] = ()
        numbers: dict[str, int] = {}

        def number(match: re.Match[str]) -> str:
            name = match.group(1)
            if name not in numbers:
                numbers[name] = len(numbers) + 1
            return f"${numbers[name]}"

        parts = self._LITERAL.split(sql)
        self.sql = "".join(part if n % 2 else self._NAME.sub(number, part) for n, part in enumerate(parts))
        self.names = tuple(numbers)

    def arguments(self, params: dict[str, Any]) -> list[Any]:
        """The values in `$n` order; a missing name raises KeyError, an unused one is refused too."""
        unused = params.keys() - set(self.names)
        if unused:
            raise ValueError(f"parameters the statement does not use: {sorted(unused)}")
        return [params[name] for name in self.names]


class PlainTransaction:
    """The statements of one `Database.plain_transaction`, on one asyncpg connection, taken from the
    pool and begun at the first statement. Statements are PositionalStatements (asyncpg prepares
    each once per connection); `listen_plain_statements` listeners see each. Rows come as asyncpg
    Records; no JSON codecs here (json comes as text)."""

    __slots__ = ("_begin", "_listeners", "connection")

    def __init__(
        self,
        begin: Callable[[], Awaitable[PoolConnectionProxy[asyncpg.Record]]],
        listeners: list[Callable[[str], None]],
    ) -> None:
        self._begin = begin
        self._listeners = listeners
        self.connection: PoolConnectionProxy[asyncpg.Record] | None = None  # until the first statement

    async def _begun(self, statement: PositionalStatement) -> PoolConnectionProxy[asyncpg.Record]:
        for listener in self._listeners:
            listener(statement.sql)
        if self.connection is None:
            self.connection = await self._begin()
        return self.connection

    async def fetchrow(self, statement: PositionalStatement, params: dict[str, Any]) -> asyncpg.Record | None:
        connection = await self._begun(statement)
        return await connection.fetchrow(statement.sql, *statement.arguments(params))

    async def fetch(self, statement: PositionalStatement, params: dict[str, Any]) -> list[asyncpg.Record]:
        connection = await self._begun(statement)
        rows: list[asyncpg.Record] = await connection.fetch(statement.sql, *statement.arguments(params))
        return rows


async def _end_or_drop(connection: PoolConnectionProxy[asyncpg.Record], command: str) -> None:
    """End the connection's transaction, or close the connection if it cannot (a query still in
    flight, a lost connection): the pool resets nothing on release, so a connection never goes
    back to it inside a transaction. Called while an error propagates, so it raises nothing."""
    if connection.is_closed():
        return
    try:
        await connection.execute(command)
    except BaseException:
        connection.terminate()


class ReadOnlySession(AsyncSession):
    """The session of `Database.reading()`. A statement that finds its pooled connection dropped
    by the server (SQLAlchemy then invalidates it) runs once more on a fresh connection: safe
    only because every statement here is a read that stands alone (autocommit, no transaction).
    `execute`, `scalars` (through execute) and `scalar` retry; other methods do not."""

    async def execute(self, *args: Any, **kwargs: Any) -> Any:
        return await self._once_more_if_dropped(lambda: super(ReadOnlySession, self).execute(*args, **kwargs))

    async def scalar(self, *args: Any, **kwargs: Any) -> Any:
        return await self._once_more_if_dropped(lambda: super(ReadOnlySession, self).scalar(*args, **kwargs))

    async def _once_more_if_dropped(self, run: Callable[[], Awaitable[Any]]) -> Any:
        try:
            return await run()
        except DBAPIError as exc:
            if not exc.connection_invalidated:
                raise
            await self.rollback()  # lets the invalidated connection go
            return await run()


def _ping_on_checkout(dbapi_connection: Any, connection_record: Any, connection_proxy: Any) -> None:
    """Test a connection as it leaves the pool, in one round trip: the BEGIN of its transaction.

    Every use of a checked-out connection is a transaction (SQLAlchemy begins one on first use,
    and the asyncpg adapter sends that BEGIN as a round trip of its own), so the ping *is* that
    BEGIN, sent here, where a failure still lets the pool replace the connection; the first
    statement then finds the transaction open. A request pays one round trip for both, where a
    separate `SELECT 1` cost two (SQLAlchemy's own asyncpg pre-ping costs three: BEGIN, `;`,
    ROLLBACK, for PgBouncer's transaction mode, which we do not use). Where that cannot apply (an
    autocommit connection, one already in a transaction, another driver) it sends `SELECT 1`.
    A connection that cannot answer (closed, or its backend terminated, which surfaces as the
    server's FATAL error) raises DisconnectionError: the pool discards it and checks out another
    (SQLAlchemy's documented pessimistic disconnect handling)."""
    try:
        if _begins_lazily(dbapi_connection):
            await_only(dbapi_connection._start_transaction())
        else:
            await_only(dbapi_connection.driver_connection.execute("SELECT 1"))
    except Exception as exc:
        raise DisconnectionError(str(exc)) from exc


def _begins_lazily(dbapi_connection: Any) -> bool:
    """SQLAlchemy's asyncpg adapter, idle, that would send BEGIN itself before the first statement
    (its private `_started` and `_start_transaction`, SQLAlchemy 2.0; anything else gets SELECT 1)."""
    return (
        getattr(dbapi_connection, "_started", None) is False
        and callable(getattr(dbapi_connection, "_start_transaction", None))
        and getattr(dbapi_connection, "isolation_level", None) != "autocommit"
    )


async def upsert(session: AsyncSession, model: type[Any], key: str, values: dict[str, Any]) -> None:
    """Insert a row, or update every given column of the row with the same `key` (projections)."""
    statement = insert(model).values(**values)
    await session.execute(
        statement.on_conflict_do_update(
            index_elements=[key], set_={k: statement.excluded[k] for k in values if k != key}
        )
    )


async def _request_transaction(request: Request) -> AsyncIterator[AsyncSession]:
    db: Database = request.app.state.db
    async with db.transaction() as session:
        yield session


async def _request_read(request: Request) -> AsyncIterator[AsyncSession]:
    db: Database = request.app.state.db
    async with db.reading() as session:
        yield session


async def _request_plain_transaction(request: Request) -> AsyncIterator[PlainTransaction]:
    db: Database = request.app.state.db
    async with db.plain_transaction() as transaction:
        yield transaction


# Routes take `session: DbSession`; the commit happens when the route returns, before the
# response is sent (scope="function"), so a client never sees success for a lost write.
DbSession = Annotated[AsyncSession, Depends(_request_transaction, scope="function")]

# A route whose every statement is a PositionalStatement may take `transaction: PlainTransactionDep`:
# the same boundary (commit when the route returns, rollback if it raises) on a plain asyncpg
# connection, with no SQLAlchemy session at all (Database.plain_transaction, decision 0022).
PlainTransactionDep = Annotated[PlainTransaction, Depends(_request_plain_transaction, scope="function")]

# A read-only route whose reads are one statement (or need no common snapshot) takes
# `session: ReadSession`: the same pooled connections, no BEGIN/COMMIT (Database.reading).
ReadSession = Annotated[AsyncSession, Depends(_request_read, scope="function")]


class CopyRefused(Exception):
    """The database refused a COPY (a constraint, a value it will not take); the transaction or savepoint it ran in
    must be rolled back, as after any failed statement."""


async def copy_records(
    session: AsyncSession, table: str, columns: Sequence[str], records: Iterable[Sequence[Any]]
) -> None:
    """COPY records into a table on the session's connection, inside its open transaction.

    For bulk writes (a batch import): the rows travel in PostgreSQL's binary COPY format, each value through its
    column's codec, with no statement to parse and no parameter arrays to build and unpack on either side. COPY
    checks constraints and fires the foreign-key triggers as INSERT does. It bypasses SQLAlchemy: the caller must
    already have run a statement in the transaction (so COPY is never autocommitted by itself).
    """
    connection = await session.connection()
    raw = (await connection.get_raw_connection()).driver_connection
    if raw is None or not raw.is_in_transaction():
        raise RuntimeError("copy_records needs a transaction already begun on the session's connection")
    try:
        await raw.copy_records_to_table(table, records=records, columns=list(columns))
    except (asyncpg.PostgresError, ValueError, TypeError, ArithmeticError) as refused:
        # The server's refusal, or a value asyncpg cannot encode for its column (its codecs raise DataError, a
        # ValueError, TypeError or OverflowError): either way the COPY is aborted and nothing of it stays.
        raise CopyRefused(str(refused)) from refused


# COPY's text format: a backslash, tab, newline or carriage return inside a value is written escaped; \N is NULL.
_COPY_TEXT_ESCAPES = str.maketrans({"\\": "\\\\", "\t": "\\t", "\n": "\\n", "\r": "\\r"})
_NEEDS_COPY_ESCAPE = re.compile(r"[\\\t\n\r]").search


def copy_text_value(value: str | None) -> str:
    """A string (or NULL) as one field of a COPY text line."""
    if value is None:
        return "\\N"
    return value.translate(_COPY_TEXT_ESCAPES) if _NEEDS_COPY_ESCAPE(value) else value


async def copy_text(session: AsyncSession, table: str, columns: Sequence[str], lines: Sequence[str]) -> None:
    """COPY lines in PostgreSQL's text format (fields tab-separated, each line ending in a newline, strings through
    copy_text_value) into a table, on the session's connection inside its open transaction, as copy_records.

    For rows whose values a caller can write as text far cheaper than asyncpg encodes them one by one (numeric
    columns: asyncpg's binary Decimal encoder costs about 2 µs a value; a chunk's amounts repeat and are formatted
    once). PostgreSQL parses each field with the column type's own input function, so a value it will not take
    is refused as with INSERT.
    """
    connection = await session.connection()
    raw = (await connection.get_raw_connection()).driver_connection
    if raw is None or not raw.is_in_transaction():
        raise RuntimeError("copy_text needs a transaction already begun on the session's connection")
    try:
        await raw.copy_to_table(table, source=io.BytesIO("".join(lines).encode()), columns=list(columns), format="text")
    except (asyncpg.PostgresError, ValueError, TypeError) as refused:
        raise CopyRefused(str(refused)) from refused
