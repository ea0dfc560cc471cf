from pydantic import Field

from servicekit.settings import InternalTokenSettings, JwtSettings, ServiceSettings


class Settings(ServiceSettings, JwtSettings, InternalTokenSettings):
    service_name: str = "ledger"
    db_gateway_url: str = "http://db-gateway:8000"
    redis_url: str = "redis://redis:6379/0"
    # Bounds how long an entry can outlive a write whose cache update failed
    # (Redis unreachable at that moment but reachable again for the next read).
    balance_cache_ttl_seconds: int = Field(default=300, ge=1)
    redis_timeout_seconds: float = Field(default=0.25, gt=0)
