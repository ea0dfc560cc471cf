"""Balances and dashboards in Redis, never older than an acknowledged write.

Every balance carries its account's version and every dashboard the user's
ledger version, both bumped in the same DB transaction as the write that
changed them. An entry is only ever replaced by a newer version, so a slow
reader holding old data can never overwrite what a writer just stored.

A dashboard cannot be recomputed on every write, so a write instead raises the
entry's `floor` to its ledger version (dropping an older body); a body is
served only if its version reaches the floor.

Redis trouble never fails a request: reads fall back to db-gateway. A write
whose cache update fails retries it; if Redis stays unreachable, a repair is
queued and applied in the background (`repair`) once it answers: the entry is
dropped (the next read fills it from the database), since by then another
replica may have acknowledged a newer write. Until the repair runs, the
entry's TTL bounds how long a replica could serve a value older than a write
acknowledged while Redis was unreachable to it.

Metrics, per cache (`balance`, `dashboard`):
`ledger_cache_lookups_total{cache,result}` — `hit`, `miss` (nothing usable
cached: read from db-gateway and filled) or `fallback` (Redis failed: read
from db-gateway); `ledger_cache_updates_total{cache,outcome}` for the
updates after a write — `written`, `failed` (Redis unreachable after the
retries: queued for repair), `repaired` (a queued update applied later) or
`dropped` (Redis refused the entry, which was deleted).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import uuid
from collections.abc import Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import hiredis
from prometheus_client import Counter
from redis.asyncio import Redis
from redis.commands.core import AsyncScript
from redis.exceptions import RedisError, ResponseError

from servicekit.redis_pipe import RedisPipe, RedisPipeError
from servicekit.revocation import RedisCommand

log = logging.getLogger("ledger.cache")

_lookups = Counter("ledger_cache_lookups", "Cache reads by cache and result.", ("cache", "result"))
_updates = Counter(
    "ledger_cache_updates",
    "Cache updates after a committed write, by cache and outcome.",
    ("cache", "outcome"),
)
CACHES = {"bal": "balance", "dash": "dashboard"}  # key prefix -> cache label
LOOKUP_RESULTS = ("hit", "miss", "fallback")
UPDATE_OUTCOMES = ("written", "failed", "repaired", "dropped")
# resolved once: every value exported at zero from the start
LOOKUPS = {
    cache: {result: _lookups.labels(cache, result) for result in LOOKUP_RESULTS}
    for cache in CACHES.values()
}
UPDATES = {
    prefix: {outcome: _updates.labels(cache, outcome) for outcome in UPDATE_OUTCOMES}
    for prefix, cache in CACHES.items()
}
_BALANCE, _DASHBOARD = LOOKUPS["balance"], LOOKUPS["dashboard"]


def _updates_of(key: str) -> dict[str, Counter]:
    return UPDATES[key.partition(":")[0]]


# KEYS[1] = entry; ARGV = version, ttl, then field/value pairs
_PUT_IF_NEWER = """
local current = tonumber(redis.call('HGET', KEYS[1], 'version'))
local floor = tonumber(redis.call('HGET', KEYS[1], 'floor'))
local version = tonumber(ARGV[1])
if (current and current >= version) or (floor and floor > version) then
  return 0
end
redis.call('HSET', KEYS[1], 'version', ARGV[1], unpack(ARGV, 3))
redis.call('EXPIRE', KEYS[1], ARGV[2])
return 1
"""

# KEYS[1] = entry; ARGV = version, ttl: nothing but the mark that it is gone
_BURY = """
redis.call('DEL', KEYS[1])
redis.call('HSET', KEYS[1], 'version', ARGV[1], 'gone', '1')
redis.call('EXPIRE', KEYS[1], ARGV[2])
return 1
"""

# KEYS[1] = entry; ARGV = version, ttl, then the fields of the body to drop
_RAISE_FLOOR = """
local version = tonumber(ARGV[1])
local floor = tonumber(redis.call('HGET', KEYS[1], 'floor'))
if floor and floor >= version then
  return 0
