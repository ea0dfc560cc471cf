"""/internal routes for auth: users, sessions, refresh tokens, login attempts."""

from __future__ import annotations

import uuid

from db_gateway import identity, schemas
from db_gateway.db import DbSession
from db_gateway.routes.security import CONFLICT, NO_USER, internal_router

router = internal_router()


@router.post("/users", status_code=201, responses=CONFLICT)
async def create_user(draft: schemas.UserCreate, session: DbSession) -> schemas.UserRead:
    return schemas.UserRead.model_validate(await identity.create_user(session=session, draft=draft))


@router.get("/users/{user_id}")
async def get_user(user_id: uuid.UUID, session: DbSession) -> schemas.ProfileRead:
    return schemas.ProfileRead.model_validate(
        await identity.get_user(session=session, user_id=user_id)
    )


@router.patch("/users/{user_id}")
async def update_profile(
    user_id: uuid.UUID, change: schemas.ProfileUpdate, session: DbSession
) -> schemas.ProfileRead:
    return schemas.ProfileRead.model_validate(
        await identity.update_profile(session=session, user_id=user_id, change=change)
    )


@router.delete("/users/{user_id}")
async def delete_user(user_id: uuid.UUID, session: DbSession) -> schemas.Revoked:
    """Erase the user and everything of theirs; returns the sessions revoked."""
    return schemas.Revoked(session_ids=await identity.delete_user(session=session, user_id=user_id))


@router.post("/login-attempts", responses=NO_USER)
async def begin_login_attempt(
    attempt: schemas.LoginAttempt, session: DbSession
) -> schemas.LoginAttemptResult:
    """Count a login (or password-change) attempt; returns the stored hash to
    check, or `retry_after` when the account or address is throttled."""
    return await identity.begin_login_attempt(session=session, attempt=attempt)


@router.post("/sessions", status_code=201, responses=NO_USER)
async def create_session(draft: schemas.SessionCreate, session: DbSession) -> schemas.SessionRead:
    return schemas.SessionRead.model_validate(
        await identity.create_session(session=session, draft=draft)
    )


@router.post("/sessions/rotate")
async def rotate(draft: schemas.RefreshRotate, session: DbSession) -> schemas.SessionRead:
    return schemas.SessionRead.model_validate(
        await identity.rotate_refresh_token(session=session, draft=draft)
    )


@router.post("/sessions/revoke")
async def revoke_by_token(body: schemas.TokenHash, session: DbSession) -> schemas.Revoked:
    return schemas.Revoked(
        session_ids=await identity.revoke_session_by_token(
            session=session, token_hash=body.token_hash
        )
    )


@router.get("/sessions/revoked")
async def revoked_since(since: schemas.Timestamp, session: DbSession) -> schemas.RevokedSince:
    """Sessions revoked at or after `since`, for rebuilding the revocation list."""
    return await identity.revoked_since(session=session, since=since)


@router.get("/sessions/{session_id}/status")
async def session_status(session_id: uuid.UUID, session: DbSession) -> schemas.SessionStatus:
    """Whether tokens of this session must be refused (revoked, or gone with its user)."""
    return schemas.SessionStatus(
        revoked=await identity.session_revoked(session=session, session_id=session_id)
    )


@router.get("/users/{user_id}/sessions")
async def list_sessions(user_id: uuid.UUID, session: DbSession) -> schemas.SessionList:
    rows = await identity.list_sessions(session=session, user_id=user_id)
    return schemas.SessionList(items=[schemas.SessionInfo.model_validate(r) for r in rows])


@router.delete("/users/{user_id}/sessions/{session_id}")
async def revoke_session(
    user_id: uuid.UUID, session_id: uuid.UUID, session: DbSession
) -> schemas.Revoked:
    return schemas.Revoked(
        session_ids=await identity.revoke_session(
            session=session, user_id=user_id, session_id=session_id
        )
    )


@router.delete("/users/{user_id}/sessions")
async def revoke_all_sessions(user_id: uuid.UUID, session: DbSession) -> schemas.Revoked:
    return schemas.Revoked(
        session_ids=await identity.revoke_all_sessions(session=session, user_id=user_id)
    )


@router.put("/users/{user_id}/password")
async def change_password(
    user_id: uuid.UUID, change: schemas.PasswordChange, session: DbSession
) -> schemas.Revoked:
    """Store a new hash and revoke every session but `keep_session_id`."""
    return schemas.Revoked(
        session_ids=await identity.change_password(session=session, user_id=user_id, change=change)
    )
