"""/internal/...: domain operations for auth and ledger, never a table proxy.

Every route requires the shared internal token, and every query is scoped by
the user id in the path.
"""

from __future__ import annotations

import datetime as dt
import hmac
import uuid
from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request
from fastapi.security import APIKeyHeader

from db_gateway import identity, schemas, service
from db_gateway.db import DbSession
from servicekit.errors import Unauthorized
from servicekit.http import INTERNAL_TOKEN_HEADER

_internal_token = APIKeyHeader(
    name=INTERNAL_TOKEN_HEADER, auto_error=False, description="the shared INTERNAL_TOKEN"
)


async def require_internal_token(
    request: Request, token: Annotated[str | None, Depends(_internal_token)]
) -> None:
    expected: bytes = request.app.state.internal_token
    # constant-time: the comparison must not reveal how much of a guess was right
    if token is None or not hmac.compare_digest(token.encode(), expected):
        raise Unauthorized("internal token required", code="invalid_internal_token")


router = APIRouter(prefix="/internal", dependencies=[Depends(require_internal_token)])
Limit = Annotated[int, Query(ge=1, le=201)]
Seq = Annotated[int | None, Query(ge=0, lt=2**63)]  # a Postgres bigint


@router.post("/users", status_code=201)
async def create_user(draft: schemas.UserCreate, session: DbSession) -> schemas.UserRead:
    return schemas.UserRead.model_validate(await identity.create_user(session=session, draft=draft))


@router.get("/users/{user_id}")
async def get_user(user_id: uuid.UUID, session: DbSession) -> schemas.UserRead:
    return schemas.UserRead.model_validate(
        await identity.get_user(session=session, user_id=user_id)
    )


@router.delete("/users/{user_id}")
async def delete_user(user_id: uuid.UUID, session: DbSession) -> schemas.Revoked:
    """Erase the user and everything of theirs; returns the sessions revoked."""
    return schemas.Revoked(session_ids=await identity.delete_user(session=session, user_id=user_id))


@router.post("/login-attempts")
async def begin_login_attempt(
    attempt: schemas.LoginAttempt, session: DbSession
) -> schemas.LoginAttemptResult:
    """Count a login (or password-change) attempt; returns the stored hash to
    check, or `retry_after` when the account or address is throttled."""
    return await identity.begin_login_attempt(session=session, attempt=attempt)


@router.post("/sessions", status_code=201)
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
async def revoked_since(since: dt.datetime, session: DbSession) -> schemas.RevokedSince:
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


@router.post("/users/{user_id}/accounts", status_code=201)
async def create_account(
    user_id: uuid.UUID, draft: schemas.AccountCreate, session: DbSession
) -> schemas.AccountRead:
    return schemas.AccountRead.model_validate(
        await service.create_account(session=session, user_id=user_id, draft=draft)
    )


@router.get("/users/{user_id}/accounts")
async def list_accounts(
    user_id: uuid.UUID, session: DbSession, limit: Limit = 50, after_seq: Seq = None
) -> schemas.AccountPage:
    rows = await service.list_accounts(
        session=session, user_id=user_id, limit=limit, after_seq=after_seq
    )
    return schemas.AccountPage(items=[schemas.AccountRead.model_validate(r) for r in rows])


@router.get("/users/{user_id}/accounts/{account_id}")
async def get_account(
    user_id: uuid.UUID, account_id: uuid.UUID, session: DbSession
) -> schemas.AccountRead:
    return schemas.AccountRead.model_validate(
        await service.get_account(session=session, user_id=user_id, account_id=account_id)
    )


@router.post("/users/{user_id}/transactions", status_code=201)
async def post_transaction(
    user_id: uuid.UUID, draft: schemas.TransactionPost, session: DbSession
) -> schemas.PostResult:
    return await service.post_transaction(session=session, user_id=user_id, draft=draft)


@router.get("/users/{user_id}/transactions")
async def list_transactions(
    user_id: uuid.UUID,
    session: DbSession,
    limit: Limit = 50,
    before_date: dt.date | None = None,
    before_seq: Seq = None,
    account_id: uuid.UUID | None = None,
) -> schemas.TransactionPage:
    before = (before_date, before_seq) if before_date and before_seq is not None else None
    rows = await service.list_transactions(
        session=session, user_id=user_id, limit=limit, before=before, account_id=account_id
    )
    return schemas.TransactionPage(items=[schemas.TransactionRead.model_validate(r) for r in rows])


@router.get("/users/{user_id}/transactions/{transaction_id}")
async def get_transaction(
    user_id: uuid.UUID, transaction_id: uuid.UUID, session: DbSession
) -> schemas.TransactionRead:
    return schemas.TransactionRead.model_validate(
        await service.get_transaction(
            session=session, user_id=user_id, transaction_id=transaction_id
        )
    )
