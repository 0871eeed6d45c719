"""Kafka clients configured the one way the platform uses them."""

from __future__ import annotations

import contextlib

from aiokafka import AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import TopicAlreadyExistsError

from shared.events.contracts import all_topics


def reliable_producer(bootstrap_servers: str, *, client_id: str) -> AIOKafkaProducer:
    """Idempotent producer, acks from every in-sync replica: no loss, no duplicates per session."""
    return AIOKafkaProducer(
        bootstrap_servers=bootstrap_servers,
        client_id=client_id,
        enable_idempotence=True,
        acks="all",
        linger_ms=5,
        max_batch_size=256 * 1024,
        request_timeout_ms=30000,
    )


async def ensure_topics(
    bootstrap_servers: str,
    *,
    partitions: int,
    replication_factor: int,
    topics: list[str] | None = None,
) -> list[str]:
    """Create every event topic and its `.dlq` if missing; returns the ones created."""
    wanted = topics if topics is not None else all_topics()
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap_servers, client_id="yibao-topics")
    await admin.start()
    try:
        existing = set(await admin.list_topics())
        missing = [t for t in wanted if t not in existing]
        if missing:
            # Another process may have created them first.
            with contextlib.suppress(TopicAlreadyExistsError):
                await admin.create_topics(
                    [NewTopic(t, num_partitions=partitions, replication_factor=replication_factor) for t in missing]
                )
        return missing
    finally:
        await admin.close()
