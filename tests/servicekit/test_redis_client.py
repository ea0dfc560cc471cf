"""The shared Redis client against the stack's real Redis."""

from __future__ import annotations

import asyncio
import uuid

from servicekit.redis_client import create_redis
from servicekit.settings import RedisSettings
from tests.conftest import StackInfo


async def test_more_concurrent_commands_than_connections_wait_for_a_free_one(
    stack: StackInfo,
) -> None:
    """A burst larger than the pool is served, not refused: a refusal would
    send every cache read of the burst to the database instead."""
    # generous socket timeouts: this is about waiting for the pool, on a busy machine
    settings = RedisSettings(redis_url=stack.redis_url, redis_timeout_seconds=5)
    redis = create_redis(settings, max_connections=4)
    key = f"test:pool:{uuid.uuid4().hex}"
    try:
        await redis.set(key, "1", ex=60)
        results = await asyncio.gather(*(redis.get(key) for _ in range(200)))
        assert results == ["1"] * 200
        pool = redis.connection_pool
        assert len(pool._available_connections) + len(pool._in_use_connections) <= 4
    finally:
        await redis.delete(key)
        await redis.aclose()
