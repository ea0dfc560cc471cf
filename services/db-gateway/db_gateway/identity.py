"""Users, sessions, refresh tokens, revocation and login throttling. Each public
function is one atomic unit: callers pass a fresh session and the function
commits (or raises, and nothing is written)."""

from __future__ import annotations

import datetime as dt
import hashlib
import uuid
from collections.abc import Iterable

from sqlalchemy import case, delete, func, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.sql.elements import ColumnElement

from db_gateway import schemas
from db_gateway.models import (
    LoginThrottle,
    RefreshToken,
    RevokedSession,
    Session,
    Transaction,
    User,
)
from db_gateway.postings import begin_write
from servicekit.errors import Conflict, NotFound, Unauthorized

UNIQUE_VIOLATION = "23505"
# How long a revocation is remembered: far longer than any access token lives.
REVOCATION_MEMORY = dt.timedelta(days=1)

# ---------------------------------------------------------------- users


async def create_user(*, session: AsyncSession, draft: schemas.UserCreate) -> User:
    user = User(
        id=uuid.uuid4(),
        email=draft.email.lower(),
        password_hash=draft.password_hash,
        display_name=draft.display_name,
    )
    session.add(user)
    try:
        await session.flush()
    except IntegrityError as exc:
        await session.rollback()
        if getattr(exc.orig, "pgcode", None) != UNIQUE_VIOLATION:
            raise
        raise Conflict("an account with this email already exists", code="email_taken") from exc
    # the starter categories (defined with the schema, in the 0003 migration)
    await session.execute(select(func.create_default_categories(user.id)))
    await session.commit()
    await session.refresh(user)
    return user


async def get_credentials(*, session: AsyncSession, email: str) -> User | None:
    # lower() on both sides: the same function the unique index uses
    result = await session.execute(select(User).where(func.lower(User.email) == func.lower(email)))
    return result.scalar_one_or_none()


async def get_user(*, session: AsyncSession, user_id: uuid.UUID) -> User:
    user = await session.get(User, user_id, populate_existing=True)
    if user is None:
        raise NotFound("user not found")
    return user


async def update_profile(
    *, session: AsyncSession, user_id: uuid.UUID, change: schemas.ProfileUpdate
) -> User:
    """Only the fields sent change; the ledger version moves, as the dashboard
    depends on the time zone (which month is "this month")."""
    await begin_write(session, user_id)
    user = await get_user(session=session, user_id=user_id)
    for field in change.model_fields_set:
        setattr(user, field, getattr(change, field))
    user.updated_at = func.now()
    await session.commit()
    return await get_user(session=session, user_id=user_id)


async def delete_user(*, session: AsyncSession, user_id: uuid.UUID) -> list[uuid.UUID]:
    """Erase the user and every row of theirs; returns the sessions just revoked.

    Their sessions are logged as revoked first: that log has no foreign key, so
    it outlives the user and their access tokens stay refused until expiry.
    Everything else goes with the user row (ON DELETE CASCADE), and so does the
    login counter kept under a hash of their email.
    """
    await begin_write(session, user_id)  # the ledger lock: no write of theirs is in flight
    user = await get_user(session=session, user_id=user_id)
    revoked = await _revoke(session, [Session.user_id == user_id])
    await session.execute(
        delete(LoginThrottle).where(
            LoginThrottle.scope == "account", LoginThrottle.key == _account_key(user.email)
        )
    )
    # Transactions (and their postings) before the accounts they reference:
    # those foreign keys deliberately do not cascade.
    await session.execute(delete(Transaction).where(Transaction.user_id == user_id))
    await session.execute(delete(User).where(User.id == user_id))
    await session.commit()
    return revoked


# ---------------------------------------------------------------- login throttling


def _account_key(email: str) -> str:
    # Unknown emails are throttled too, so count by a hash: no stranger's
    # address is stored.
    return hashlib.sha256(email.lower().encode()).hexdigest()


