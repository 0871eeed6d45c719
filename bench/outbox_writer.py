"""The `events` bench's writer: a process of its own, as a service's API is beside its worker.

    python -m bench.outbox_writer <database url> <run id> <events> <events per transaction> <writers>

Connects, prints `ready`, waits for a line on stdin, writes the events into the outbox with
`shared.events.outbox.publish_many` from <writers> concurrent transactions at a time (as an API
serves concurrent requests; each key's events come from one writer, in order), then prints one
JSON line: the seconds it took and the CPU seconds this process used.
"""

from __future__ import annotations

import asyncio
import json
import sys
import time

from bench.events import KEYS, tick, tick_type
from shared.db import Database
from shared.events.outbox import publish_many
from shared.tracing import configure_tracing


async def write(url: str, run: str, n: int, txn_events: int, writers: int) -> None:
    cls = tick_type(run)

    async def writer(number: int) -> None:
        # This writer's keys (seq % KEYS picks the key), in sequence order.
        mine = [seq for seq in range(n) if seq % KEYS % writers == number]
        for start in range(0, len(mine), txn_events):
            async with db.transaction() as session:
                await publish_many(
                    session, [tick(cls, seq) for seq in mine[start : start + txn_events]], source="/bench"
                )

    db = Database(url)  # the API's settings: pre-ping on
    try:
        await db.ping()
        print("ready", flush=True)
        await asyncio.to_thread(sys.stdin.readline)
        cpu0, t0 = time.process_time(), time.perf_counter()
        await asyncio.gather(*(writer(number) for number in range(writers)))
        elapsed = time.perf_counter() - t0
        print(json.dumps({"write_s": elapsed, "cpu_s": time.process_time() - cpu0}), flush=True)
    finally:
        await db.dispose()


def main(argv: list[str]) -> None:
    url, run, n, txn_events, writers = argv
    configure_tracing("bench-writer")  # as an API process does
    asyncio.run(write(url, run, int(n), int(txn_events), int(writers)))


if __name__ == "__main__":
    main(sys.argv[1:])
