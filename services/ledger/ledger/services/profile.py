from __future__ import annotations

import uuid

import httpx

from ledger.cache import LedgerCache
from ledger.config import Settings
from ledger.schemas.profile import ProfileRead, ProfileUpdate
from ledger.services.common import users
from servicekit.credentials import check_password
from servicekit.errors import Forbidden
from servicekit.http import send
from servicekit.passwords import PasswordHasher
from servicekit.revocation import RevocationList


def _profile(row: dict[str, object]) -> ProfileRead:
    return ProfileRead.model_validate({k: row[k] for k in ProfileRead.model_fields})


async def get_profile(*, gateway: httpx.AsyncClient, user_id: uuid.UUID) -> ProfileRead:
    return _profile((await send(gateway, "GET", users(user_id))).json())


async def update_profile(
    *, gateway: httpx.AsyncClient, cache: LedgerCache, user_id: uuid.UUID, change: ProfileUpdate
) -> ProfileRead:
    row = (
        await send(
            gateway,
            "PATCH",
            users(user_id),
            json=change.model_dump(mode="json", exclude_unset=True),
        )
    ).json()
    await cache.written(user_id, [], row["ledger_version"])  # "this month" may have moved
    return _profile(row)


class WrongPassword(Forbidden):
    default_code = "invalid_password"


async def delete_profile(
    *,
    gateway: httpx.AsyncClient,
    cache: LedgerCache,
    hasher: PasswordHasher,
    revocations: RevocationList,
    settings: Settings,
    user_id: uuid.UUID,
    password: str,
    client_ip: str,
) -> None:
    """Erase the user, after checking the password exactly like a login does
    (counted and throttled), so a stolen access token cannot delete an account
    or be used to guess its password."""
    verified = await check_password(
        gateway=gateway,
        hasher=hasher,
        policy=settings,
        client_ip=client_ip,
        password=password,
        user_id=user_id,
    )
    if verified is None:
        raise WrongPassword(
            "password is incorrect", errors=[{"field": "password", "message": "is incorrect"}]
        )
    revoked = (await send(gateway, "DELETE", users(user_id))).json()["session_ids"]
    # Every token of the user stops working now, not when the sync gets to it.
    await revocations.mark(uuid.UUID(s) for s in revoked)
    await cache.forget_user(user_id)