async def begin_login_attempt(
    *, session: AsyncSession, attempt: schemas.LoginAttempt
) -> schemas.LoginAttemptResult:
    """Count the attempt before the password is checked, then say whether it may go on.

    Counting first (not after a failure) means a burst of parallel guesses is
    stopped at the limit instead of all being checked. A successful login gives
    the attempt back (`create_session`), so only failures add up.
    """
    if attempt.user_id is not None:
        user = await session.get(User, attempt.user_id)
    elif attempt.email is not None:
        user = await get_credentials(session=session, email=attempt.email)
    else:
        raise NotFound("email or user_id is required")
    email = user.email if user is not None else str(attempt.email)
    policy = attempt.policy
    window = dt.timedelta(seconds=policy.window_seconds)
    now = (await session.execute(select(func.now()))).scalar_one()
    expired = LoginThrottle.window_start <= now - window
    # account before ip, always: concurrent attempts lock rows in one order
    rows = [
        {"scope": "account", "key": _account_key(email), "window_start": now, "attempts": 1},
        {"scope": "ip", "key": attempt.client_ip, "window_start": now, "attempts": 1},
    ]
    counted = (
        await session.execute(
            pg_insert(LoginThrottle)
            .values(rows)
            .on_conflict_do_update(
                index_elements=["scope", "key"],
                set_={
                    "attempts": case((expired, 1), else_=LoginThrottle.attempts + 1),
                    "window_start": case((expired, now), else_=LoginThrottle.window_start),
                },
            )
            .returning(LoginThrottle.scope, LoginThrottle.attempts, LoginThrottle.window_start)
        )
    ).all()
    await session.commit()
    limits = {"account": policy.max_per_account, "ip": policy.max_per_ip}
    waits = [
        int((row.window_start + window - now).total_seconds()) + 1
        for row in counted
        if row.attempts > limits[row.scope]
    ]
    if waits:
        return schemas.LoginAttemptResult(retry_after=max(waits), user_id=None, password_hash=None)
    return schemas.LoginAttemptResult(
        retry_after=None,
        user_id=user.id if user else None,
        password_hash=user.password_hash if user else None,
    )


async def _give_back_attempt(session: AsyncSession, email: str, client_ip: str) -> None:
    """A successful login: the account's count starts over, and the attempt no
    longer counts against the client's address."""
    await session.execute(
        delete(LoginThrottle).where(
            LoginThrottle.scope == "account", LoginThrottle.key == _account_key(email)
        )
    )
    await session.execute(
        update(LoginThrottle)
        .where(
            LoginThrottle.scope == "ip",
            LoginThrottle.key == client_ip,
            LoginThrottle.attempts > 0,
        )
        .values(attempts=LoginThrottle.attempts - 1)
    )


# ---------------------------------------------------------------- sessions


async def create_session(*, session: AsyncSession, draft: schemas.SessionCreate) -> Session:
    user = await session.get(User, draft.user_id, with_for_update=True)
    if user is None:
        raise NotFound("user not found")
    if draft.new_password_hash is not None:
        user.password_hash = draft.new_password_hash
        user.updated_at = func.now()
    row = Session(
        id=uuid.uuid4(),
        user_id=draft.user_id,
        user_agent=draft.user_agent,
        expires_at=draft.expires_at,
    )
    session.add(row)
    await session.flush()
    session.add(RefreshToken(token_hash=bytes.fromhex(draft.token_hash), session_id=row.id))
    await _give_back_attempt(session, user.email, draft.client_ip)
    await session.commit()
    await session.refresh(row)
    return row


async def _revoke(session: AsyncSession, where: Iterable[ColumnElement[bool]]) -> list[uuid.UUID]:
    """Revoke the matching live sessions and log them for the revocation list."""
    revoked = list(
        (
            await session.execute(
                update(Session)
                .where(Session.revoked_at.is_(None), *where)
                .values(revoked_at=func.now())
                .returning(Session.id)
            )
        ).scalars()
    )
    if revoked:
        await session.execute(
            pg_insert(RevokedSession)
            .values([{"session_id": sid} for sid in revoked])
            .on_conflict_do_nothing()
        )
    return revoked


class RefreshTokenInvalid(Unauthorized):
    default_code = "invalid_refresh_token"


