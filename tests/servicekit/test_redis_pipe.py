"""servicekit.redis_pipe against the test stack's Redis: replies reach the
right callers however many are in flight, refusals are per command, and a
silent, lost or refused Redis is a RedisPipeError, never a wrong answer."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator

import hiredis
import pytest
from redis.asyncio import Redis

from servicekit.redis_pipe import RedisPipe, RedisPipeError, pack
from tests.conftest import StackInfo


@pytest.fixture
async def redis(stack: StackInfo) -> AsyncIterator[Redis]:
    client = Redis.from_url(stack.redis_url, decode_responses=True)
    yield client
    await client.aclose()


@pytest.fixture
async def pipe(stack: StackInfo) -> AsyncIterator[RedisPipe]:
    reads = RedisPipe(stack.redis_url, timeout=2)
    yield reads
    await reads.aclose()


def test_commands_are_packed_as_the_protocol_says() -> None:
    assert pack("HGETALL", "k") == b"*2\r\n$7\r\nHGETALL\r\n$1\r\nk\r\n"
    assert pack("SELECT", 3) == b"*2\r\n$6\r\nSELECT\r\n$1\r\n3\r\n"
    assert pack("SET", "k", "é") == b"*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$2\r\n\xc3\xa9\r\n"


async def test_each_caller_gets_its_own_replies_with_thousands_in_flight(
    pipe: RedisPipe, redis: Redis
) -> None:
    key = f"pipe-test:{uuid.uuid4()}"
    await redis.hset(key, mapping={"a": "1", "b": "é"})
    answers = await asyncio.gather(
        *(pipe.execute([("ECHO", str(i)), ("HGETALL", key), ("EXISTS", key)]) for i in range(2000))
    )
    assert answers == [[str(i), ["a", "1", "b", "é"], 1] for i in range(2000)]
    await redis.delete(key)


async def test_a_refused_command_is_its_own_reply_and_the_others_still_answer(
    pipe: RedisPipe,
) -> None:
    refused, after = await pipe.execute([("NOSUCHCOMMAND",), ("ECHO", "still here")])
    assert isinstance(refused, hiredis.ReplyError)
    assert after == "still here"


async def test_a_silent_redis_is_an_error_in_time_and_the_next_call_works(
    redis: Redis,
) -> None:
    short = RedisPipe(_url(redis), timeout=0.2)
    await short.execute([("PING",)])
    await redis.client_pause(1000, all=True)
    try:
        with pytest.raises(RedisPipeError):
            await short.execute([("PING",)])
    finally:
        await redis.client_unpause()
    # the connection whose replies were late is dropped: no reply can reach
    # the wrong caller; a new one answers
    assert await short.execute([("ECHO", "back")]) == ["back"]
    await short.aclose()


async def test_a_connection_killed_by_redis_fails_its_calls_and_is_replaced(
    pipe: RedisPipe, redis: Redis
) -> None:
    name = f"pipe-{uuid.uuid4().hex[:8]}"
    await pipe.execute([("CLIENT", "SETNAME", name)])
    killed = await redis.client_kill_filter(_id=await _id(redis, name), skipme=True)
    assert killed == 1
    # the loss may be noticed by this call or already before it: never a wrong answer
    try:
        assert await pipe.execute([("ECHO", "x")]) == ["x"]
    except RedisPipeError:
        assert await pipe.execute([("ECHO", "x")]) == ["x"]


async def test_credentials_and_the_database_of_the_url_are_used(
    stack: StackInfo, redis: Redis
) -> None:
    user, password = f"pipe-{uuid.uuid4().hex[:8]}", uuid.uuid4().hex
    await redis.acl_setuser(
        user, enabled=True, passwords=[f"+{password}"], keys=["~*"], commands=["+@all"]
    )
    try:
        host_port = stack.redis_url.split("://", 1)[1].split("/", 1)[0]
        authed = RedisPipe(f"redis://{user}:{password}@{host_port}/3", timeout=2)
        whoami, info = await authed.execute([("ACL", "WHOAMI"), ("CLIENT", "INFO")])
        assert whoami == user
        assert " db=3 " in info
        await authed.aclose()
        wrong = RedisPipe(f"redis://{user}:wrong@{host_port}/0", timeout=2)
        with pytest.raises(RedisPipeError, match="refused"):
            await wrong.execute([("PING",)])
        await wrong.aclose()
    finally:
        await redis.acl_deluser(user)


async def test_an_unreachable_redis_is_an_error() -> None:
    nowhere = RedisPipe("redis://127.0.0.1:1/0", timeout=0.5)
    with pytest.raises(RedisPipeError):
        await nowhere.execute([("PING",)])


def _url(redis: Redis) -> str:
    kwargs = redis.connection_pool.connection_kwargs
    return f"redis://{kwargs['host']}:{kwargs['port']}/{kwargs.get('db', 0)}"


async def _id(redis: Redis, name: str) -> str:
    for client in await redis.client_list():
        if client.get("name") == name:
            return str(client["id"])
    raise AssertionError(f"no client named {name}")
