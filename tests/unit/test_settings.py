"""ServiceSettings: the per-service database, the prefixed override, and the production JWT guard."""

from __future__ import annotations

import pytest

from services.enrollment.settings import Settings as EnrollmentSettings
from services.settlement.settings import Settings as SettlementSettings
from shared.settings import (
    DEFAULT_DATABASE_URL,
    DEVELOPMENT_JWT_SECRET,
    InsecureSettingsError,
    async_url,
    database_url_for,
    plain_url,
)

# Anything in the developer's shell that the settings could read.
_ENV_VARS = (
    "DATABASE_URL",
    "ENROLLMENT_DATABASE_URL",
    "SETTLEMENT_DATABASE_URL",
    "YIBAO_ENV",
    "YIBAO_JWT_SECRET",
    "ENV",
    "JWT_SECRET",
    "KAFKA_BOOTSTRAP_SERVERS",
    "ENROLLMENT_ENV",
    "ENROLLMENT_JWT_SECRET",
)

STRONG_SECRET = "k" * 40


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in _ENV_VARS:
        monkeypatch.delenv(name, raising=False)


def test_default_database_is_the_services_own_database_on_the_default_server() -> None:
    settings = EnrollmentSettings()
    assert settings.database_url == database_url_for("enrollment", DEFAULT_DATABASE_URL)
    assert settings.database_url == "postgresql://postgres@127.0.0.1:55432/yibao_enrollment"


