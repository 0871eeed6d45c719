"""Gateway: `uvicorn services.gateway.main:app`."""

from pathlib import Path

from services.gateway.api import (
    BodySizeLimit,
    ProxyFastPath,
    check_upstreams,
    close_upstreams,
    open_upstreams,
    proxy,
    router,
)
from services.gateway.settings import Settings
from shared.app import check_database, create_service_app

settings = Settings()


app = create_service_app(
    settings,
    title="Yibao gateway",
    description="The one door: API clients and tokens here; every service under /api/v1/<service>/.",
    routers=[router],
    root_routers=[proxy],
    migrations_dir=Path(__file__).parent / "migrations",
    ready_checks={"database": check_database, "services": check_upstreams},
    dependency_checks=frozenset({"services"}),
    on_startup=open_upstreams,
    on_shutdown=close_upstreams,
    inner_middleware=[BodySizeLimit, ProxyFastPath],  # the body limit outside: the proxy reads the body
)
