"""A crash harness: a relay or a consumer in its own process, to be killed with SIGKILL.

Run as `python -m tests.integration.harness consume|relay ...`. The consumer's effect is a
counter per event (`effects.count + 1`), deliberately not idempotent by itself, so only the
inbox can keep it at exactly one.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import signal
from collections.abc import Mapping
from pathlib import Path
from typing import ClassVar

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from shared.db import Database
from shared.events.consumer import AnyHandler, ConsumerRunner
from shared.events.contracts import EVENT_TYPES, EventPayload, register
from shared.events.envelope import Event
from shared.events.kafka import reliable_producer
from shared.events.outbox import OutboxRelay


class HarnessTick(EventPayload):
    """Test-only event: a sequence number under a key."""

    event_type: ClassVar[str] = "harness.tick"
    publisher: ClassVar[str] = "tests"
    key_field: ClassVar[str] = "partition_key"

    partition_key: str
    seq: int


if HarnessTick.event_type not in EVENT_TYPES:
    register(HarnessTick)

EFFECTS_DDL = "CREATE TABLE IF NOT EXISTS effects (seq integer PRIMARY KEY, count integer NOT NULL)"


async def count_effect(session: AsyncSession, event: Event) -> None:
    payload = event.payload
    assert isinstance(payload, HarnessTick)
    await session.execute(
        text(
            "INSERT INTO effects (seq, count) VALUES (:seq, 1) "
            "ON CONFLICT (seq) DO UPDATE SET count = effects.count + 1"
        ),
        {"seq": payload.seq},
    )
    await asyncio.sleep(0.0005)  # slow enough that a kill lands mid-stream


def _handlers(which: str) -> Mapping[str, AnyHandler]:
    """The harness's counting handler, or a real service's handlers (their effects must be exactly once too)."""
    if which == "supervision":
        from services.supervision.handlers import HANDLERS

        return HANDLERS
    return {HarnessTick.event_type: count_effect}


async def consume(args: argparse.Namespace) -> None:
    db = Database(args.db, pool_size=2)
    runner = ConsumerRunner(
        name=args.group,
        db=db,
        bootstrap_servers=args.bootstrap,
        handlers=_handlers(args.handlers),
        topics=[args.topic],
        batch_size=args.batch,
    )
    fetched_log = open(args.fetched_log, "a", buffering=1)  # noqa: SIM115 - line-buffered tally
    original = runner.process_records

    async def tally(records):  # type: ignore[no-untyped-def]
        fetched_log.write(f"{len(records)}\n")
        await original(records)

    runner.process_records = tally  # type: ignore[method-assign]
    if args.commit_delay_ms:
        # Widen the window between the database commit and the offset commit, as a slow broker
        # would, so a kill there (a batch applied but not acknowledged) is likely, not rare.
        kafka_commit = runner.consumer.commit

        async def slow_commit(offsets=None):  # type: ignore[no-untyped-def]
            await asyncio.sleep(args.commit_delay_ms / 1000)
            await kafka_commit(offsets)

        runner.consumer.commit = slow_commit
    stop = asyncio.Event()
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stop.set)
    if args.ready_file:  # from here on SIGTERM means a clean stop, not death by signal
        Path(args.ready_file).write_text("ready")
    await runner.run(stop)
    await db.dispose()


async def relay(args: argparse.Namespace) -> None:
    db = Database(args.db, pool_size=2)
    producer = reliable_producer(args.bootstrap, client_id=f"harness-relay-{os.getpid()}")
    await producer.start()
    stop = asyncio.Event()
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stop.set)
    try:
        await OutboxRelay(db, producer, service="harness", batch_size=args.batch, poll_interval=0.01).run(stop)
    finally:
        await producer.stop()
        await db.dispose()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("mode", choices=["consume", "relay"])
    parser.add_argument("--db", required=True)
    parser.add_argument("--bootstrap", required=True)
    parser.add_argument("--group", default="harness")
    parser.add_argument("--topic", default=HarnessTick.event_type)
    parser.add_argument("--batch", type=int, default=100)
    parser.add_argument("--fetched-log", default=os.devnull)
    parser.add_argument("--commit-delay-ms", type=int, default=0)
    parser.add_argument("--handlers", choices=["tick", "supervision"], default="tick")
    parser.add_argument("--ready-file", default="", help="written once SIGTERM stops the consumer cleanly")
    args = parser.parse_args()
    asyncio.run(consume(args) if args.mode == "consume" else relay(args))


if __name__ == "__main__":
    main()
