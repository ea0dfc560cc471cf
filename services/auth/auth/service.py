"""Identity use cases on top of db-gateway: registration, login with throttling,
refresh rotation, sessions, password change and instant revocation.

Metrics: `auth_logins_total{outcome}` (`success`, `failure` — wrong email or
password —, `throttled`, `error` — e.g. db-gateway unavailable), the same
for `/auth/token`; `auth_refreshes_total{outcome}` (`success`, `invalid`,
`reused` — a rotated token presented again, which revokes its session —,
`error`); `auth_sessions_revoked_total{reason}` (`logout`, `logout_all`,
`session_end`, `password_change`, `refresh_reuse`), counting sessions.
"""

from __future__ import annotations

import datetime as dt
import uuid
from dataclasses import dataclass

from prometheus_client import Counter

from auth import schemas
from auth.config import Settings
from auth.tokens import issue_access_token, new_refresh_token, refresh_token_hash
from servicekit.credentials import LoginThrottled, Verified, check_password
from servicekit.errors import Forbidden, Unauthorized
from servicekit.http import PeerClient, send
from servicekit.metrics import children
from servicekit.passwords import PasswordHasher
from servicekit.revocation import RevocationList

LOGINS = children(
    Counter("auth_logins", "Password logins by outcome.", ("outcome",)),
    ("success", "failure", "throttled", "error"),
)
REFRESHES = children(
    Counter("auth_refreshes", "Refresh-token rotations by outcome.", ("outcome",)),
    ("success", "invalid", "reused", "error"),
)
REVOKED = children(
    Counter("auth_sessions_revoked", "Sessions revoked, by reason.", ("reason",)),
    ("logout", "logout_all", "session_end", "password_change", "refresh_reuse"),
)


class InvalidCredentials(Unauthorized):
    default_code = "invalid_credentials"


@dataclass(frozen=True, slots=True)
class Deps:
    """What every use case needs, built once in the lifespan."""

    settings: Settings
    gateway: PeerClient
    passwords: PasswordHasher
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


async def _check_password(
    deps: Deps,
    *,
    client_ip: str,
    password: str,
    email: str | None = None,
    user_id: uuid.UUID | None = None,
) -> Verified | None:
    return await check_password(
        gateway=deps.gateway,
        hasher=deps.passwords,
        policy=deps.settings,
        client_ip=client_ip,
        password=password,
        email=email,
        user_id=user_id,
    )


async def login(
    deps: Deps, *, email: str, password: str, user_agent: str | None, client_ip: str
) -> schemas.TokenPair:
    outcome = "error"
    try:
        pair = await _login(
            deps, email=email, password=password, user_agent=user_agent, client_ip=client_ip
        )
        outcome = "success"
        return pair
    except InvalidCredentials:
        outcome = "failure"
        raise
    except LoginThrottled:
        outcome = "throttled"
        raise
    finally:
        LOGINS[outcome].inc()


async def _login(
    deps: Deps, *, email: str, password: str, user_agent: str | None, client_ip: str
) -> schemas.TokenPair:
    checked = await _check_password(deps, client_ip=client_ip, password=password, email=email)
    if checked is None:
        raise InvalidCredentials("email or password is incorrect")
    user_id, stored_hash = checked.user_id, checked.password_hash
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
    outcome = "error"
    try:
        pair = await _refresh(deps, refresh_token)
        outcome = "success"
        return pair
    except Unauthorized as exc:
        outcome = "reused" if exc.code == "refresh_token_reused" else "invalid"
        raise
    finally:
        REFRESHES[outcome].inc()


async def _refresh(deps: Deps, refresh_token: str) -> schemas.TokenPair:
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
            await _mark_session_of(deps, refresh_token, reason="refresh_reuse")
        raise
    session = rotated.json()
    return _pair(deps.settings, uuid.UUID(session["user_id"]), uuid.UUID(session["id"]), successor)


async def _mark_session_of(deps: Deps, refresh_token: str, *, reason: str) -> None:
    await _revoke(
        deps,
        "POST",
        "/internal/sessions/revoke",
        reason=reason,
        json={"token_hash": refresh_token_hash(refresh_token)},
    )


async def logout(deps: Deps, refresh_token: str) -> None:
    await _mark_session_of(deps, refresh_token, reason="logout")


async def _revoke(deps: Deps, method: str, path: str, *, reason: str, json: object = None) -> None:
    """Revoke in the database (the source of truth), then mark in Redis at once."""
    revoked = await send(deps.gateway, method, path, json=json)
    session_ids = [uuid.UUID(s) for s in revoked.json()["session_ids"]]
    REVOKED[reason].inc(len(session_ids))
    await deps.revocations.mark(session_ids)


async def logout_all(deps: Deps, user_id: uuid.UUID) -> None:
    await _revoke(deps, "DELETE", f"/internal/users/{user_id}/sessions", reason="logout_all")


async def end_session(deps: Deps, user_id: uuid.UUID, session_id: uuid.UUID) -> None:
    await _revoke(
        deps,
        "DELETE",
        f"/internal/users/{user_id}/sessions/{session_id}",
        reason="session_end",
    )


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
        await _check_password(
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
        reason="password_change",
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
