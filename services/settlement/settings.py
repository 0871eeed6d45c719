from typing import Literal

from pydantic import Field, field_validator
from pydantic_settings import SettingsConfigDict

from services.settlement.service import parse_burden_thresholds
from shared.settings import ServiceSettings


class Settings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="SETTLEMENT_", extra="ignore", populate_by_name=True)

    service_name: str = "settlement"
    # 50 concurrent retries of one settlement each hold a connection while they wait on the key.
    db_pool_size: int = 30
    # 高额医疗费用预警 (a parameter; Rui'an watches from 5万): yearly personal burden bands that raise
    # burden.alerted when a settlement crosses them. SETTLEMENT_BURDEN_THRESHOLDS.
    burden_thresholds: str = "yellow:50000,orange:100000,red:200000"
    # 事中审核: supervision's in-stage check, asked before a settlement is stored (inside the
    # cluster, not through the gateway). SETTLEMENT_SUPERVISION_URL, SETTLEMENT_IN_STAGE_DEADLINE_MS,
    # SETTLEMENT_IN_STAGE_FAIL_MODE: `open` settles and marks the claim for post audit when
    # supervision does not answer in time; `closed` answers 503 and stores nothing.
    supervision_url: str = "http://127.0.0.1:8004"
    in_stage_deadline_ms: int = Field(default=150, ge=1, le=10_000)
    in_stage_fail_mode: Literal["open", "closed"] = "open"
    in_stage_max_connections: int = Field(default=50, ge=1, le=1000)

    @field_validator("burden_thresholds")
    @classmethod
    def _thresholds(cls, value: str) -> str:
        parse_burden_thresholds(value)
        return value
