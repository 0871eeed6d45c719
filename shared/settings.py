"""Settings base: one environment prefix per service, a few platform-wide variables.

Platform-wide variables (no prefix) let an operator point every service at the same
PostgreSQL server or Kafka cluster at once; a prefixed variable wins for one service.
"""

from __future__ import annotations

import os
from typing import Literal
from urllib.parse import urlsplit, urlunsplit

from pydantic import AliasChoices, Field, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

# Used only when YIBAO_ENV=development or test; production refuses to start with it.
DEVELOPMENT_JWT_SECRET = "yibao-development-key-not-for-production-use-0123456789"  # noqa: S105
DEFAULT_DATABASE_URL = "postgresql://postgres@127.0.0.1:55432/postgres"
DEFAULT_KAFKA_BOOTSTRAP_SERVERS = "127.0.0.1:9092"

Environment = Literal["development", "test", "production"]


class InsecureSettingsError(RuntimeError):
    """Raised at start-up when a production deployment lacks a real secret."""


MIN_PRODUCTION_SECRET_LENGTH = 32


def refuse_weak_secret(variable: str, value: str, development_default: str) -> None:
    """In production every secret must be set, not the development default, and long enough."""
    if not value or value == development_default:
        raise InsecureSettingsError(
            f"{variable} is required when YIBAO_ENV=production; the development key is refused outside development"
        )
    if len(value) < MIN_PRODUCTION_SECRET_LENGTH:
        raise InsecureSettingsError(
            f"{variable} must be at least {MIN_PRODUCTION_SECRET_LENGTH} characters in production"
        )


def database_url_for(service: str, base_url: str) -> str:
    """The service's own database on the server that `base_url` names: `yibao_<service>`."""
    parts = urlsplit(base_url)
    return urlunsplit((parts.scheme, parts.netloc, f"/yibao_{service}", parts.query, parts.fragment))


def async_url(url: str) -> str:
    """SQLAlchemy needs the asyncpg dialect named in the URL."""
    for prefix in ("postgresql+asyncpg://", "postgresql://", "postgres://"):
        if url.startswith(prefix):
            return "postgresql+asyncpg://" + url[len(prefix) :]
    raise ValueError(f"not a PostgreSQL URL: {url.split('@')[-1]}")


def plain_url(url: str) -> str:
    """asyncpg itself wants the plain scheme."""
    return url.replace("postgresql+asyncpg://", "postgresql://", 1)


class ServiceSettings(BaseSettings):
    """Base for every service's settings. Subclasses set `service_name` and the env prefix."""

    model_config = SettingsConfigDict(extra="ignore", env_file=None, populate_by_name=True)

    service_name: str = "service"
    # Platform-wide names only: a bare ENV or JWT_SECRET in the environment must not count.
    env: Environment = Field(default="development", validation_alias=AliasChoices("YIBAO_ENV"))
    database_url: str = ""
    kafka_bootstrap_servers: str = Field(
        default=DEFAULT_KAFKA_BOOTSTRAP_SERVERS,
        validation_alias=AliasChoices("KAFKA_BOOTSTRAP_SERVERS", "kafka_bootstrap_servers"),
    )
    jwt_secret: str = Field(default="", validation_alias=AliasChoices("YIBAO_JWT_SECRET"))
    jwt_algorithm: str = "HS256"
    jwt_issuer: str = "yibao"
    log_level: str = "INFO"
    # Connections are opened as needed up to db_pool_size and then kept: an overflow connection is
    # closed as soon as it is returned, and under steady load that churn made PostgreSQL start a
    # backend and asyncpg re-introspect types (6.5 ms a connection) many times a second. A request
    # finding every connection busy waits for one (then 503 database-busy), as it would in the server.
    db_pool_size: int = 20
    db_max_overflow: int = 0
    db_pool_timeout_s: float = 10.0
    http_port: int = 8000
    worker_metrics_port: int = 9100
    relay_batch_size: int = 1000
    relay_poll_interval_ms: int = 50
    # After empty claims the relay waits longer each time, up to this (decision 0020): an idle
    # worker's relay claims once a second instead of 20 times, and a row written after a lull
    # waits at most about this long to be published.
    relay_idle_poll_cap_ms: int = 1000
    consumer_batch_size: int = 1000
    consumer_max_retries: int = 3
    consumer_retry_backoff_ms: int = 200
    # The broker answers a consumer's fetch once this many bytes are there or the wait is up
    # (decision 0020): under a trickle a batch gathers what arrived in the wait instead of one
    # record, and an isolated event still comes within the wait.
    consumer_fetch_min_bytes: int = 65536
    consumer_fetch_max_wait_ms: int = 500
    topic_partitions: int = 3
    topic_replication_factor: int = 1

    @model_validator(mode="after")
    def _derive(self) -> ServiceSettings:
        if not self.database_url:
            base = os.environ.get("DATABASE_URL", DEFAULT_DATABASE_URL)
            self.database_url = database_url_for(self.service_name, base)
        if self.env == "production":
            refuse_weak_secret("YIBAO_JWT_SECRET", self.jwt_secret, DEVELOPMENT_JWT_SECRET)
        elif not self.jwt_secret:
            self.jwt_secret = DEVELOPMENT_JWT_SECRET
        return self

    @property
    def async_database_url(self) -> str:
        return async_url(self.database_url)
