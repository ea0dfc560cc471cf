from pydantic import Field

from servicekit.passwords import OWASP_MEMORY_KIB, OWASP_TIME_COST
from servicekit.settings import (
    InternalTokenSettings,
    JwtSettings,
    LoginThrottleSettings,
    RedisSettings,
    ServiceSettings,
)


class Settings(
    ServiceSettings, JwtSettings, InternalTokenSettings, RedisSettings, LoginThrottleSettings
):
    service_name: str = "auth"
    db_gateway_url: str = "http://db-gateway:8000"
    access_token_ttl_seconds: int = Field(default=900, ge=60, le=3600)
    refresh_token_ttl_days: int = Field(default=30, ge=1, le=365)
    # argon2id at OWASP's minimum profile (19 MiB, 2 passes, 1 lane): each hash
    # holds one core for ~tens of ms, so hashing runs in a bounded thread pool.
    # Raising them is safe: stored hashes are upgraded at the next login.
    argon2_memory_kib: int = Field(default=OWASP_MEMORY_KIB, ge=OWASP_MEMORY_KIB)
    argon2_time_cost: int = Field(default=OWASP_TIME_COST, ge=OWASP_TIME_COST)
    argon2_parallelism: int = Field(default=1, ge=1)
    # How often revocations are copied from the database into Redis.
    revocation_sync_seconds: float = Field(default=1.0, gt=0, le=10)
