"""For tests of one migration: a database of its own, migrated step by step with the service's Alembic."""

from __future__ import annotations

import asyncio
import os
import sys
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import asyncpg

from devstack.infra import REPO_ROOT
from devstack.stack import Stack
from shared.settings import database_url_for, plain_url


async def alembic(service: str, url: str, *args: str) -> None:
    """`alembic <args>` for `service`'s migrations on the database at `url`, as a deployment runs it."""
    run = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "alembic", "-c", str(REPO_ROOT / "services" / service / "alembic.ini"), *args,
        cwd=REPO_ROOT, env=os.environ | {f"{service.upper()}_DATABASE_URL": url},
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT,
    )  # fmt: skip
    out, _ = await run.communicate()
    assert run.returncode == 0, out.decode(errors="replace")


@asynccontextmanager
async def scratch_database(infra: Stack, prefix: str) -> AsyncIterator[str]:
    """An empty database on the test server, dropped afterwards; yields its URL."""
    name = f"{prefix}_{uuid.uuid4().hex[:8]}"
    admin = await asyncpg.connect(plain_url(infra.database_url))
    await admin.execute(f'CREATE DATABASE "yibao_{name}"')
    try:
        yield database_url_for(name, infra.database_url)
    finally:
        await admin.execute(f'DROP DATABASE IF EXISTS "yibao_{name}" WITH (FORCE)')
        await admin.close()
