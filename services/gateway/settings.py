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
    client_secret_iterations: int = 200_000

    def upstreams(self) -> dict[str, str]:
        return {
            "enrollment": self.enrollment_url.rstrip("/"),
            "settlement": self.settlement_url.rstrip("/"),
            "ltc": self.ltc_url.rstrip("/"),
            "supervision": self.supervision_url.rstrip("/"),
        }
