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
    # Lifetime of cached balances and dashboards. Also bounds how long another
    # replica could serve an entry older than a write whose cache update could
    # not reach Redis (see ledger.cache).
    balance_cache_ttl_seconds: int = Field(default=300, ge=1)
