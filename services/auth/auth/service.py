"""Identity use cases on top of db-gateway: registration, login with throttling,
refresh rotation, sessions, password change and instant revocation."""

from __future__ import annotations

import datetime as dt
import uuid
from dataclasses import dataclass

import httpx

from auth import schemas
from auth.config import Settings
from auth.passwords import Passwords
from auth.tokens import issue_access_token, new_refresh_token, refresh_token_hash
from servicekit.errors import Forbidden, TooManyRequests, Unauthorized
from servicekit.http import send
from servicekit.revocation import RevocationList


class InvalidCredentials(Unauthorized):
    default_code = "invalid_credentials"


class LoginThrottled(TooManyRequests):
    default_code = "login_throttled"


@dataclass(frozen=True, slots=True)
class Deps:
    """What every use case needs, built once in the lifespan."""

    settings: Settings
    gateway: httpx.AsyncClient
    passwords: Passwords
    revocations: RevocationList


async def register(deps: Deps, draft: schemas.RegisterRequest) -> schemas.UserRead:
    password_hash = await deps.passwords.hash(draft.password)
    response = await send(
        deps.gateway,
        "POST",
        "/internal/users",
        json={
            "email": str(draft.email).lower(),
            "password_hash": password_hash,
            "display_name": draft.display_name,
        },
    )
    return schemas.UserRead.model_validate(
        {k: v for k, v in response.json().items() if k in schemas.UserRead.model_fields}
    )


async def _checked_attempt(
    deps: Deps,
    *,
    client_ip: str,
    password: str,
    email: str | None = None,
    user_id: uuid.UUID | None = None,
) -> tuple[uuid.UUID, str] | None:
    """Count the attempt, then check the password. Returns (user id, stored hash)
    when it matches, None when it does not; raises when throttled."""
    settings = deps.settings
    attempt = (
        await send(
            deps.gateway,
            "POST",
            "/internal/login-attempts",
            json={
                "email": email,
                "user_id": str(user_id) if user_id else None,
                "client_ip": client_ip,
                "policy": {
                    "max_per_account": settings.login_max_failures_per_account,
                    "max_per_ip": settings.login_max_failures_per_ip,
                    "window_seconds": settings.login_failure_window_seconds,
                },
            },
        )
    ).json()
    if attempt["retry_after"] is not None:
        raise LoginThrottled(
            "too many failed attempts; try again later",
            headers={"Retry-After": str(attempt["retry_after"])},
        )
    # Verify even when the email is unknown (against a dummy hash), so the
    # answer takes the same time and does not reveal which emails exist.
    if not await deps.passwords.verify(attempt["password_hash"], password):
        return None
    if attempt["user_id"] is None:
        return None
    return uuid.UUID(attempt["user_id"]), attempt["password_hash"]


async def login(
    deps: Deps, *, email: str, password: str, user_agent: str | None, client_ip: str
) -> schemas.TokenPair:
    checked = await _checked_attempt(deps, client_ip=client_ip, password=password, email=email)
    if checked is None:
        raise InvalidCredentials("email or password is incorrect")
    user_id, stored_hash = checked
    # Parameters raised since this hash was made: store a stronger one now,
    # while the plain password is at hand.
    upgraded = (
        await deps.passwords.hash(password) if deps.passwords.needs_rehash(stored_hash) else None
    )
    refresh_token = new_refresh_token()
    created = await send(
        deps.gateway,
        "POST",
        "/internal/sessions",
        json={
            "user_id": str(user_id),
            "token_hash": refresh_token_hash(refresh_token),
            "user_agent": (user_agent or "")[:512] or None,
            "expires_at": _refresh_expiry(deps.settings).isoformat(),
            "client_ip": client_ip,
            "new_password_hash": upgraded,
        },
    )
    return _pair(deps.settings, user_id, uuid.UUID(created.json()["id"]), refresh_token)


async def refresh(deps: Deps, refresh_token: str) -> schemas.TokenPair:
    successor = new_refresh_token()
    try:
        rotated = await send(
            deps.gateway,
            "POST",
            "/internal/sessions/rotate",
            json={
                "token_hash": refresh_token_hash(refresh_token),
                "new_token_hash": refresh_token_hash(successor),
                "expires_at": _refresh_expiry(deps.settings).isoformat(),
            },
        )
    except Unauthorized as exc:
        if exc.code == "refresh_token_reused":
            # The session was revoked in the database; make its access tokens
            # stop now too. (The sync would copy it within a second anyway.)
            await _mark_session_of(deps, refresh_token)
        raise
    session = rotated.json()
    return _pair(deps.settings, uuid.UUID(session["user_id"]), uuid.UUID(session["id"]), successor)


async def _mark_session_of(deps: Deps, refresh_token: str) -> None:
    revoked = await send(
        deps.gateway,
        "POST",
        "/internal/sessions/revoke",
        json={"token_hash": refresh_token_hash(refresh_token)},
    )
    await deps.revocations.mark(uuid.UUID(s) for s in revoked.json()["session_ids"])


async def logout(deps: Deps, refresh_token: str) -> None:
    await _mark_session_of(deps, refresh_token)


async def _revoke(deps: Deps, method: str, path: str, **kwargs: object) -> None:
    """Revoke in the database (the source of truth), then mark in Redis at once."""
    revoked = await send(deps.gateway, method, path, **kwargs)
    await deps.revocations.mark(uuid.UUID(s) for s in revoked.json()["session_ids"])


async def logout_all(deps: Deps, user_id: uuid.UUID) -> None:
    await _revoke(deps, "DELETE", f"/internal/users/{user_id}/sessions")


async def end_session(deps: Deps, user_id: uuid.UUID, session_id: uuid.UUID) -> None:
    await _revoke(deps, "DELETE", f"/internal/users/{user_id}/sessions/{session_id}")


async def list_sessions(deps: Deps, user_id: uuid.UUID, current: uuid.UUID) -> schemas.SessionList:
    rows = (await send(deps.gateway, "GET", f"/internal/users/{user_id}/sessions")).json()["items"]
    return schemas.SessionList(
        items=[schemas.SessionRead(**row, current=uuid.UUID(row["id"]) == current) for row in rows]
    )


class WrongPassword(Forbidden):
    default_code = "invalid_current_password"


async def change_password(
    deps: Deps,
    *,
    user_id: uuid.UUID,
    session_id: uuid.UUID,
    change: schemas.PasswordChange,
    client_ip: str,
) -> None:
    # Throttled like a login: a stolen access token must not become an oracle
    # for guessing the current password.
    if (
        await _checked_attempt(
            deps, client_ip=client_ip, password=change.current_password, user_id=user_id
        )
        is None
    ):
        raise WrongPassword(
            "current_password is incorrect",
            errors=[{"field": "current_password", "message": "is incorrect"}],
        )
    new_hash = await deps.passwords.hash(change.new_password)
    await _revoke(
        deps,
        "PUT",
        f"/internal/users/{user_id}/password",
        json={
            "password_hash": new_hash,
            "keep_session_id": str(session_id),
            "client_ip": client_ip,
        },
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
