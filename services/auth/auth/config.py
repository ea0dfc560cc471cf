from pydantic import Field

from servicekit.settings import InternalTokenSettings, JwtSettings, ServiceSettings


class Settings(ServiceSettings, JwtSettings, InternalTokenSettings):
    service_name: str = "auth"
    db_gateway_url: str = "http://db-gateway:8000"
    access_token_ttl_seconds: int = Field(default=900, ge=60, le=3600)
    refresh_token_ttl_days: int = Field(default=30, ge=1, le=365)
    # argon2id at OWASP's minimum profile (19 MiB, 2 passes, 1 lane): each hash
    # holds one core for ~tens of ms, so hashing runs in a bounded thread pool.
    argon2_memory_kib: int = Field(default=19456, ge=19456)
    argon2_time_cost: int = Field(default=2, ge=2)
    argon2_parallelism: int = Field(default=1, ge=1)
