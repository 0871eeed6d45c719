from pydantic import Field, model_validator
from pydantic_settings import SettingsConfigDict

from shared.settings import ServiceSettings, refuse_weak_secret

# Used only when YIBAO_ENV=development or test; production refuses to start with them.
DEVELOPMENT_ID_HASH_KEY = "development-id-hash-key"
DEVELOPMENT_ID_ENCRYPTION_KEY = "development-id-encryption-key"


class Settings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="ENROLLMENT_", extra="ignore", populate_by_name=True)

    service_name: str = "enrollment"
    # Key for the keyed hash (HMAC) of resident ID numbers; look-ups use the hash, never the ID.
    id_hash_key: str = DEVELOPMENT_ID_HASH_KEY
    # Secret for the AES-256-GCM encrypted copy of the resident ID (身份证号密文); the AES key is derived by HKDF.
    id_encryption_key: str = DEVELOPMENT_ID_ENCRYPTION_KEY
    # 等待期 waiting period (days) after paying a first or lapsed enrollment. Policy parameter: 90 is a typical
    # bureau value; 0 here so the demo and the end-to-end tests cover a freshly enrolled person at once.
    first_enrollment_waiting_days: int = 0
    # 新生儿 enrolled within this many days of birth are covered from birth.
    newborn_grace_days: int = 90
    # A live coverage count longer than this is stopped and answered 503 `coverage-count-too-slow`, pointing at the
    # snapshot: below the gateway's upstream timeout (15 s), so the caller gets a reason, not a 504, and PostgreSQL
    # stops (a whole city of 7 million counts in ~22 s; bench `coverage`). ENROLLMENT_COVERAGE_LIVE_TIMEOUT_S.
    coverage_live_timeout_s: float = Field(default=12.0, gt=0, le=3600)

    @model_validator(mode="after")
    def _refuse_development_keys(self) -> "Settings":
        if self.env == "production":
            refuse_weak_secret("ENROLLMENT_ID_HASH_KEY", self.id_hash_key, DEVELOPMENT_ID_HASH_KEY)
            refuse_weak_secret("ENROLLMENT_ID_ENCRYPTION_KEY", self.id_encryption_key, DEVELOPMENT_ID_ENCRYPTION_KEY)
        return self
