"""Settlement API: `uvicorn services.settlement.main:app`."""

from pathlib import Path

from services.settlement.api import router
from services.settlement.settings import Settings
from services.settlement.supervision_client import close_supervision_checker, open_supervision_checker
from shared.app import create_service_app

app = create_service_app(
    Settings(),
    title="Yibao settlement",
    description="Hospitals post settlements; the basic fund, critical-illness insurance and assistance pay.",
    routers=[router],
    migrations_dir=Path(__file__).parent / "migrations",
    on_startup=open_supervision_checker,  # one pooled client to supervision's 事中审核 check
    on_shutdown=close_supervision_checker,
)
