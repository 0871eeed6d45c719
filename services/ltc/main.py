"""LTC API: `uvicorn services.ltc.main:app`."""

from pathlib import Path

from services.ltc.api import router
from services.ltc.settings import Settings
from shared.app import create_service_app

app = create_service_app(
    Settings(),
    title="Yibao long-term care",
    description="Long-term-care insurance (长护险): eligibility, assessments, care plans, visits, settlement.",
    routers=[router],
    migrations_dir=Path(__file__).parent / "migrations",
)
