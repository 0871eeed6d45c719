"""Alembic helpers: one `env.py` body for every service, and the platform tables' DDL.

Each service keeps its own migration history in its own database.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import context, op
from sqlalchemy import MetaData, pool
from sqlalchemy.dialects import postgresql
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import create_async_engine

from shared.settings import async_url


def run_migrations(database_url: str, target_metadata: Sequence[MetaData]) -> None:
    """The body of a service's `migrations/env.py`."""
    url = context.config.get_main_option("sqlalchemy.url") or database_url

    def do_run(connection: Connection) -> None:
        context.configure(connection=connection, target_metadata=list(target_metadata), compare_type=True)
        with context.begin_transaction():
            context.run_migrations()

    if context.is_offline_mode():
        context.configure(url=async_url(url), target_metadata=list(target_metadata), literal_binds=True)
        with context.begin_transaction():
            context.run_migrations()
        return

    async def run_online() -> None:
        engine = create_async_engine(async_url(url), poolclass=pool.NullPool)
        async with engine.connect() as connection:
            await connection.run_sync(do_run)
        await engine.dispose()

    asyncio.run(run_online())


def create_platform_tables_v1() -> None:
    """Outbox, inbox and idempotency keys, as every service's first migration creates them.

    Frozen: a later change to these tables is a new function called by a new migration.
    """
    op.create_table(
        "outbox",
        sa.Column("id", sa.BigInteger(), sa.Identity(always=True), primary_key=True),
        sa.Column("event_id", postgresql.UUID(as_uuid=True), nullable=False, unique=True),
        sa.Column("event_type", sa.String(100), nullable=False),
        sa.Column("topic", sa.String(120), nullable=False),
        sa.Column("key", sa.String(64), nullable=False),
        sa.Column("shard", sa.SmallInteger(), nullable=False),
        sa.Column("source", sa.String(100), nullable=False),
        sa.Column("subject", sa.String(100), nullable=True),
        sa.Column("occurred_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("payload", sa.LargeBinary(), nullable=False),
        sa.Column("headers", postgresql.JSONB(), nullable=False, server_default=sa.text("'{}'::jsonb")),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()),
        sa.Column("published_at", sa.DateTime(timezone=True), nullable=True),
    )
    op.create_index("ix_outbox_pending", "outbox", ["shard", "id"], postgresql_where=sa.text("published_at IS NULL"))
    op.create_table(
        "inbox",
        sa.Column("consumer", sa.String(100), nullable=False),
        sa.Column("event_id", postgresql.UUID(as_uuid=True), nullable=False),
        sa.Column("event_type", sa.String(100), nullable=False),
        sa.Column("received_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()),
        sa.PrimaryKeyConstraint("consumer", "event_id", name="pk_inbox"),
    )
    op.create_table(
        "idempotency_keys",
        sa.Column("scope", sa.String(100), nullable=False),
        sa.Column("key", sa.String(200), nullable=False),
        sa.Column("request_hash", sa.String(64), nullable=False),
        sa.Column("status_code", sa.Integer(), nullable=True),
        sa.Column("response_body", sa.Text(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()),
        sa.PrimaryKeyConstraint("scope", "key", name="pk_idempotency_keys"),
    )


def outbox_pending_index_by_id_v2() -> None:
    """The pending-rows index ordered by id alone, as the relay claims (`ORDER BY id LIMIT n`).

    The first index led with the shard, so a claim read, locked-tested and sorted every pending
    row before keeping n: its cost grew with the backlog, just when the relay fell behind.
    Built concurrently, so a live outbox keeps taking writes while it builds.
    """
    with op.get_context().autocommit_block():
        op.create_index(
            "ix_outbox_pending_id",
            "outbox",
            ["id"],
            postgresql_where=sa.text("published_at IS NULL"),
            postgresql_concurrently=True,
            if_not_exists=True,
        )
        op.drop_index("ix_outbox_pending", table_name="outbox", postgresql_concurrently=True, if_exists=True)


def revert_outbox_pending_index_by_id_v2() -> None:
    with op.get_context().autocommit_block():
        op.create_index(
            "ix_outbox_pending",
            "outbox",
            ["shard", "id"],
            postgresql_where=sa.text("published_at IS NULL"),
            postgresql_concurrently=True,
            if_not_exists=True,
        )
        op.drop_index("ix_outbox_pending_id", table_name="outbox", postgresql_concurrently=True, if_exists=True)


def drop_platform_tables_v1() -> None:
    op.drop_table("idempotency_keys")
    op.drop_table("inbox")
    op.drop_index("ix_outbox_pending", table_name="outbox", if_exists=True)
    op.drop_table("outbox")
