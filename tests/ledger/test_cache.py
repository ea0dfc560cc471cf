"""The ledger cache against the real Redis of the test stack."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from decimal import Decimal

import pytest
from redis.asyncio import Redis

from ledger.cache import GONE, CachedBalance, CachedDashboard, LedgerCache
from servicekit.redis_pipe import RedisPipe
from tests.conftest import StackInfo

# How long the tests' clients wait for Redis: long enough for a Redis that
# answers at all to answer, on a busy machine too; and next to nothing while
# their writes are held, so that these time out at once.
PATIENT_SECONDS, IMPATIENT_SECONDS = 5.0, 0.05


@pytest.fixture
async def redis(stack: StackInfo) -> AsyncIterator[Redis]:
    client = Redis.from_url(stack.redis_url, decode_responses=True, socket_timeout=PATIENT_SECONDS)
    yield client
    await client.aclose()


@pytest.fixture(params=["redis-py", "pipe"])
async def new_cache(
    request: pytest.FixtureRequest, stack: StackInfo
) -> AsyncIterator[Callable[[Redis], LedgerCache]]:
    """Caches on a client the test gives: writes through redis-py alone, or
    through the pipelined connection first (as the ledger runs), which every
    test must hold to the same outcomes."""
    pipes: list[RedisPipe] = []

    def make(client: Redis) -> LedgerCache:
        if request.param == "redis-py":
            return LedgerCache(client, ttl_seconds=60)
        kwargs = client.connection_pool.connection_kwargs
        url = f"redis://{kwargs['host']}:{kwargs['port']}/{kwargs.get('db', 0)}"
        pipe = RedisPipe(url, timeout=kwargs.get("socket_timeout") or PATIENT_SECONDS)
        pipes.append(pipe)
        client.pipe = pipe  # type: ignore[attr-defined]  # for _answer_within
        return LedgerCache(client, ttl_seconds=60, pipe=pipe)

    yield make
    for pipe in pipes:
        await pipe.aclose()


def _balance(account_id: uuid.UUID, amount: str, version: int) -> CachedBalance:
    return CachedBalance(
        account_id=account_id,
        currency="USD",
        balance=Decimal(amount),
        version=version,
        as_of="2026-11-22T08:00:00+00:00",
    )


async def test_an_older_balance_never_overwrites_a_newer_one(
    redis: Redis, new_cache: Callable[[Redis], LedgerCache]
) -> None:
    cache = new_cache(redis)
    user, account = uuid.uuid4(), uuid.uuid4()
    # a writer stores v2, then a slow reader arrives with the v1 it read earlier
    await cache.written(user, [_balance(account, "20.00", 2)], ledger_version=2)
    await cache.fill_balance(user, _balance(account, "10.00", 1))
    cached = await cache.balance(user, account)
    assert isinstance(cached, CachedBalance)
    assert (cached.balance, cached.version) == (Decimal("20.00"), 2)

    await cache.written(user, [_balance(account, "30.00", 3)], ledger_version=3)
    cached = await cache.balance(user, account)
    assert isinstance(cached, CachedBalance)
    assert (cached.balance, cached.version) == (Decimal("30.00"), 3)


async def test_entries_are_scoped_by_user_and_expire(
    redis: Redis, new_cache: Callable[[Redis], LedgerCache]
) -> None:
    cache = new_cache(redis)
    owner, stranger, account = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
    await cache.fill_balance(owner, _balance(account, "5.00", 1))
    assert await cache.balance(stranger, account) is None
    assert 0 < await redis.ttl(f"bal:{owner}:{account}") <= 60


async def test_a_write_hides_every_older_dashboard(
    redis: Redis, new_cache: Callable[[Redis], LedgerCache]
) -> None:
    cache = new_cache(redis)
    user = uuid.uuid4()
    await cache.fill_dashboard(user, CachedDashboard(version=4, body=b'{"v":4}'))
    assert await cache.dashboard(user) == CachedDashboard(version=4, body=b'{"v":4}')
    # a write at version 5: the v4 body is gone, and a reader that computed v4
    # before the write cannot put it back
    await cache.written(user, [], ledger_version=5)
    assert await cache.dashboard(user) is None
    await cache.fill_dashboard(user, CachedDashboard(version=4, body=b'{"v":4}'))
    assert await cache.dashboard(user) is None
    await cache.fill_dashboard(user, CachedDashboard(version=5, body=b'{"v":5}'))
    assert await cache.dashboard(user) == CachedDashboard(version=5, body=b'{"v":5}')
    # a floor raised by an older write (answered late) changes nothing
    await cache.written(user, [], ledger_version=3)
    assert await cache.dashboard(user) == CachedDashboard(version=5, body=b'{"v":5}')


async def test_a_fill_that_arrives_before_the_writes_floor_is_dropped_by_it(
    redis: Redis,
    new_cache: Callable[[Redis], LedgerCache],
) -> None:
    cache = new_cache(redis)
    user = uuid.uuid4()
    await cache.fill_dashboard(user, CachedDashboard(version=7, body=b"old"))
    await cache.written(user, [], ledger_version=8)
    assert await cache.dashboard(user) is None


async def test_redis_unreachable_means_a_miss_and_a_queued_update(
    redis: Redis, new_cache: Callable[[Redis], LedgerCache]
) -> None:
    dead = Redis.from_url(
        "redis://127.0.0.1:1/0",
        decode_responses=True,
        socket_connect_timeout=0.05,
        socket_timeout=0.05,
    )
    cache = new_cache(dead)
    user, account = uuid.uuid4(), uuid.uuid4()
    await cache.written(user, [_balance(account, "1.00", 1)], ledger_version=1)
    assert await cache.balance(user, account) is None
    assert await cache.dashboard(user) is None
    assert cache.pending == 2  # the balance and the dashboard floor
    await cache.repair()
    assert cache.pending == 2  # still unreachable: kept for the next round
    await dead.aclose()


async def _answer_within(client: Redis, seconds: float) -> None:
    """From its next command on, `client` (and its cache's pipe) gives up on
    Redis after `seconds`."""
    pool = client.connection_pool
    await pool.disconnect()
    pool.connection_kwargs["socket_timeout"] = seconds
    pool.reset()  # type: ignore[no-untyped-call]  # new connections, made with that timeout
    pipe: RedisPipe | None = getattr(client, "pipe", None)
    if pipe is not None:
        pipe.timeout = seconds


@asynccontextmanager
async def _writes_held(redis: Redis, *clients: Redis) -> AsyncIterator[None]:
    """Redis holds every write (scripts included) until the block ends, and
    `clients` give up on one at once: to them Redis stops answering. Ended
    explicitly (CLIENT UNPAUSE), not by a timer that a slow machine could
    outlast or fall short of; the pause's own timeout only guards against a
    test that dies inside the block."""
    for client in clients:
        await _answer_within(client, IMPATIENT_SECONDS)
    await redis.client_pause(60_000, all=False)  # WRITE: reads and UNPAUSE still run
    try:
        yield
    finally:
        await redis.client_unpause()
        for client in clients:
            await _answer_within(client, PATIENT_SECONDS)


async def test_queued_updates_reach_redis_when_it_answers_again(
    redis: Redis, stack: StackInfo, new_cache: Callable[[Redis], LedgerCache]
) -> None:
    client = Redis.from_url(stack.redis_url, decode_responses=True, socket_timeout=PATIENT_SECONDS)
    cache = new_cache(client)
    user, account = uuid.uuid4(), uuid.uuid4()
    await cache.fill_balance(user, _balance(account, "1.00", 1))
    await cache.fill_dashboard(user, CachedDashboard(version=1, body=b"v1"))
    assert await cache.balance(user, account) is not None  # the fills landed
    assert await cache.dashboard(user) is not None
    # Redis stops answering for a moment: the write's updates time out...
    async with _writes_held(redis, client):
        await cache.written(user, [_balance(account, "2.00", 2)], ledger_version=2)
        assert cache.pending == 2
    # ...and the repair runs once it answers again: the old balance is gone (the
    # next read fills it from the database), and so is the old dashboard
    await cache.repair()
    assert cache.pending == 0
    assert await cache.dashboard(user) is None
    assert await cache.balance(user, account) is None
    await client.aclose()


async def test_a_late_repair_never_brings_back_an_older_balance(
    redis: Redis, stack: StackInfo, new_cache: Callable[[Redis], LedgerCache]
) -> None:
    """Two replicas each acknowledge a write while Redis is unreachable to them;
    whichever repairs first, no reader is served the older balance."""
    clients = [
        Redis.from_url(stack.redis_url, decode_responses=True, socket_timeout=PATIENT_SECONDS)
        for _ in range(2)
    ]
    replicas = [new_cache(client) for client in clients]
    user, account = uuid.uuid4(), uuid.uuid4()
    async with _writes_held(redis, *clients):
        await replicas[0].written(user, [_balance(account, "89.99", 2)], ledger_version=2)
        await replicas[1].written(user, [_balance(account, "89.98", 3)], ledger_version=3)
        assert (replicas[0].pending, replicas[1].pending) == (2, 2)  # both writes were lost
    await replicas[0].repair()  # the replica with the older write repairs first
    cached = await replicas[1].balance(user, account)
    assert cached is None or (isinstance(cached, CachedBalance) and cached.version == 3)
    await replicas[1].repair()
    for client in clients:
        await client.aclose()


async def test_a_deleted_account_stays_gone_even_for_a_late_reader(
    redis: Redis, new_cache: Callable[[Redis], LedgerCache]
) -> None:
    cache = new_cache(redis)
    user, account = uuid.uuid4(), uuid.uuid4()
    await cache.written(user, [_balance(account, "9.00", 3)], ledger_version=3)
    await cache.written(user, [], ledger_version=4, deleted_accounts=[account])
    assert await cache.balance(user, account) is GONE
    # a reader that fetched the account just before the delete cannot revive it
    await cache.fill_balance(user, _balance(account, "9.00", 3))
    assert await cache.balance(user, account) is GONE


async def test_entries_this_code_did_not_write_are_misses_and_get_replaced(
    redis: Redis, new_cache: Callable[[Redis], LedgerCache]
) -> None:
    cache = new_cache(redis)
    user, account = uuid.uuid4(), uuid.uuid4()
    await redis.hset(f"bal:{user}:{account}", mapping={"version": "abc", "balance": "x"})
    await redis.hset(f"dash:{user}", mapping={"version": "abc", "floor": "1", "body": "{}"})
    assert await cache.balance(user, account) is None
    assert await cache.dashboard(user) is None
    await cache.written(user, [_balance(account, "1.00", 2)], ledger_version=2)
    assert cache.pending == 0
    cached = await cache.balance(user, account)
    assert isinstance(cached, CachedBalance)
    assert cached.version == 2
    assert await cache.dashboard(user) is None


async def test_a_script_redis_forgot_is_loaded_again_and_the_update_lands(
    redis: Redis, new_cache: Callable[[Redis], LedgerCache]
) -> None:
    """After a Redis restart its scripts are gone: an update sent by the script's
    digest is refused, and must still land (redis-py loads the script again)."""
    cache = new_cache(redis)
    user, account = uuid.uuid4(), uuid.uuid4()
    await cache.written(user, [_balance(account, "1.00", 1)], ledger_version=1)
    await redis.script_flush()
    await cache.written(user, [_balance(account, "2.00", 2)], ledger_version=2)
    cached = await cache.balance(user, account)
    assert isinstance(cached, CachedBalance)
    assert (cached.balance, cached.version) == (Decimal("2.00"), 2)
    assert cache.pending == 0
