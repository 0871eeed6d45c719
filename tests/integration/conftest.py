from __future__ import annotations

import asyncio
import subprocess
import sys
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

import asyncpg
import pytest
from sqlalchemy.ext.asyncio import create_async_engine

from devstack.infra import REPO_ROOT
from devstack.stack import Stack
from shared.settings import async_url, database_url_for
from shared.tables import platform_metadata
from tests.integration.harness import EFFECTS_DDL

FreshDatabase = Callable[[str], Awaitable[str]]


@pytest.fixture
def fresh_database(infra: Stack) -> FreshDatabase:
    """A new, empty database with the platform tables and the harness's `effects` table."""

    async def make(name: str) -> str:
        admin = await asyncpg.connect(infra.database_url)
        try:
            await admin.execute(f'DROP DATABASE IF EXISTS "yibao_{name}" WITH (FORCE)')
            await admin.execute(f'CREATE DATABASE "yibao_{name}"')
        finally:
            await admin.close()
        url = database_url_for(name, infra.database_url)
        engine = create_async_engine(async_url(url))
        async with engine.begin() as conn:
            await conn.run_sync(platform_metadata.create_all)
            await conn.exec_driver_sql(EFFECTS_DDL)
        await engine.dispose()
        return url

    return make


def start_harness(mode: str, *args: str, log_name: str, infra: Stack) -> subprocess.Popen[bytes]:
    log = open(infra.var / f"{log_name}.log", "ab")  # noqa: SIM115 - handed to the child
    return subprocess.Popen(
        [sys.executable, "-m", "tests.integration.harness", mode, "--bootstrap", infra.bootstrap, *args],
        cwd=REPO_ROOT,
        stdout=log,
        stderr=subprocess.STDOUT,
    )


async def start_stoppable_consumer(*args: str, log_name: str, infra: Stack, ready: Path) -> subprocess.Popen[bytes]:
    """A harness consumer, returned once it has its SIGTERM handler: stopping it earlier (when
    there is nothing left to consume) would kill it by the signal instead of stopping it cleanly."""
    proc = start_harness("consume", *args, "--ready-file", str(ready), log_name=log_name, infra=infra)
    deadline = time.monotonic() + 120
    while not ready.exists():
        assert proc.poll() is None, "the consumer died on its own"
        assert time.monotonic() < deadline, "the consumer did not start"
        await asyncio.sleep(0.05)
    return proc
