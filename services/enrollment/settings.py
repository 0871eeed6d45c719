from pydantic import model_validator
from pydantic_settings import SettingsConfigDict

from shared.settings import InsecureSettingsError, ServiceSettings

# Used only when YIBAO_ENV=development or test; production refuses to start with them.
DEVELOPMENT_ID_HASH_KEY = "development-id-hash-key"
DEVELOPMENT_ID_ENCRYPTION_KEY = "development-id-encryption-key"
MIN_PRODUCTION_KEY_LENGTH = 32


class Settings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="ENROLLMENT_", extra="ignore", populate_by_name=True)

    service_name: str = "enrollment"
    # Key for the keyed hash (HMAC) of resident ID numbers; look-ups use the hash, never the ID.
    id_hash_key: str = DEVELOPMENT_ID_HASH_KEY
    # Secret for the AES-256-GCM encrypted copy of the resident ID (身份证号密文); the AES key is derived by HKDF.
    id_encryption_key: str = DEVELOPMENT_ID_ENCRYPTION_KEY

    @model_validator(mode="after")
    def _refuse_development_keys(self) -> "Settings":
        if self.env != "production":
            return self
        for variable, value, development in (
            ("ENROLLMENT_ID_HASH_KEY", self.id_hash_key, DEVELOPMENT_ID_HASH_KEY),
            ("ENROLLMENT_ID_ENCRYPTION_KEY", self.id_encryption_key, DEVELOPMENT_ID_ENCRYPTION_KEY),
        ):
            if value == development:
                raise InsecureSettingsError(
                    f"{variable} is required when YIBAO_ENV=production; "
                    "the development key is refused outside development"
                )
            if len(value) < MIN_PRODUCTION_KEY_LENGTH:
                raise InsecureSettingsError(
                    f"{variable} must be at least {MIN_PRODUCTION_KEY_LENGTH} characters in production"
                )
        return self