def test_platform_database_url_names_the_server_and_the_service_picks_its_database(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("DATABASE_URL", "postgresql://app:pw@db.internal:5433/postgres?sslmode=require")
    assert EnrollmentSettings().database_url == "postgresql://app:pw@db.internal:5433/yibao_enrollment?sslmode=require"
    assert SettlementSettings().database_url == "postgresql://app:pw@db.internal:5433/yibao_settlement?sslmode=require"


def test_prefixed_database_url_wins_for_that_service_only(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DATABASE_URL", "postgresql://shared@db:5432/postgres")
    monkeypatch.setenv("ENROLLMENT_DATABASE_URL", "postgresql://own@elsewhere:6000/enrol_custom")
    assert EnrollmentSettings().database_url == "postgresql://own@elsewhere:6000/enrol_custom"
    # Another service still derives its database from the platform-wide variable.
    assert SettlementSettings().database_url == "postgresql://shared@db:5432/yibao_settlement"


def test_async_database_url_uses_the_asyncpg_dialect(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DATABASE_URL", "postgres://u@h:1/postgres")
    assert EnrollmentSettings().async_database_url == "postgresql+asyncpg://u@h:1/yibao_enrollment"


def test_production_without_a_jwt_secret_refuses_to_start(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("YIBAO_ENV", "production")
    with pytest.raises(InsecureSettingsError, match="YIBAO_JWT_SECRET"):
        EnrollmentSettings()


def test_production_with_the_development_key_refuses_to_start(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("YIBAO_ENV", "production")
    monkeypatch.setenv("YIBAO_JWT_SECRET", DEVELOPMENT_JWT_SECRET)
    with pytest.raises(InsecureSettingsError, match="development"):
        EnrollmentSettings()


@pytest.mark.parametrize("secret", ["short", "x" * 31])
def test_production_with_a_short_key_refuses_to_start(monkeypatch: pytest.MonkeyPatch, secret: str) -> None:
    monkeypatch.setenv("YIBAO_ENV", "production")
    monkeypatch.setenv("YIBAO_JWT_SECRET", secret)
    with pytest.raises(InsecureSettingsError, match="32 characters"):
        EnrollmentSettings()


@pytest.mark.parametrize("secret", ["x" * 32, STRONG_SECRET])
def test_production_with_a_long_enough_key_starts(monkeypatch: pytest.MonkeyPatch, secret: str) -> None:
    monkeypatch.setenv("YIBAO_ENV", "production")
    monkeypatch.setenv("YIBAO_JWT_SECRET", secret)
    # Enrollment also refuses its development ID hash and encryption keys in production.
    monkeypatch.setenv("ENROLLMENT_ID_HASH_KEY", "h" * 32)
    monkeypatch.setenv("ENROLLMENT_ID_ENCRYPTION_KEY", "e" * 32)
    settings = EnrollmentSettings()
    assert settings.env == "production"
    assert settings.jwt_secret == secret


@pytest.mark.parametrize("env", ["development", "test"])
def test_non_production_falls_back_to_the_development_key(monkeypatch: pytest.MonkeyPatch, env: str) -> None:
    monkeypatch.setenv("YIBAO_ENV", env)
    settings = EnrollmentSettings()
    assert settings.env == env
    assert settings.jwt_secret == DEVELOPMENT_JWT_SECRET


def test_development_is_the_default_environment() -> None:
    settings = EnrollmentSettings()
    assert settings.env == "development"
    assert settings.jwt_secret == DEVELOPMENT_JWT_SECRET


def test_an_explicit_key_is_used_outside_production_too(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("YIBAO_JWT_SECRET", "dev-but-explicit")
    assert EnrollmentSettings().jwt_secret == "dev-but-explicit"


def test_unknown_environment_is_rejected(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("YIBAO_ENV", "staging")
    with pytest.raises(ValueError, match=r"YIBAO_ENV|env"):
        EnrollmentSettings()


def test_service_specific_field_reads_its_prefixed_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ENROLLMENT_ID_HASH_KEY", "from-env")
    assert EnrollmentSettings().id_hash_key == "from-env"


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("postgresql://u:p@h:5432/db", "postgresql+asyncpg://u:p@h:5432/db"),
        ("postgres://u@h/db", "postgresql+asyncpg://u@h/db"),
        ("postgresql+asyncpg://u@h/db", "postgresql+asyncpg://u@h/db"),
    ],
)
def test_async_url(url: str, expected: str) -> None:
    assert async_url(url) == expected


def test_async_url_refuses_other_databases_without_leaking_credentials() -> None:
    with pytest.raises(ValueError, match="not a PostgreSQL URL") as info:
        async_url("mysql://root:hunter2@db:3306/app")
    assert "hunter2" not in str(info.value)


def test_plain_url_strips_the_dialect() -> None:
    assert plain_url("postgresql+asyncpg://u:p@h:5432/db") == "postgresql://u:p@h:5432/db"
    assert plain_url("postgresql://u@h/db") == "postgresql://u@h/db"
    assert plain_url(async_url("postgres://u@h/db")) == "postgresql://u@h/db"


def test_a_generic_env_variable_does_not_switch_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ENV", "production")
    assert EnrollmentSettings().env == "development"


def test_a_generic_jwt_secret_variable_is_not_the_signing_key(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("JWT_SECRET", "some-other-applications-secret")
    assert EnrollmentSettings().jwt_secret == DEVELOPMENT_JWT_SECRET


def test_event_machinery_polling_defaults_and_per_service_overrides(monkeypatch: pytest.MonkeyPatch) -> None:
    defaults = SettlementSettings()
    assert (defaults.relay_poll_interval_ms, defaults.relay_idle_poll_cap_ms) == (50, 1000)
    assert (defaults.consumer_fetch_min_bytes, defaults.consumer_fetch_max_wait_ms) == (65536, 500)
    monkeypatch.setenv("SETTLEMENT_RELAY_IDLE_POLL_CAP_MS", "250")
    monkeypatch.setenv("SETTLEMENT_CONSUMER_FETCH_MIN_BYTES", "1")
    monkeypatch.setenv("SETTLEMENT_CONSUMER_FETCH_MAX_WAIT_MS", "200")
    tuned = SettlementSettings()
    assert (tuned.relay_idle_poll_cap_ms, tuned.consumer_fetch_min_bytes, tuned.consumer_fetch_max_wait_ms) == (
        250,
        1,
        200,
    )
    assert EnrollmentSettings().relay_idle_poll_cap_ms == 1000  # another service keeps the default
