"""The one way a Yibao worker runs: the outbox relay and the service's consumers, until SIGTERM."""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
import signal
from collections.abc import Mapping

from prometheus_client import start_http_server

from shared.db import Database
from shared.events.consumer import AnyHandler, ConsumerRunner
from shared.events.kafka import reliable_producer
from shared.events.outbox import OutboxRelay
from shared.logging import configure_logging
from shared.settings import ServiceSettings
from shared.tracing import configure_tracing

logger = logging.getLogger("yibao.worker")


async def run_worker(
    settings: ServiceSettings,
    *,
    handlers: Mapping[str, AnyHandler] | None = None,
    relay: bool = True,
    stop: asyncio.Event | None = None,
) -> None:
    stop = stop or asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        with contextlib.suppress(NotImplementedError, RuntimeError):
            loop.add_signal_handler(sig, stop.set)
    # No pre-ping: the relay and the consumers retry a batch that fails on a dropped connection.
    db = Database(
        settings.database_url,
        pool_size=settings.db_pool_size,
        max_overflow=settings.db_max_overflow,
        pre_ping=False,
    )
    producer = reliable_producer(settings.kafka_bootstrap_servers, client_id=f"yibao-{settings.service_name}-relay")
    jobs: list[asyncio.Task[None]] = []
    try:
        if relay:
            await producer.start()
            relay_job = OutboxRelay(
                db,
                producer,
                service=settings.service_name,
                batch_size=settings.relay_batch_size,
                poll_interval=settings.relay_poll_interval_ms / 1000,
                idle_poll_cap=settings.relay_idle_poll_cap_ms / 1000,
            )
            jobs.append(asyncio.create_task(relay_job.run(stop), name="relay"))
        if handlers:
            runner = ConsumerRunner(
                name=settings.service_name,
                db=db,
                bootstrap_servers=settings.kafka_bootstrap_servers,
                handlers=handlers,
                batch_size=settings.consumer_batch_size,
                max_retries=settings.consumer_max_retries,
                retry_backoff=settings.consumer_retry_backoff_ms / 1000,
                fetch_min_bytes=settings.consumer_fetch_min_bytes,
                fetch_max_wait_ms=settings.consumer_fetch_max_wait_ms,
            )
            jobs.append(asyncio.create_task(runner.run(stop), name="consumer"))
        # What is loaded by now lives as long as the process: out of the collector's view, so its
        # full passes walk only the batches in flight (as the APIs do after start-up, shared/app.py).
        gc.collect()
        gc.freeze()
        logger.info("worker running", extra={"jobs": [j.get_name() for j in jobs]})
        done, _ = await asyncio.wait(jobs, return_when=asyncio.FIRST_EXCEPTION)
        # One job failing stops the others: the orchestrator restarts the whole worker.
        stop.set()
        await asyncio.gather(*jobs, return_exceptions=True)
        for job in done:
            if job.exception() is not None:
                raise job.exception()  # type: ignore[misc]
    finally:
        stop.set()
        if relay:
            await producer.stop()
        await db.dispose()
        logger.info("worker stopped")


def main(settings: ServiceSettings, *, handlers: Mapping[str, AnyHandler] | None = None, relay: bool = True) -> None:
    configure_logging(f"{settings.service_name}-worker", settings.log_level)
    configure_tracing(f"{settings.service_name}-worker")
    start_http_server(settings.worker_metrics_port)
    asyncio.run(run_worker(settings, handlers=handlers, relay=relay))
