from pydantic_settings import SettingsConfigDict

from shared.settings import ServiceSettings


class Settings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="ENROLLMENT_", extra="ignore", populate_by_name=True)

    service_name: str = "enrollment"
    # Key for the keyed hash (HMAC) of resident ID numbers; look-ups use the hash, never the ID.
    id_hash_key: str = "development-id-hash-key"
