"""The Redis client every service builds the same way."""

from __future__ import annotations

from redis.asyncio import BlockingConnectionPool, Redis

from servicekit.redis_pipe import RedisPipe
from servicekit.settings import RedisSettings

# How long a command may wait for one of the pool's connections. A full pool
# means this process already has max_connections commands in flight (each takes
# well under a millisecond in Redis), so waiting briefly is cheaper than the
# fallback (a round trip to db-gateway) that an immediate error would trigger.
POOL_WAIT_SECONDS = 2.0


def create_redis(settings: RedisSettings, *, max_connections: int = 64) -> Redis:
    """A client whose pool is bounded and *waits* when full: the default pool
    raises MaxConnectionsError at once instead, which under a burst of
    concurrent requests turned cache hits into database calls."""
    pool = BlockingConnectionPool.from_url(
        settings.redis_url,
        max_connections=max_connections,
        timeout=POOL_WAIT_SECONDS,
        socket_timeout=settings.redis_timeout_seconds,
        socket_connect_timeout=settings.redis_timeout_seconds,
        decode_responses=True,
        health_check_interval=30,
    )
    return Redis.from_pool(pool)


def create_redis_pipe(settings: RedisSettings) -> RedisPipe:
    """The pipelined connection for the per-request reads (servicekit.redis_pipe)."""
    return RedisPipe(settings.redis_url, timeout=settings.redis_timeout_seconds)
