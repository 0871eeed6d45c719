from pydantic import model_validator
from pydantic_settings import SettingsConfigDict

from shared.settings import InsecureSettingsError, ServiceSettings

# Used only when YIBAO_ENV=development or test; production refuses to start with it.
DEVELOPMENT_ID_ENCRYPTION_KEY = "development-id-encryption-key"
MIN_PRODUCTION_KEY_LENGTH = 32


class Settings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="ENROLLMENT_", extra="ignore", populate_by_name=True)

    service_name: str = "enrollment"
    # Key for the keyed hash (HMAC) of resident ID numbers; look-ups use the hash, never the ID.
    id_hash_key: str = "development-id-hash-key"
    # Secret for the AES-256-GCM encrypted copy of the resident ID (身份证号密文); the AES key is derived by HKDF.
    id_encryption_key: str = DEVELOPMENT_ID_ENCRYPTION_KEY

    @model_validator(mode="after")
    def _refuse_development_encryption_key(self) -> "Settings":
        if self.env == "production":
            if self.id_encryption_key == DEVELOPMENT_ID_ENCRYPTION_KEY:
                raise InsecureSettingsError(
                    "ENROLLMENT_ID_ENCRYPTION_KEY is required when YIBAO_ENV=production; "
                    "the development key is refused outside development"
                )
            if len(self.id_encryption_key) < MIN_PRODUCTION_KEY_LENGTH:
                raise InsecureSettingsError(
                    f"ENROLLMENT_ID_ENCRYPTION_KEY must be at least {MIN_PRODUCTION_KEY_LENGTH} characters in production"
                )
        return self
