"""Settlement's ASGI app in-process on the real, migrated database, loaded with the demo
reference data and one designated hospital: what the settlement integration tests share."""

from __future__ import annotations

import socket
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx

from devstack.stack import Stack
from devstack.tokens import development_token
from services.settlement.api import router
from services.settlement.handlers import HANDLERS
from services.settlement.settings import Settings
from services.settlement.supervision_client import close_supervision_checker, open_supervision_checker
from shared.app import create_service_app
from shared.auth import Role
from shared.db import Database
from shared.events.contracts import EventPayload
from shared.events.envelope import Event
from shared.settings import database_url_for

DATA = Path(__file__).resolve().parents[2] / "services" / "settlement" / "data"
OPS = {"Authorization": f"Bearer {development_token(Role.OPS, 'ops-it')}"}
API = "/api/v1/settlement"


def closed_port() -> int:
    """A loopback port nothing listens on (bound, then released)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
    return port


@dataclass
class SettlementApp:
    client: httpx.AsyncClient
    db: Database

    async def deliver(self, payload: EventPayload) -> None:
        """One event through settlement's own handler, in its own transaction, as the consumer would."""
        async with self.db.transaction() as session:
            await HANDLERS[payload.event_type](session, Event.new(payload, source="/tests"))


@asynccontextmanager
async def settlement_app(infra: Stack, *, institution: str, hospital_name: str) -> AsyncIterator[SettlementApp]:
    # No supervision runs here: its in-stage check is a closed port, so every claim settles
    # fail-open, marked for post audit (tests/e2e/test_in_stage_check.py covers the check itself).
    settings = Settings(
        database_url=database_url_for("settlement", infra.database_url),
        supervision_url=f"http://127.0.0.1:{closed_port()}",
    )
    app = create_service_app(
        settings,
        title="settlement under test",
        description="",
        routers=[router],
        migrations_dir=None,
        on_startup=open_supervision_checker,
        on_shutdown=close_supervision_checker,
    )
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://settlement", timeout=60) as client:
            csv = {**OPS, "Content-Type": "text/csv"}
            loaded = await client.put(f"{API}/catalogue", content=(DATA / "catalogue.csv").read_bytes(), headers=csv)
            assert loaded.status_code == 200, loaded.text
            policies = await client.post(f"{API}/policies", content=(DATA / "policies.csv").read_bytes(), headers=csv)
            assert policies.status_code == 200, policies.text
            hospital = {"name": hospital_name, "level": 3, "region_code": "350582", "institution_type": "hospital"}
            put = await client.put(f"{API}/institutions/{institution}", json=hospital, headers=OPS)
            assert put.status_code == 200, put.text
            yield SettlementApp(client, app.state.db)
