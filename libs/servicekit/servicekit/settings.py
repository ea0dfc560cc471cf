"""Settings base shared by every service.

Each service subclasses these and is handed its settings object explicitly
(`create_app(settings)`); nothing here reads the environment at import time.
"""

from __future__ import annotations

from typing import Literal, Self

from pydantic import Field, SecretStr, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

Environment = Literal["local", "test", "production"]

# Values that have been published somewhere (examples, docs, tutorials) and so
# must never protect a real deployment.
KNOWN_DEFAULT_SECRETS = frozenset(
    {
        "changeme",
        "change-me",
        "secret",
        "password",
        "replace-me",
        "dev-secret-change-me-dev-secret-change-me",
        "local-development-jwt-secret-not-for-production",
        "local-development-internal-token-not-for-production",
    }
)
MIN_SECRET_BYTES = 32


def _check_secret(name: str, value: SecretStr | None, environment: Environment) -> None:
    if value is None:
        return
    raw = value.get_secret_value()
    if len(raw.encode()) < MIN_SECRET_BYTES:
        raise ValueError(f"{name} must be at least {MIN_SECRET_BYTES} bytes")
    if environment != "local" and raw.lower() in KNOWN_DEFAULT_SECRETS:
        raise ValueError(f"{name} is a published default; generate a random one")


def _environment_of(settings: BaseSettings) -> Environment:
    # The mixins below are combined with ServiceSettings; alone they are strict.
    environment: Environment = getattr(settings, "environment", "production")
    return environment


class ServiceSettings(BaseSettings):
    """What every service reads: identity, environment and logging."""

    model_config = SettingsConfigDict(env_file=None, extra="ignore", frozen=True)

    service_name: str
    environment: Environment = "production"
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"


class InternalTokenSettings(BaseSettings):
    """The shared token that authenticates calls to db-gateway."""

    internal_token: SecretStr

    @model_validator(mode="after")
    def _internal_token_is_strong(self) -> Self:
        _check_secret("INTERNAL_TOKEN", self.internal_token, _environment_of(self))
        return self


class JwtSettings(BaseSettings):
    """Access-token keys and claims. The previous key only verifies, never signs."""

    jwt_secret: SecretStr
    jwt_kid: str = Field(default="k1", min_length=1, max_length=64)
    jwt_previous_secret: SecretStr | None = None
    jwt_previous_kid: str | None = None
    jwt_issuer: str = "finledger-auth"
    jwt_audience: str = "finledger"

    @model_validator(mode="after")
    def _keys_are_strong(self) -> Self:
        environment = _environment_of(self)
        _check_secret("JWT_SECRET", self.jwt_secret, environment)
        _check_secret("JWT_PREVIOUS_SECRET", self.jwt_previous_secret, environment)
        if (self.jwt_previous_secret is None) != (self.jwt_previous_kid is None):
            raise ValueError("JWT_PREVIOUS_SECRET and JWT_PREVIOUS_KID go together")
        if self.jwt_previous_kid is not None and self.jwt_previous_kid == self.jwt_kid:
            raise ValueError("JWT_PREVIOUS_KID must differ from JWT_KID")
        return self

    def verification_keys(self) -> dict[str, str]:
        keys = {self.jwt_kid: self.jwt_secret.get_secret_value()}
        if self.jwt_previous_secret is not None and self.jwt_previous_kid is not None:
            keys[self.jwt_previous_kid] = self.jwt_previous_secret.get_secret_value()
        return keys


class RedisSettings(BaseSettings):
    redis_url: str = "redis://redis:6379/0"
    # Short on purpose: Redis only ever makes things faster, so a slow Redis
    # must turn into the fallback path quickly rather than into slow requests.
    redis_timeout_seconds: float = Field(default=0.25, gt=0)


# The largest throttling policy db-gateway accepts (it sends the window to
# Postgres as an interval): a setting beyond it fails at startup, not at login.
MAX_LOGIN_FAILURES = 1_000_000
MAX_LOGIN_WINDOW_SECONDS = 7 * 24 * 3600


class LoginThrottleSettings(BaseSettings):
    """Failed password checks allowed per window, counted per account and per
    client address, by every service that takes a password."""

    login_max_failures_per_account: int = Field(default=5, ge=1, le=MAX_LOGIN_FAILURES)
    login_max_failures_per_ip: int = Field(default=30, ge=1, le=MAX_LOGIN_FAILURES)
    login_failure_window_seconds: int = Field(default=900, ge=1, le=MAX_LOGIN_WINDOW_SECONDS)
