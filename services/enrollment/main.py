"""Enrollment API: `uvicorn services.enrollment.main:app`."""

from pathlib import Path

from services.enrollment.api import router
from services.enrollment.settings import Settings
from shared.app import create_service_app

app = create_service_app(
    Settings(),
    title="Yibao enrollment",
    description="One record per person (一人一档), scheme enrollments, contributions, filings.",
    routers=[router],
    migrations_dir=Path(__file__).parent / "migrations",
)