async def rotate_refresh_token(*, session: AsyncSession, draft: schemas.RefreshRotate) -> Session:
    """Retire the presented refresh token and register its successor.

    The token row is locked, so of two concurrent rotations of one token only
    the first succeeds; the second sees a retired token. A retired token
    presented again means it leaked (or a client raced itself): the whole
    session is revoked, so whoever holds the newest token must log in again.
    """
    now = dt.datetime.now(dt.UTC)
    token = (
        await session.execute(
            select(RefreshToken)
            .where(RefreshToken.token_hash == bytes.fromhex(draft.token_hash))
            .with_for_update()
        )
    ).scalar_one_or_none()
    if token is None:
        raise RefreshTokenInvalid("refresh token is invalid")
    row = (
        await session.execute(
            select(Session).where(Session.id == token.session_id).with_for_update()
        )
    ).scalar_one()
    if row.revoked_at is not None or row.expires_at <= now:
        raise RefreshTokenInvalid("session has ended; log in again")
    if token.used_at is not None:
        await _revoke(session, [Session.id == row.id])
        await session.commit()
        raise RefreshTokenInvalid(
            "refresh token was already used; the session is revoked", code="refresh_token_reused"
        )
    token.used_at = now
    row.last_used_at = now
    row.expires_at = draft.expires_at
    session.add(RefreshToken(token_hash=bytes.fromhex(draft.new_token_hash), session_id=row.id))
    await session.commit()
    return row


async def revoke_session_by_token(*, session: AsyncSession, token_hash: str) -> list[uuid.UUID]:
    """Revoke the session this refresh token belongs to. Returns that session's id
    even if it was revoked already (e.g. by reuse detection), so the caller can
    make sure its access tokens are refused; unknown tokens return nothing."""
    session_id = (
        await session.execute(
            select(RefreshToken.session_id).where(
                RefreshToken.token_hash == bytes.fromhex(token_hash)
            )
        )
    ).scalar_one_or_none()
    if session_id is None:
        return []
    await _revoke(session, [Session.id == session_id])
    await session.commit()
    return [session_id]


async def revoke_session(
    *, session: AsyncSession, user_id: uuid.UUID, session_id: uuid.UUID
) -> list[uuid.UUID]:
    revoked = await _revoke(session, [Session.user_id == user_id, Session.id == session_id])
    if not revoked:
        raise NotFound("session not found")
    await session.commit()
    return revoked


async def revoke_all_sessions(*, session: AsyncSession, user_id: uuid.UUID) -> list[uuid.UUID]:
    revoked = await _revoke(session, [Session.user_id == user_id])
    await session.commit()
    return revoked


async def change_password(
    *, session: AsyncSession, user_id: uuid.UUID, change: schemas.PasswordChange
) -> list[uuid.UUID]:
    """New hash, and every other session of the user revoked, in one transaction."""
    user = await session.get(User, user_id, with_for_update=True)
    if user is None:
        raise NotFound("user not found")
    user.password_hash = change.password_hash
    user.updated_at = func.now()
    revoked = await _revoke(
        session, [Session.user_id == user_id, Session.id != change.keep_session_id]
    )
    await _give_back_attempt(session, user.email, change.client_ip)
    await session.commit()
    return revoked


async def list_sessions(*, session: AsyncSession, user_id: uuid.UUID) -> list[Session]:
    return list(
        (
            await session.execute(
                select(Session)
                .where(
                    Session.user_id == user_id,
                    Session.revoked_at.is_(None),
                    Session.expires_at > func.now(),
                )
                .order_by(Session.last_used_at.desc())
            )
        ).scalars()
    )


async def session_revoked(*, session: AsyncSession, session_id: uuid.UUID) -> bool:
    """True unless the session exists and is not revoked (a deleted user's are gone)."""
    revoked_at = (
        await session.execute(select(Session.revoked_at).where(Session.id == session_id))
    ).one_or_none()
    return revoked_at is None or revoked_at[0] is not None


async def revoked_since(*, session: AsyncSession, since: dt.datetime) -> schemas.RevokedSince:
    as_of = (await session.execute(select(func.now()))).scalar_one()
    ids = list(
        (
            await session.execute(
                select(RevokedSession.session_id).where(RevokedSession.revoked_at >= since)
            )
        ).scalars()
    )
    # Housekeeping rides along: forget revocations no token can outlive, and
    # login counters whose window ended long ago.
    await session.execute(
        delete(RevokedSession).where(RevokedSession.revoked_at < as_of - REVOCATION_MEMORY)
    )
    await session.execute(
        delete(LoginThrottle).where(LoginThrottle.window_start < as_of - REVOCATION_MEMORY)
    )
    await session.commit()
    return schemas.RevokedSince(session_ids=ids, as_of=as_of)
