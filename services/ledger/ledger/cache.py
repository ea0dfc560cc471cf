"""Balance cache in Redis with a versioned compare-and-set.

Every balance carries its account's version, bumped in the same DB transaction
as the write that changed it. An entry is only ever replaced by a newer
version, so a slow reader holding an old balance can never overwrite the one a
writer just stored: an acknowledged write is visible to the next read. Redis
trouble never fails a request; the caller falls back to db-gateway.
"""

from __future__ import annotations

import contextlib
import logging
import uuid
from dataclasses import dataclass
from decimal import Decimal

from redis.asyncio import Redis
from redis.exceptions import RedisError

log = logging.getLogger("ledger.cache")

# KEYS[1] = entry; ARGV = version, balance, currency, as_of, ttl seconds
_CAS = """
local current = redis.call('HGET', KEYS[1], 'version')
if current and tonumber(current) >= tonumber(ARGV[1]) then
  return 0
end
redis.call('HSET', KEYS[1], 'version', ARGV[1], 'balance', ARGV[2],
           'currency', ARGV[3], 'as_of', ARGV[4])
redis.call('EXPIRE', KEYS[1], ARGV[5])
return 1
"""


@dataclass(frozen=True, slots=True)
class CachedBalance:
    account_id: uuid.UUID
    currency: str
    balance: Decimal
    version: int
    as_of: str


def _key(user_id: uuid.UUID, account_id: uuid.UUID) -> str:
    # Scoped by user: another user's account id can never hit this entry.
    return f"bal:{user_id}:{account_id}"


class BalanceCache:
    def __init__(self, redis: Redis, *, ttl_seconds: int) -> None:
        self._redis = redis
        self._ttl = ttl_seconds
        self._cas = redis.register_script(_CAS)

    async def get(self, user_id: uuid.UUID, account_id: uuid.UUID) -> CachedBalance | None:
        try:
            entry = await self._redis.hgetall(_key(user_id, account_id))
        except (RedisError, OSError) as exc:
            log.warning("cache read failed; using db-gateway", extra={"error": repr(exc)})
            return None
        if not entry:
            return None
        fields = {str(k): str(v) for k, v in entry.items()}  # decode_responses=True
        return CachedBalance(
            account_id=account_id,
            currency=fields["currency"],
            balance=Decimal(fields["balance"]),
            version=int(fields["version"]),
            as_of=fields["as_of"],
        )

    async def put(self, user_id: uuid.UUID, balance: CachedBalance) -> None:
        key = _key(user_id, balance.account_id)
        args: list[str | int] = [
            balance.version,
            str(balance.balance),
            balance.currency,
            balance.as_of,
            self._ttl,
        ]
        try:
            await self._cas(keys=[key], args=args)
        except (RedisError, OSError) as exc:
            log.warning("cache update failed", extra={"error": repr(exc)})
            # A newer balance could not be stored: drop the older one rather than
            # leave it to be served (if Redis takes this command at all).
            with contextlib.suppress(RedisError, OSError):
                await self._redis.delete(key)

    async def forget_user(self, user_id: uuid.UUID) -> None:
        """Best effort: entries that cannot be deleted now expire with their TTL."""
        try:
            keys = [key async for key in self._redis.scan_iter(match=f"bal:{user_id}:*")]
            if keys:
                await self._redis.delete(*keys)
        except (RedisError, OSError) as exc:
            log.warning("could not drop a deleted user's cache", extra={"error": repr(exc)})
