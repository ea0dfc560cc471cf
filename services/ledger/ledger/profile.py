from __future__ import annotations

import uuid

from ledger.config import Settings
from ledger.gateway import Gateway, ProfileRow
from ledger.schemas.profile import ProfileRead, ProfileUpdate
from servicekit.credentials import check_password
from servicekit.errors import Forbidden
from servicekit.passwords import PasswordHasher
from servicekit.revocation import RevocationList


def _profile(row: ProfileRow) -> ProfileRead:
    return ProfileRead.model_validate(
        {
            "id": row["id"],
            "email": row["email"],
            "display_name": row["display_name"],
            "default_currency": row["default_currency"],
            "timezone": row["timezone"],
            "created_at": row["created_at"],
        }
    )


async def get_profile(*, gateway: Gateway, user_id: uuid.UUID) -> ProfileRead:
    return _profile(await gateway.profile(user_id))


async def update_profile(
    *, gateway: Gateway, user_id: uuid.UUID, change: ProfileUpdate
) -> ProfileRead:
    row = await gateway.update_profile(user_id, change.model_dump(mode="json", exclude_unset=True))
    return _profile(row)


class WrongPassword(Forbidden):
    default_code = "invalid_password"


async def delete_profile(
    *,
    gateway: Gateway,
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
        gateway=gateway.client,
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
    ended = await gateway.erase_user(user_id)
    # Every token of the user stops working now, not when the sync gets to it.
    await revocations.mark(ended)
