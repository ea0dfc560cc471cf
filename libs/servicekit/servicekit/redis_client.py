"""The Redis client every service builds the same way."""

from __future__ import annotations

from redis.asyncio import Redis

from servicekit.settings import RedisSettings


def create_redis(settings: RedisSettings, *, max_connections: int = 64) -> Redis:
    return Redis.from_url(
        settings.redis_url,
        socket_timeout=settings.redis_timeout_seconds,
        socket_connect_timeout=settings.redis_timeout_seconds,
        max_connections=max_connections,
        decode_responses=True,
        health_check_interval=30,
    )
