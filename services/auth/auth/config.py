from pydantic import Field

from servicekit.settings import InternalTokenSettings, JwtSettings, RedisSettings, ServiceSettings


class Settings(ServiceSettings, JwtSettings, InternalTokenSettings, RedisSettings):
    service_name: str = "auth"
    db_gateway_url: str = "http://db-gateway:8000"
    access_token_ttl_seconds: int = Field(default=900, ge=60, le=3600)
    refresh_token_ttl_days: int = Field(default=30, ge=1, le=365)
    # argon2id at OWASP's minimum profile (19 MiB, 2 passes, 1 lane): each hash
    # holds one core for ~tens of ms, so hashing runs in a bounded thread pool.
    # Raising them is safe: stored hashes are upgraded at the next login.
    argon2_memory_kib: int = Field(default=19456, ge=19456)
    argon2_time_cost: int = Field(default=2, ge=2)
    argon2_parallelism: int = Field(default=1, ge=1)
    # Failed logins allowed per window, counted per account and per client IP.
    login_max_failures_per_account: int = Field(default=5, ge=1)
    login_max_failures_per_ip: int = Field(default=30, ge=1)
    login_failure_window_seconds: int = Field(default=900, ge=1)
    # How often revocations are copied from the database into Redis.
    revocation_sync_seconds: float = Field(default=1.0, gt=0, le=10)
