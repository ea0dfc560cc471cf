"""argon2id hashing off the event loop, at most one hash per core at a time."""

from __future__ import annotations

import os

import anyio
from argon2 import PasswordHasher as _Argon2
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError
from prometheus_client import Counter

# OWASP's minimum argon2id profile: 19 MiB, 2 passes, 1 lane.
OWASP_MEMORY_KIB = 19456
OWASP_TIME_COST = 2


# Every argon2id verification done, against a stored hash or the dummy one:
# the CPU that password checks cost, and proof that an unknown email costs one
# verification like a wrong password (tests/e2e/test_throttling.py).
VERIFICATIONS = Counter(
    "password_verifications", "argon2id password verifications (stored or dummy hash)."
)


class PasswordHasher:
    def __init__(
        self,
        *,
        memory_kib: int = OWASP_MEMORY_KIB,
        time_cost: int = OWASP_TIME_COST,
        parallelism: int = 1,
    ) -> None:
        self._argon2 = _Argon2(time_cost=time_cost, memory_cost=memory_kib, parallelism=parallelism)
        # One hash at a time per core: more threads would only queue inside the
        # CPU and multiply the memory each hash holds.
        self._limiter = anyio.CapacityLimiter(os.cpu_count() or 1)
        # Verified when there is no stored hash (an unknown email), so a failed
        # check costs the same time whether or not the account exists.
        self._dummy_hash = self._argon2.hash("not-a-real-password-" + os.urandom(8).hex())

    async def hash(self, password: str) -> str:
        return await anyio.to_thread.run_sync(self._argon2.hash, password, limiter=self._limiter)

    async def verify(self, password_hash: str | None, password: str) -> bool:
        """False for a wrong password, a malformed hash, or no hash at all."""
        return await anyio.to_thread.run_sync(
            self._verify, password_hash or self._dummy_hash, password, limiter=self._limiter
        )

    def needs_rehash(self, password_hash: str) -> bool:
        """True when the hash was made with other parameters than the current ones."""
        try:
            return bool(self._argon2.check_needs_rehash(password_hash))
        except InvalidHashError:
            return True

    def _verify(self, password_hash: str, password: str) -> bool:
        VERIFICATIONS.inc()
        try:
            return bool(self._argon2.verify(password_hash, password))
        except (VerifyMismatchError, VerificationError, InvalidHashError):
            return False
