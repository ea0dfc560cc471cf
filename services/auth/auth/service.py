"""Registration, login, refresh rotation and logout, on top of db-gateway."""

from __future__ import annotations

import datetime as dt
import uuid

import httpx

from auth import schemas
from auth.config import Settings
from auth.passwords import Passwords
from auth.tokens import issue_access_token, new_refresh_token, refresh_token_hash
from servicekit.errors import NotFound, Unauthorized
from servicekit.http import send


class InvalidCredentials(Unauthorized):
    default_code = "invalid_credentials"


async def register(
    *, gateway: httpx.AsyncClient, passwords: Passwords, draft: schemas.RegisterRequest
) -> schemas.UserRead:
    password_hash = await passwords.hash(draft.password)
    response = await send(
        gateway,
        "POST",
        "/internal/users",
        json={
            "email": draft.email.lower(),
            "password_hash": password_hash,
            "display_name": draft.display_name,
        },
    )
    return schemas.UserRead.model_validate(
        {k: v for k, v in response.json().items() if k in schemas.UserRead.model_fields}
    )


async def login(
    *,
    gateway: httpx.AsyncClient,
    passwords: Passwords,
    settings: Settings,
    email: str,
    password: str,
    user_agent: str | None,
) -> schemas.TokenPair:
    try:
        response = await send(
            gateway, "POST", "/internal/users/lookup", json={"email": email.lower()}
        )
        credentials = response.json()
    except NotFound:
        credentials = None
    # Verify even when the email is unknown (against a dummy hash), so the
    # answer takes the same time and does not reveal which emails exist.
    ok = await passwords.verify(credentials["password_hash"] if credentials else None, password)
    if not (ok and credentials):
        raise InvalidCredentials("email or password is incorrect")
    user_id = uuid.UUID(credentials["id"])
    refresh_token = new_refresh_token()
    created = await send(
        gateway,
        "POST",
        "/internal/sessions",
        json={
            "user_id": str(user_id),
            "token_hash": refresh_token_hash(refresh_token),
            "user_agent": (user_agent or "")[:512] or None,
            "expires_at": _refresh_expiry(settings).isoformat(),
        },
    )
    return _pair(settings, user_id, uuid.UUID(created.json()["id"]), refresh_token)


async def refresh(
    *, gateway: httpx.AsyncClient, settings: Settings, refresh_token: str
) -> schemas.TokenPair:
    successor = new_refresh_token()
    rotated = await send(
        gateway,
        "POST",
        "/internal/sessions/rotate",
        json={
            "token_hash": refresh_token_hash(refresh_token),
            "new_token_hash": refresh_token_hash(successor),
            "expires_at": _refresh_expiry(settings).isoformat(),
        },
    )
    session = rotated.json()
    return _pair(settings, uuid.UUID(session["user_id"]), uuid.UUID(session["id"]), successor)


async def logout(*, gateway: httpx.AsyncClient, refresh_token: str) -> None:
    await send(
        gateway,
        "POST",
        "/internal/sessions/revoke",
        json={"token_hash": refresh_token_hash(refresh_token)},
    )


def _refresh_expiry(settings: Settings) -> dt.datetime:
    return dt.datetime.now(dt.UTC) + dt.timedelta(days=settings.refresh_token_ttl_days)


def _pair(
    settings: Settings, user_id: uuid.UUID, session_id: uuid.UUID, refresh_token: str
) -> schemas.TokenPair:
    return schemas.TokenPair(
        access_token=issue_access_token(settings, user_id=user_id, session_id=session_id),
        refresh_token=refresh_token,
        expires_in=settings.access_token_ttl_seconds,
    )
