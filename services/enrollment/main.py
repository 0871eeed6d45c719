"""Enrollment API: `uvicorn services.enrollment.main:app`."""

from pathlib import Path

from services.enrollment.api import router
from services.enrollment.regions import parse_regions
from services.enrollment.settings import Settings
from shared.app import create_service_app

app = create_service_app(
    Settings(),
    title="Yibao enrollment",
    description="One record per person (一人一档), scheme enrollments, contributions, filings.",
    routers=[router],
    migrations_dir=Path(__file__).parent / "migrations",
)
# The region tree 市 › 县 › 镇 › 村 › 网格 with hukou baselines; read once at import, checked by parse_regions.
app.state.regions = parse_regions((Path(__file__).parent / "data" / "regions.csv").read_text(encoding="utf-8"))
