from pydantic import Field

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
    service_name: str = "ledger"
    db_gateway_url: str = "http://db-gateway:8000"
    # Bounds how long an entry can outlive a write whose cache update failed
    # (Redis unreachable at that moment but reachable again for the next read).
    balance_cache_ttl_seconds: int = Field(default=300, ge=1)