end
redis.call('HSET', KEYS[1], 'floor', ARGV[1])
local current = tonumber(redis.call('HGET', KEYS[1], 'version'))
if not current or current < version then
  redis.call('HDEL', KEYS[1], 'version', unpack(ARGV, 3))
end
redis.call('EXPIRE', KEYS[1], ARGV[2])
return 1
"""

WRITE_ATTEMPTS = 3
RETRY_PAUSE_SECONDS = 0.05
# The version of a deleted account's entry: higher than any real version, so
# a reader that fetched the account before it was deleted cannot put it back.
TOMBSTONE_VERSION = 2**62


@dataclass(frozen=True, slots=True)
class CachedBalance:
    account_id: uuid.UUID
    currency: str
    balance: Decimal
    version: int
    as_of: str


@dataclass(frozen=True, slots=True)
class Gone:
    """The entry of an account that was deleted."""


GONE = Gone()


@dataclass(frozen=True, slots=True)
class CachedDashboard:
    version: int
    body: bytes


# HGETALL's reply: a mapping through redis-py, the flat [field, value, ...]
# list of the protocol through servicekit.redis_pipe; None when Redis failed
HashReply = Mapping[Any, Any] | list[Any] | None


def _mapping(reply: Mapping[Any, Any] | list[Any]) -> Mapping[Any, Any]:
    return dict(zip(reply[::2], reply[1::2], strict=True)) if isinstance(reply, list) else reply


def _balance_key(user_id: uuid.UUID, account_id: uuid.UUID) -> str:
    # Scoped by user: another user's account id can never hit this entry.
    return f"bal:{user_id}:{account_id}"


def _dashboard_key(user_id: uuid.UUID) -> str:
    return f"dash:{user_id}"


class LedgerCache:
    def __init__(self, redis: Redis, *, ttl_seconds: int, pipe: RedisPipe | None = None) -> None:
        """`pipe`: the connection a write's updates go through together, in one
        round trip (servicekit.redis_pipe); each update that fails there is
        retried through redis-py as below."""
        self._redis = redis
        self._pipe = pipe
        self._ttl = ttl_seconds
        self._put_if_newer = redis.register_script(_PUT_IF_NEWER)
        self._raise_floor = redis.register_script(_RAISE_FLOOR)
        self._bury = redis.register_script(_BURY)
        # updates that could not reach Redis, retried by `repair`
        self._pending: dict[str, Update] = {}

    # ------------------------------------------------------------ reads

    async def balance(
        self, user_id: uuid.UUID, account_id: uuid.UUID
    ) -> CachedBalance | Gone | None:
        try:
            entry = await self._redis.hgetall(_balance_key(user_id, account_id))
        except (RedisError, OSError) as exc:
            log.warning("cache read failed; using db-gateway", extra={"error": repr(exc)})
            entry = None
        return self.parse_balance(account_id, entry)

    def balance_read(self, user_id: uuid.UUID, account_id: uuid.UUID) -> RedisCommand:
        """The Redis command that reads a balance, for callers that batch it with
        their own (see servicekit.jwt.PendingPrincipal.confirm)."""
        return ("HGETALL", _balance_key(user_id, account_id))

    def parse_balance(self, account_id: uuid.UUID, reply: HashReply) -> CachedBalance | Gone | None:
        """`balance_read`'s result; None (Redis failed) is a fallback."""
        if reply is None:
            _BALANCE["fallback"].inc()
            return None
        entry = _mapping(reply)
        if "gone" in entry:
            _BALANCE["hit"].inc()
            return GONE
        try:
            cached = CachedBalance(
                account_id=account_id,
                currency=entry["currency"],
                balance=Decimal(entry["balance"]),
                version=int(entry["version"]),
                as_of=entry["as_of"],
            )
        except (KeyError, ValueError, ArithmeticError):
            _BALANCE["miss"].inc()
            return None  # absent, or not an entry this code wrote: ask the database
        _BALANCE["hit"].inc()
        return cached

    async def dashboard(self, user_id: uuid.UUID) -> CachedDashboard | None:
        try:
            entry = await self._redis.hgetall(_dashboard_key(user_id))
        except (RedisError, OSError) as exc:
            log.warning("cache read failed; using db-gateway", extra={"error": repr(exc)})
            entry = None
        return self.parse_dashboard(entry)

    def dashboard_read(self, user_id: uuid.UUID) -> RedisCommand:
        return ("HGETALL", _dashboard_key(user_id))

    def parse_dashboard(self, reply: HashReply) -> CachedDashboard | None:
        """`dashboard_read`'s result: a body at least as new as the floor, or None."""
        if reply is None:
            _DASHBOARD["fallback"].inc()
            return None
        entry = _mapping(reply)
        try:
            version, body = entry.get("version"), entry.get("body")
            if version is None or body is None or int(version) < int(entry.get("floor") or 0):
                _DASHBOARD["miss"].inc()
                return None
            cached = CachedDashboard(version=int(version), body=body.encode())
        except ValueError:
            _DASHBOARD["miss"].inc()
            return None  # not an entry this code wrote: ask the database
        _DASHBOARD["hit"].inc()
        return cached

    # ------------------------------------------------------------ fills (after a read)

    async def fill_balance(self, user_id: uuid.UUID, balance: CachedBalance) -> None:
        """Best effort, once: a reader's fill can always be done by the next reader."""
        with contextlib.suppress(RedisError, OSError):
            await self._put_balance(user_id, balance)

    async def fill_dashboard(self, user_id: uuid.UUID, dashboard: CachedDashboard) -> None:
        with contextlib.suppress(RedisError, OSError):
            await self._put_if_newer(
                keys=[_dashboard_key(user_id)],
                args=[dashboard.version, self._ttl, "body", dashboard.body.decode()],
            )

    # ------------------------------------------------------------ writes (after a commit)

    async def written(
        self,
        user_id: uuid.UUID,
        balances: Iterable[CachedBalance],
        ledger_version: int,
        *,
        deleted_accounts: Iterable[uuid.UUID] = (),
    ) -> None:
        """What a committed write changed, before the client hears of it: the new
        balances, deleted accounts, and the dashboard floor."""
        # key -> (the update now, and what to do instead if Redis only answers later)
        updates: dict[str, tuple[Update, Update]] = {}
        # key -> the same update as one Redis command, for the pipe
        commands: dict[str, RedisCommand] = {}
        for b in balances:
            key = _balance_key(user_id, b.account_id)
            # Not this balance, later: meanwhile another replica may have
            # acknowledged a newer write whose own update failed too, and this
            # older balance would be served until that one's repair. Dropping
            # the entry is only a miss: the next read fills it from the database.
            updates[key] = (_bind(self._put_balance, user_id, b), _bind(self._forget, key))
            commands[key] = self._evalsha(self._put_if_newer, key, self._balance_args(b))
        for account_id in deleted_accounts:
            # a tombstone and the dashboard floor only ever move forward: as they are
            key = _balance_key(user_id, account_id)
            bury = _bind(self._put_tombstone, user_id, account_id)
            updates[key] = (bury, bury)
            commands[key] = self._evalsha(self._bury, key, [TOMBSTONE_VERSION, self._ttl])
        key = _dashboard_key(user_id)
        floor = _bind(self._raise_dashboard_floor, user_id, ledger_version)
        updates[key] = (floor, floor)
        commands[key] = self._evalsha(self._raise_floor, key, [ledger_version, self._ttl, "body"])
        if self._pipe is not None:
            updates = await self._through_pipe(self._pipe, updates, commands)
        await asyncio.gather(
            *(self._write(key, now, later) for key, (now, later) in updates.items())
        )

    async def _through_pipe(
        self,
        pipe: RedisPipe,
        updates: dict[str, tuple[Update, Update]],
        commands: dict[str, RedisCommand],
    ) -> dict[str, tuple[Update, Update]]:
        """Every update in one round trip; the ones that did not take (Redis
        unreachable, a script it no longer holds, a refused entry) are left for
        redis-py's retries and repairs."""
        keys = list(updates)
        try:
            replies = await pipe.execute([commands[key] for key in keys])
        except RedisPipeError:
            return updates
        left = {}
        for key, reply in zip(keys, replies, strict=True):
            if isinstance(reply, hiredis.ReplyError):
                left[key] = updates[key]
            else:
                _updates_of(key)["written"].inc()
                self._pending.pop(key, None)
        return left

    @staticmethod
    def _evalsha(script: AsyncScript, key: str, args: list[Any]) -> RedisCommand:
        return ("EVALSHA", script.sha, 1, key, *args)

    def _balance_args(self, balance: CachedBalance) -> list[Any]:
        return [
            balance.version,
            self._ttl,
            "balance",
            str(balance.balance),
            "currency",
            balance.currency,
            "as_of",
            balance.as_of,
        ]

    async def forget_user(self, user_id: uuid.UUID) -> None:
        """Best effort: entries that cannot be deleted now expire with their TTL."""
        try:
            keys = [key async for key in self._redis.scan_iter(match=f"bal:{user_id}:*")]
            await self._redis.delete(_dashboard_key(user_id), *keys)
        except (RedisError, OSError) as exc:
            log.warning("could not drop a deleted user's cache", extra={"error": repr(exc)})

    async def repair(self) -> None:
        """Retry the updates that could not reach Redis (call periodically)."""
        for key, update in list(self._pending.items()):
            try:
                await update()
            except ResponseError:
                _updates_of(key)["dropped"].inc()
                await self._drop(key)  # Redis answered: the entry itself is bad
            except (RedisError, OSError):
                return  # still unreachable; next round
            else:
                _updates_of(key)["repaired"].inc()
            if self._pending.get(key) is update:
                del self._pending[key]

    @property
    def pending(self) -> int:
        return len(self._pending)

    async def _forget(self, key: str) -> None:
        await self._redis.delete(key)

    async def _write(self, key: str, update: Update, repair: Update) -> None:
        for attempt in range(WRITE_ATTEMPTS):
            try:
                await update()
            except ResponseError as exc:
                _updates_of(key)["dropped"].inc()
                log.warning("cache entry refused an update; dropped", extra={"error": repr(exc)})
                await self._drop(key)
                return
            except (RedisError, OSError) as exc:
                if attempt == WRITE_ATTEMPTS - 1:
                    _updates_of(key)["failed"].inc()
                    log.warning(
                        "cache update failed; queued for repair",
                        extra={"error": repr(exc), "key": key.split(":")[0]},
                    )
                    self._pending[key] = repair
                    return
                await asyncio.sleep(RETRY_PAUSE_SECONDS * (attempt + 1))
            else:
                _updates_of(key)["written"].inc()
                self._pending.pop(key, None)
                return

    async def _put_balance(self, user_id: uuid.UUID, balance: CachedBalance) -> None:
        await self._put_if_newer(
            keys=[_balance_key(user_id, balance.account_id)], args=self._balance_args(balance)
        )

    async def _put_tombstone(self, user_id: uuid.UUID, account_id: uuid.UUID) -> None:
        await self._bury(
            keys=[_balance_key(user_id, account_id)], args=[TOMBSTONE_VERSION, self._ttl]
        )

    async def _drop(self, key: str) -> None:
        self._pending.pop(key, None)
        with contextlib.suppress(RedisError, OSError):
            await self._redis.delete(key)

    async def _raise_dashboard_floor(self, user_id: uuid.UUID, version: int) -> None:
        await self._raise_floor(keys=[_dashboard_key(user_id)], args=[version, self._ttl, "body"])


Update = Callable[[], Awaitable[Any]]


def _bind(func: Callable[..., Awaitable[Any]], *args: Any) -> Update:
    async def call() -> Any:
        return await func(*args)

    return call


async def run_repair_loop(cache: LedgerCache, *, interval: float = 0.5) -> None:
    """Retry queued cache updates forever (cancel to stop)."""
    while True:
        await asyncio.sleep(interval)
        if cache.pending:
            try:
                await cache.repair()
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # never let the loop die
                log.warning("cache repair failed", extra={"error": repr(exc)})
