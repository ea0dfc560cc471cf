"""The password policy: a refusal of the passwords attackers try first, and
the argon2id parameters auth hashes with."""

from __future__ import annotations

import functools
from pathlib import Path

from auth.config import Settings
from servicekit.passwords import PasswordHasher

COMMON_PASSWORDS_FILE = Path(__file__).parent / "data" / "common-passwords.txt"


@functools.cache
def _common_passwords() -> frozenset[str]:
    lines = COMMON_PASSWORDS_FILE.read_text(encoding="utf-8").splitlines()
    return frozenset(line for line in lines if line and not line.startswith("#"))


def is_common(password: str) -> bool:
    """Case-insensitive: 'Baseball1' is no better than 'baseball1'."""
    return password.lower() in _common_passwords()


def hasher_for(settings: Settings) -> PasswordHasher:
    return PasswordHasher(
        memory_kib=settings.argon2_memory_kib,
        time_cost=settings.argon2_time_cost,
        parallelism=settings.argon2_parallelism,
    )
