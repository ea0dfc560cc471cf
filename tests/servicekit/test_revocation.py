"""RevocationList against the test stack's Redis: when it trusts Redis, and when
it must ask the database instead."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from typing import Any

import pytest
from redis.asyncio import Redis
from redis.asyncio.client import Pipeline

from servicekit.revocation import SENTINEL, RevocationList
from tests.conftest import StackInfo


class Database:
    """Stands in for db-gateway's answer, and counts how often it is asked."""

    def __init__(self, revoked: set[uuid.UUID]) -> None:
        self.revoked = revoked
        self.asked = 0

    async def __call__(self, session_id: uuid.UUID) -> bool:
        self.asked += 1
        return session_id in self.revoked


@pytest.fixture
async def redis(stack: StackInfo) -> AsyncIterator[Redis]:
    client = Redis.from_url(stack.redis_url, decode_responses=True)
    yield client
    await client.aclose()


async def test_a_marker_is_enough_and_no_marker_is_trusted_only_while_synced(
    redis: Redis,
) -> None:
    revoked, live = uuid.uuid4(), uuid.uuid4()
    database = Database({revoked})
    revocations = RevocationList(
        redis, fallback=database, marker_ttl_seconds=60, sentinel_ttl_seconds=30
    )
    await revocations.sync([revoked])
    assert await revocations.is_revoked(revoked)
    assert not await revocations.is_revoked(live)
    assert database.asked == 0

    await redis.delete(SENTINEL)  # the sync stopped, or Redis was restarted
    assert not await revocations.is_revoked(live)
    assert database.asked == 1
    await redis.delete(f"revoked:{revoked}")
    assert await revocations.is_revoked(revoked)
    assert database.asked == 2


async def test_redis_unreachable_means_asking_the_database() -> None:
    dead = Redis.from_url("redis://127.0.0.1:1/0", socket_connect_timeout=0.2, socket_timeout=0.2)
    revoked = uuid.uuid4()
    database = Database({revoked})
    revocations = RevocationList(dead, fallback=database, marker_ttl_seconds=60)
    assert await revocations.is_revoked(revoked)
    assert not await revocations.is_revoked(uuid.uuid4())
    assert database.asked == 2
    await revocations.mark([revoked])  # best effort: does not raise
    await dead.aclose()


async def test_markers_expire_after_the_longest_token_lifetime(redis: Redis) -> None:
    session_id = uuid.uuid4()
    revocations = RevocationList(redis, fallback=Database(set()), marker_ttl_seconds=905)
    await revocations.mark([session_id])
    assert 900 < await redis.ttl(f"revoked:{session_id}") <= 905


async def test_a_flush_during_a_sync_never_leaves_the_sentinel_vouching_for_lost_markers(
    redis: Redis, stack: StackInfo, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Before every round trip the sync makes, another client wipes the marker
    (as a FLUSHALL or a restart would): whenever the sentinel ends up set, the
    marker it vouches for must be there."""
    revoked = uuid.uuid4()
    marker = f"revoked:{revoked}"
    other = Redis.from_url(stack.redis_url, decode_responses=True)
    original = Pipeline.execute
    round_trips = 0

    async def wipe_first(self: Pipeline, raise_on_error: bool = True) -> Any:
        nonlocal round_trips
        round_trips += 1
        await other.delete(marker, SENTINEL)
        return await original(self, raise_on_error)

    monkeypatch.setattr(Pipeline, "execute", wipe_first)
    original_set = Redis.set

    def wipe_before_set(self: Redis, *args: Any, **kwargs: Any) -> Any:
        if isinstance(self, Pipeline):  # queued, sent by execute
            return original_set(self, *args, **kwargs)

        async def round_trip() -> Any:
            await other.delete(marker)
            return await original_set(self, *args, **kwargs)

        return round_trip()

    monkeypatch.setattr(Redis, "set", wipe_before_set)
    revocations = RevocationList(redis, fallback=Database(set()), marker_ttl_seconds=60)
    try:
        await revocations.sync([revoked])
    finally:
        monkeypatch.undo()
        await other.aclose()
    assert round_trips >= 1
    if await redis.exists(SENTINEL):
        assert await redis.exists(marker)
