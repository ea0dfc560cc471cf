"""Instant revocation of access tokens, cheap on the hot path and never wrong.

Access tokens are stateless JWTs that live minutes; a revoked session must stop
working at once, not at expiry. auth writes one Redis marker per revoked
session the moment it revokes it, and every verifier checks for that marker
(one round trip: the marker and the sync sentinel in one pipeline).

Redis holds no data of its own, so markers can be lost (restart, eviction,
a write that failed). The database is the source of truth: auth copies recent
revocations from it into Redis every `sync_interval` seconds and then renews a
sentinel key that expires soon after. A verifier trusts "no marker" only while
the sentinel is present; without it, or with Redis unreachable, it asks
db-gateway. So a revoked token is never accepted: Redis trouble costs speed only.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
import uuid
from collections.abc import Awaitable, Callable, Iterable, Sequence
from typing import Any

import hiredis
from redis.asyncio import Redis
from redis.exceptions import RedisError

from servicekit.http import PeerClient, send
from servicekit.redis_pipe import RedisPipe

log = logging.getLogger("servicekit.revocation")

MARKER_PREFIX = "revoked:"
SENTINEL = "revoked-sync"
SessionCheck = Callable[[uuid.UUID], Awaitable[bool]]
RedisCommand = tuple[Any, ...]  # e.g. ("HGETALL", key)


def _failed(reply: Any) -> bool:
    """A reply Redis refused (redis-py's exception, or hiredis's ReplyError)."""
    return isinstance(reply, Exception | hiredis.ReplyError)


def gateway_session_check(gateway: PeerClient) -> SessionCheck:
    """Ask db-gateway whether a session is revoked (the slow, authoritative path)."""

    async def check(session_id: uuid.UUID) -> bool:
        response = await send(gateway, "GET", f"/internal/sessions/{session_id}/status")
        return bool(response.json()["revoked"])

    return check


class RevocationList:
    def __init__(
        self,
        redis: Redis,
        *,
        fallback: SessionCheck,
        marker_ttl_seconds: int,
        sentinel_ttl_seconds: float = 5.0,
        reads: RedisPipe | None = None,
    ) -> None:
        """`reads`: the pipelined connection the per-request check (and the
        caller's commands with it) goes through; redis-py's pipeline without."""
        self._redis = redis
        self._reads = reads
        self._fallback = fallback
        # A marker only has to outlive the longest-lived access token.
        self._marker_ttl = marker_ttl_seconds
        self._sentinel_ttl_ms = int(sentinel_ttl_seconds * 1000)

    async def is_revoked(self, session_id: uuid.UUID) -> bool:
        revoked, _ = await self.is_revoked_with(session_id, ())
        return revoked

    async def is_revoked_with(
        self, session_id: uuid.UUID, commands: Sequence[RedisCommand]
    ) -> tuple[bool, list[Any] | None]:
        """The revocation check, and the caller's own Redis commands in the same
        round trip (the hot read paths need one anyway). Their results are None
        when Redis failed; the check then asks db-gateway."""
        try:
            if self._reads is not None:
                check = [("EXISTS", SENTINEL), ("EXISTS", MARKER_PREFIX + str(session_id))]
                synced, marked, *results = await self._reads.execute([*check, *commands])
            else:
                async with self._redis.pipeline(transaction=False) as pipe:
                    pipe.exists(SENTINEL)
                    pipe.exists(MARKER_PREFIX + str(session_id))
                    for command in commands:
                        pipe.execute_command(*command)
                    synced, marked, *results = await pipe.execute(raise_on_error=False)
        except (RedisError, OSError) as exc:
            log.warning(
                "revocation list unreachable; asking db-gateway", extra={"error": repr(exc)}
            )
            return await self._fallback(session_id), None
        if _failed(synced) or _failed(marked):
            return await self._fallback(session_id), None
        extra = [None if _failed(r) else r for r in results]
        if marked:
            return True, extra
        if not synced:
            return await self._fallback(session_id), extra
        return False, extra

    async def aclose(self) -> None:
        if self._reads is not None:
            await self._reads.aclose()

    async def mark(self, session_ids: Iterable[uuid.UUID]) -> None:
        """Best effort: a marker that cannot be written now is copied by the next sync."""
        ids = list(session_ids)
        if not ids:
            return
        try:
            await self._write_markers(ids)
        except (RedisError, OSError) as exc:
            log.warning(
                "could not write revocation markers; the sync will",
                extra={"error": repr(exc), "sessions": len(ids)},
            )

    async def sync(self, revoked: Iterable[uuid.UUID]) -> None:
        """Write every recent revocation and vouch for the list with the sentinel,
        in one MULTI/EXEC: a Redis flush or restart lands before both or after
        both, never between them (a sentinel vouching for markers that are gone
        would let a revoked token through until the next round)."""
        async with self._redis.pipeline(transaction=True) as pipe:
            for session_id in revoked:
                pipe.set(MARKER_PREFIX + str(session_id), "1", ex=self._marker_ttl)
            pipe.set(SENTINEL, "1", px=self._sentinel_ttl_ms)
            await pipe.execute()

    async def _write_markers(self, ids: list[uuid.UUID]) -> None:
        async with self._redis.pipeline(transaction=False) as pipe:
            for session_id in ids:
                pipe.set(MARKER_PREFIX + str(session_id), "1", ex=self._marker_ttl)
            await pipe.execute()


async def run_sync_loop(
    revocations: RevocationList,
    fetch: Callable[[dt.datetime], Awaitable[tuple[list[uuid.UUID], dt.datetime]]],
    *,
    interval: float,
    lookback: dt.timedelta,
) -> None:
    """Copy revocations from the database into Redis, forever (cancel to stop).

    Each round asks for everything revoked within `lookback` (longer than an
    access token lives) of the previous round's database time, so a revocation
    committed late, or a marker write that failed, is picked up next round.
    """
    since: dt.datetime | None = None
    while True:
        try:
            start = since or dt.datetime.now(dt.UTC)
            revoked, as_of = await fetch(start - lookback)
            await revocations.sync(revoked)
            since = as_of
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # keep syncing; verifiers fall back meanwhile
            log.warning("revocation sync failed", extra={"error": repr(exc)})
        await asyncio.sleep(interval)
