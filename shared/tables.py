"""Platform tables every service has in its own database: outbox, inbox, idempotency keys.

They are defined once here and created by each service's first migration.
"""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Column,
    DateTime,
    Identity,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    PrimaryKeyConstraint,
    SmallInteger,
    String,
    Table,
    Text,
    func,
    text,
)
from sqlalchemy.dialects.postgresql import JSONB, UUID

platform_metadata = MetaData()

# 事务性发件箱 transactional outbox: written in the same transaction as the state change.
outbox = Table(
    "outbox",
    platform_metadata,
    Column("id", BigInteger, Identity(always=True), primary_key=True),
    Column("event_id", UUID(as_uuid=True), nullable=False, unique=True),
    Column("event_type", String(100), nullable=False),
    Column("topic", String(120), nullable=False),
    Column("key", String(64), nullable=False),
    # The relay shard: rows of one key always share a shard, so one relay at a time orders them.
    Column("shard", SmallInteger, nullable=False),
    Column("source", String(100), nullable=False),
    Column("subject", String(100), nullable=True),
    Column("occurred_at", DateTime(timezone=True), nullable=False),
    Column("payload", LargeBinary, nullable=False),
    Column("headers", JSONB, nullable=False, server_default=text("'{}'::jsonb")),
    Column("created_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    # Published rows are kept (published_at set) so they can be replayed.
    Column("published_at", DateTime(timezone=True), nullable=True),
    # The relay claims pending rows in id order (shared.events.outbox._CLAIM_BATCH).
    Index("ix_outbox_pending_id", "id", postgresql_where=text("published_at IS NULL")),
)

# Inbox: one row per (consumer, event) in the same transaction as the effects.
inbox = Table(
    "inbox",
    platform_metadata,
    Column("consumer", String(100), nullable=False),
    Column("event_id", UUID(as_uuid=True), nullable=False),
    Column("event_type", String(100), nullable=False),
    Column("received_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    PrimaryKeyConstraint("consumer", "event_id", name="pk_inbox"),
)

# Idempotency keys for client writes that may be retried.
idempotency_keys = Table(
    "idempotency_keys",
    platform_metadata,
    Column("scope", String(100), nullable=False),
    Column("key", String(200), nullable=False),
    Column("request_hash", String(64), nullable=False),
    Column("status_code", Integer, nullable=True),
    Column("response_body", Text, nullable=True),
    Column("created_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    PrimaryKeyConstraint("scope", "key", name="pk_idempotency_keys"),
)
