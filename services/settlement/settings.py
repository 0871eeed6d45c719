from pydantic_settings import SettingsConfigDict

from shared.settings import ServiceSettings


class Settings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="SETTLEMENT_", extra="ignore", populate_by_name=True)

    service_name: str = "settlement"
    # 50 concurrent retries of one settlement each hold a connection while they wait on the key.
    db_pool_size: int = 20
