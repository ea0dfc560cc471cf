"""One pipelined Redis connection for the hottest reads.

Every authenticated request checks its session against the revocation list,
and the balance and dashboard reads fetch their cache entry in the same round
trip. Through redis-py that round trip cost ~160 µs of CPU (its pool, asyncio
streams and a timeout context per read), more than the rest of a cached read;
the same bytes over one asyncio connection cost ~40 µs. So these reads share
one connection per process: each call writes its commands at once (Redis
answers in order) and waits for its replies, parsed by hiredis, redis-py's own
parser. Everything else (writes, scripts, the revocation sync) stays on
redis-py.

A call that gets no answer within `timeout` fails with RedisPipeError, as
does every call on a connection that breaks; callers treat that as "Redis is
unavailable" (the revocation check asks db-gateway, the cache misses). The
connection is opened again on the next call. Credentials and the database
come from the same REDIS_URL redis-py uses.
"""

from __future__ import annotations

import asyncio
import collections
from collections.abc import Sequence
from typing import Any, cast
from urllib.parse import unquote, urlsplit

import hiredis

from servicekit import tracing


class RedisPipeError(ConnectionError):
    """Redis did not answer (unreachable, closed the connection, or too slow)."""


def pack(*args: str | bytes | int) -> bytes:
    """A command in the Redis protocol (RESP)."""
    out = [b"*%d\r\n" % len(args)]
    for arg in args:
        data = arg if isinstance(arg, bytes) else str(arg).encode()
        out.append(b"$%d\r\n%s\r\n" % (len(data), data))
    return b"".join(out)


class _Protocol(asyncio.Protocol):
    def __init__(self) -> None:
        self.reader = hiredis.Reader(encoding="utf-8", errors="replace")
        # one future per reply still due, in the order the commands were sent
        self.waiting: collections.deque[asyncio.Future[Any]] = collections.deque()
        self.transport: asyncio.Transport | None = None
        self.lost: BaseException | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # uvloop's transports are not asyncio.Transport subclasses, but are ones
        self.transport = cast(asyncio.Transport, transport)

    def data_received(self, data: bytes) -> None:
        self.reader.feed(data)
        while self.waiting:
            reply = self.reader.gets()
            if reply is False:
                return
            future = self.waiting.popleft()
            if not future.done():
                future.set_result(reply)

    def connection_lost(self, exc: Exception | None) -> None:
        self.lost = exc or RedisPipeError("Redis closed the connection")
        self.fail(RedisPipeError(f"Redis connection lost: {self.lost!r}"))

    def fail(self, error: BaseException) -> None:
        while self.waiting:
            future = self.waiting.popleft()
            if not future.done():
                future.set_exception(error)

    def send(self, data: bytes, replies: int) -> list[asyncio.Future[Any]]:
        assert self.transport is not None
        loop = asyncio.get_running_loop()
        futures = [loop.create_future() for _ in range(replies)]
        self.waiting.extend(futures)
        self.transport.write(data)
        return futures


class RedisPipe:
    def __init__(self, url: str, *, timeout: float) -> None:
        parts = urlsplit(url)
        if parts.scheme != "redis":
            raise ValueError(f"only redis:// URLs are supported, not {parts.scheme}://")
        self._host = parts.hostname or "localhost"
        self._port = parts.port or 6379
        self._setup: list[bytes] = []
        if parts.password is not None:
            user = unquote(parts.username) if parts.username else "default"
            self._setup.append(pack("AUTH", user, unquote(parts.password)))
        database = parts.path.strip("/")
        if database and database != "0":
            self._setup.append(pack("SELECT", int(database)))
        self.timeout = timeout  # seconds for a call's replies (and for connecting)
        self._protocol: _Protocol | None = None
        self._connecting: asyncio.Future[_Protocol] | None = None

    async def _connection(self) -> _Protocol:
        protocol = self._protocol
        if protocol is not None and protocol.lost is None:
            return protocol
        if self._connecting is None:
            self._connecting = asyncio.ensure_future(self._connect())
        try:
            return await asyncio.shield(self._connecting)
        finally:
            if self._connecting is not None and self._connecting.done():
                self._connecting = None

    async def _connect(self) -> _Protocol:
        loop = asyncio.get_running_loop()
        try:
            async with asyncio.timeout(self.timeout):
                _, protocol = await loop.create_connection(_Protocol, self._host, self._port)
                for command in self._setup:
                    (reply,) = protocol.send(command, 1)
                    answer = await reply
                    if isinstance(answer, hiredis.ReplyError):
                        assert protocol.transport is not None
                        protocol.transport.close()
                        raise RedisPipeError(f"Redis refused the connection setup: {answer}")
        except (OSError, TimeoutError) as exc:
            raise RedisPipeError(f"Redis unreachable: {exc!r}") from exc
        self._protocol = protocol
        return protocol

    async def execute(self, commands: Sequence[Sequence[str | bytes | int]]) -> list[Any]:
        """The replies of `commands`, sent in one write; a command Redis refused
        gives its hiredis.ReplyError as its reply (as redis-py's
        `raise_on_error=False`). RedisPipeError if Redis did not answer them all."""
        with tracing.redis_span([str(command[0]) for command in commands]):
            protocol = await self._connection()
            data = b"".join(pack(*command) for command in commands)
            futures = protocol.send(data, len(commands))
            try:
                async with asyncio.timeout(self.timeout):
                    return [await future for future in futures]
            except TimeoutError as exc:
                # the replies still due would reach the wrong calls: drop the connection
                self._reset(protocol, RedisPipeError("Redis did not answer in time"))
                raise RedisPipeError("Redis did not answer in time") from exc

    def _reset(self, protocol: _Protocol, error: RedisPipeError) -> None:
        protocol.lost = error
        protocol.fail(error)
        if protocol.transport is not None:
            protocol.transport.close()
        if self._protocol is protocol:
            self._protocol = None

    async def aclose(self) -> None:
        if self._protocol is not None:
            self._reset(self._protocol, RedisPipeError("closed"))
