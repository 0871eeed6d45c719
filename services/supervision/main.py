"""Supervision API: `uvicorn services.supervision.main:app`."""

from pathlib import Path

from services.supervision.api import router
from services.supervision.settings import Settings
from shared.app import create_service_app

app = create_service_app(
    Settings(),
    title="Yibao supervision",
    description="Fund supervision (基金监管): audits, flags, cases, sanctions, practitioner points.",
    routers=[router],
    migrations_dir=Path(__file__).parent / "migrations",
)
