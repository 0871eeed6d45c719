from pydantic import field_validator
from pydantic_settings import SettingsConfigDict

from services.settlement.service import parse_burden_thresholds
from shared.settings import ServiceSettings


class Settings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="SETTLEMENT_", extra="ignore", populate_by_name=True)

    service_name: str = "settlement"
    # 50 concurrent retries of one settlement each hold a connection while they wait on the key.
    db_pool_size: int = 20
    # 高额医疗费用预警 (a parameter; Rui'an watches from 5万): yearly personal burden bands that raise
    # burden.alerted when a settlement crosses them. SETTLEMENT_BURDEN_THRESHOLDS.
    burden_thresholds: str = "yellow:50000,orange:100000,red:200000"

    @field_validator("burden_thresholds")
    @classmethod
    def _thresholds(cls, value: str) -> str:
        parse_burden_thresholds(value)
        return value
