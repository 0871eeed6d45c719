from pydantic import Field
from pydantic_settings import SettingsConfigDict

from shared.settings import ServiceSettings


class Settings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="GATEWAY_", extra="ignore", populate_by_name=True)

    service_name: str = "gateway"
    enrollment_url: str = "http://127.0.0.1:8001"
    settlement_url: str = "http://127.0.0.1:8002"
    ltc_url: str = "http://127.0.0.1:8003"
    supervision_url: str = "http://127.0.0.1:8004"
    upstream_connect_timeout_s: float = 2.0
    upstream_timeout_s: float = 15.0
    upstream_max_connections: int = 200
    # One slow service must not hold every pooled connection.
    upstream_max_connections_per_service: int = 100
    token_ttl_s: int = 3600
    # The largest request body the gateway takes (413 beyond it). The largest legitimate ones are the
    # enrollment batch imports: at most 50,000 rows a request, ~100-200 bytes a CSV row, ~1 KiB at the
    # widest JSON line (every field at its longest, the name \u-escaped): 64 MiB holds even that.
    max_body_bytes: int = Field(default=64 * 1024 * 1024, gt=0)
    client_secret_iterations: int = 200_000

    def upstreams(self) -> dict[str, str]:
        return {
            "enrollment": self.enrollment_url.rstrip("/"),
            "settlement": self.settlement_url.rstrip("/"),
            "ltc": self.ltc_url.rstrip("/"),
            "supervision": self.supervision_url.rstrip("/"),
        }
