"""argon2id hashing off the event loop, a fixed cost for unknown users, and a
refusal of the passwords attackers try first."""

from __future__ import annotations

import functools
import os
from pathlib import Path

import anyio
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

from auth.config import Settings

COMMON_PASSWORDS_FILE = Path(__file__).parent / "data" / "common-passwords.txt"


@functools.cache
def _common_passwords() -> frozenset[str]:
    lines = COMMON_PASSWORDS_FILE.read_text(encoding="utf-8").splitlines()
    return frozenset(line for line in lines if line and not line.startswith("#"))


def is_common(password: str) -> bool:
    """Case-insensitive: 'Baseball1' is no better than 'baseball1'."""
    return password.lower() in _common_passwords()


class Passwords:
    def __init__(self, settings: Settings) -> None:
        self._hasher = PasswordHasher(
            time_cost=settings.argon2_time_cost,
            memory_cost=settings.argon2_memory_kib,
            parallelism=settings.argon2_parallelism,
        )
        # One hash at a time per core: more threads would only queue inside the
        # CPU and multiply the memory each hash holds.
        self._limiter = anyio.CapacityLimiter(os.cpu_count() or 1)
        # Verified when the email is unknown, so a failed login costs the same
        # time whether or not the account exists.
        self._dummy_hash = self._hasher.hash("not-a-real-password-" + os.urandom(8).hex())

    async def hash(self, password: str) -> str:
        return await anyio.to_thread.run_sync(self._hasher.hash, password, limiter=self._limiter)

    async def verify(self, password_hash: str | None, password: str) -> bool:
        return await anyio.to_thread.run_sync(
            self._verify, password_hash or self._dummy_hash, password, limiter=self._limiter
        )

    def needs_rehash(self, password_hash: str) -> bool:
        """True when the hash was made with other parameters than the current ones."""
        try:
            return bool(self._hasher.check_needs_rehash(password_hash))
        except InvalidHashError:
            return True

    def _verify(self, password_hash: str, password: str) -> bool:
        try:
            return bool(self._hasher.verify(password_hash, password))
        except (VerifyMismatchError, VerificationError, InvalidHashError):
            return False
