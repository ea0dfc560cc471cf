"""The balance cache against the real Redis of the test stack."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from decimal import Decimal

import pytest
from redis.asyncio import Redis

from ledger.cache import BalanceCache, CachedBalance
from tests.conftest import StackInfo


@pytest.fixture
async def redis(stack: StackInfo) -> AsyncIterator[Redis]:
    client = Redis.from_url(stack.redis_url, decode_responses=True, socket_timeout=1)
    yield client
    await client.aclose()


def _balance(account_id: uuid.UUID, amount: str, version: int) -> CachedBalance:
    return CachedBalance(
        account_id=account_id,
        currency="USD",
        balance=Decimal(amount),
        version=version,
        as_of="2026-11-22T08:00:00+00:00",
    )


async def test_an_older_version_never_overwrites_a_newer_one(redis: Redis) -> None:
    cache = BalanceCache(redis, ttl_seconds=60)
    user, account = uuid.uuid4(), uuid.uuid4()
    # a writer stores v2, then a slow reader arrives with the v1 it read earlier
    await cache.put(user, _balance(account, "20.00", 2))
    await cache.put(user, _balance(account, "10.00", 1))
    cached = await cache.get(user, account)
    assert cached is not None
    assert (cached.balance, cached.version) == (Decimal("20.00"), 2)

    await cache.put(user, _balance(account, "30.00", 3))
    cached = await cache.get(user, account)
    assert cached is not None
    assert (cached.balance, cached.version) == (Decimal("30.00"), 3)


async def test_entries_are_scoped_by_user_and_expire(redis: Redis) -> None:
    cache = BalanceCache(redis, ttl_seconds=60)
    owner, stranger, account = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
    await cache.put(owner, _balance(account, "5.00", 1))
    assert await cache.get(stranger, account) is None
    assert 0 < await redis.ttl(f"bal:{owner}:{account}") <= 60


async def test_redis_unreachable_means_a_miss_not_an_error() -> None:
    dead = Redis.from_url(
        "redis://127.0.0.1:1/0",
        decode_responses=True,
        socket_connect_timeout=0.2,
        socket_timeout=0.2,
    )
    cache = BalanceCache(dead, ttl_seconds=60)
    user, account = uuid.uuid4(), uuid.uuid4()
    await cache.put(user, _balance(account, "1.00", 1))
    assert await cache.get(user, account) is None
    await dead.aclose()
