"""Secrets in settings: too short or published defaults are refused outside local."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import ValidationError

from servicekit.settings import InternalTokenSettings, JwtSettings, ServiceSettings

STRONG = "a" * 16 + "b" * 16  # 32 bytes, not a published default
OTHER_STRONG = "c" * 40
INTERNAL = "i" * 32
PUBLISHED_JWT_DEFAULT = "local-development-jwt-secret-not-for-production"
PUBLISHED_INTERNAL_DEFAULT = "local-development-internal-token-not-for-production"


class Settings(ServiceSettings, JwtSettings, InternalTokenSettings):
    pass


@pytest.fixture(autouse=True)
def _no_settings_from_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    # Only the constructor kwargs below may decide the outcome.
    for name in (
        "SERVICE_NAME",
        "ENVIRONMENT",
        "LOG_LEVEL",
        "JWT_SECRET",
        "JWT_KID",
        "JWT_PREVIOUS_SECRET",
        "JWT_PREVIOUS_KID",
        "JWT_ISSUER",
        "JWT_AUDIENCE",
        "INTERNAL_TOKEN",
    ):
        monkeypatch.delenv(name, raising=False)


def make(**overrides: Any) -> Settings:
    values: dict[str, Any] = {
        "service_name": "test-service",
        "environment": "production",
        "jwt_secret": STRONG,
        "internal_token": INTERNAL,
    }
    values.update(overrides)
    return Settings(**values)


def test_strong_secrets_are_accepted_in_production() -> None:
    settings = make()

    assert settings.jwt_secret.get_secret_value() == STRONG
    assert settings.environment == "production"


def test_environment_defaults_to_production() -> None:
    settings = Settings(service_name="svc", jwt_secret=STRONG, internal_token=INTERNAL)

    assert settings.environment == "production"


@pytest.mark.parametrize("environment", ["local", "test", "production"])
def test_jwt_secret_shorter_than_32_bytes_is_refused(environment: str) -> None:
    with pytest.raises(ValidationError, match="JWT_SECRET must be at least 32 bytes"):
        make(environment=environment, jwt_secret="x" * 31)


def test_length_is_counted_in_bytes_not_characters() -> None:
    # 16 two-byte characters are 32 bytes: long enough.
    settings = make(jwt_secret="é" * 16)

    assert len(settings.jwt_secret.get_secret_value().encode()) == 32


def test_internal_token_shorter_than_32_bytes_is_refused() -> None:
    with pytest.raises(ValidationError, match="INTERNAL_TOKEN must be at least 32 bytes"):
        make(internal_token="short")


@pytest.mark.parametrize("environment", ["production", "test"])
def test_published_jwt_secret_is_refused_outside_local(environment: str) -> None:
    with pytest.raises(ValidationError, match="JWT_SECRET is a published default"):
        make(environment=environment, jwt_secret=PUBLISHED_JWT_DEFAULT)


def test_published_jwt_secret_is_refused_whatever_its_case() -> None:
    with pytest.raises(ValidationError, match="JWT_SECRET is a published default"):
        make(jwt_secret=PUBLISHED_JWT_DEFAULT.upper())


@pytest.mark.parametrize("environment", ["production", "test"])
def test_published_internal_token_is_refused_outside_local(environment: str) -> None:
    with pytest.raises(ValidationError, match="INTERNAL_TOKEN is a published default"):
        make(environment=environment, internal_token=PUBLISHED_INTERNAL_DEFAULT)


def test_published_defaults_are_accepted_for_local() -> None:
    settings = make(
        environment="local",
        jwt_secret=PUBLISHED_JWT_DEFAULT,
        internal_token=PUBLISHED_INTERNAL_DEFAULT,
    )

    assert settings.jwt_secret.get_secret_value() == PUBLISHED_JWT_DEFAULT
    assert settings.internal_token.get_secret_value() == PUBLISHED_INTERNAL_DEFAULT


def test_published_previous_jwt_secret_is_refused_in_production() -> None:
    with pytest.raises(ValidationError, match="JWT_PREVIOUS_SECRET is a published default"):
        make(jwt_previous_secret=PUBLISHED_JWT_DEFAULT, jwt_previous_kid="k0")


def test_previous_secret_without_previous_kid_is_refused() -> None:
    with pytest.raises(ValidationError, match="go together"):
        make(jwt_previous_secret=OTHER_STRONG)


def test_previous_kid_without_previous_secret_is_refused() -> None:
    with pytest.raises(ValidationError, match="go together"):
        make(jwt_previous_kid="k0")


def test_previous_kid_equal_to_current_kid_is_refused() -> None:
    with pytest.raises(ValidationError, match="must differ from JWT_KID"):
        make(jwt_kid="k1", jwt_previous_secret=OTHER_STRONG, jwt_previous_kid="k1")


def test_verification_keys_hold_only_the_current_key_without_rotation() -> None:
    assert make(jwt_kid="k2").verification_keys() == {"k2": STRONG}


def test_verification_keys_hold_current_and_previous_keys() -> None:
    settings = make(jwt_kid="k2", jwt_previous_secret=OTHER_STRONG, jwt_previous_kid="k1")

    assert settings.verification_keys() == {"k2": STRONG, "k1": OTHER_STRONG}
