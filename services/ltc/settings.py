from pydantic_settings import SettingsConfigDict

from shared.settings import ServiceSettings


class Settings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="LTC_", extra="ignore", populate_by_name=True)

    service_name: str = "ltc"
