"""Users, sessions and refresh tokens against the real Postgres of the test stack."""

from __future__ import annotations

import asyncio
import datetime as dt
import hashlib
import uuid

import pytest
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from db_gateway import identity, schemas
from servicekit.errors import Conflict, NotFound, Unauthorized

Sessions = async_sessionmaker[AsyncSession]


async def test_emails_are_unique_case_insensitively(sessions: Sessions) -> None:
    email = f"Case-{uuid.uuid4().hex[:8]}@Example.com"
    async with sessions() as session:
        await identity.create_user(
            session=session, draft=schemas.UserCreate(email=email, password_hash="x")
        )
    async with sessions() as session:
        with pytest.raises(Conflict):
            await identity.create_user(
                session=session, draft=schemas.UserCreate(email=email.upper(), password_hash="x")
            )
        found = await identity.get_credentials(session=session, email=email.swapcase())
    assert found is not None


def _hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


async def test_refresh_token_rotates_once_and_reuse_revokes_the_session(
    sessions: Sessions, user_id: uuid.UUID
) -> None:
    expires = dt.datetime.now(dt.UTC) + dt.timedelta(days=1)
    async with sessions() as session:
        created = await identity.create_session(
            session=session,
            draft=schemas.SessionCreate(
                user_id=user_id, token_hash=_hash("t0"), expires_at=expires, client_ip="10.9.8.7"
            ),
        )

    async def rotate(old: str, new: str) -> object:
        async with sessions() as session:
            try:
                return await identity.rotate_refresh_token(
                    session=session,
                    draft=schemas.RefreshRotate(
                        token_hash=_hash(old), new_token_hash=_hash(new), expires_at=expires
                    ),
                )
            except Unauthorized as exc:
                return exc

    # two concurrent rotations of one token: exactly one wins
    outcomes = await asyncio.gather(rotate("t0", "t1a"), rotate("t0", "t1b"))
    winners = [o for o in outcomes if not isinstance(o, Unauthorized)]
    assert len(winners) == 1
    assert getattr(winners[0], "id", None) == created.id
    # the loser presented a used token: the session is revoked for everyone
    for token in ("t1a", "t1b"):
        assert isinstance(await rotate(token, token + "x"), Unauthorized)


async def test_deleting_a_user_revokes_their_sessions_and_spares_others(
    sessions: Sessions, user_id: uuid.UUID, other_user_id: uuid.UUID
) -> None:
    expires = dt.datetime.now(dt.UTC) + dt.timedelta(days=1)
    created = {}
    for owner in (user_id, other_user_id):
        async with sessions() as session:
            created[owner] = await identity.create_session(
                session=session,
                draft=schemas.SessionCreate(
                    user_id=owner,
                    token_hash=_hash(uuid.uuid4().hex),
                    expires_at=expires,
                    client_ip="10.9.8.6",
                ),
            )
    async with sessions() as session:
        revoked = await identity.delete_user(session=session, user_id=user_id)
    assert revoked == [created[user_id].id]
    async with sessions() as session:
        assert await identity.session_revoked(session=session, session_id=created[user_id].id)
        assert not await identity.session_revoked(
            session=session, session_id=created[other_user_id].id
        )
        recent = await identity.revoked_since(
            session=session, since=dt.datetime.now(dt.UTC) - dt.timedelta(minutes=1)
        )
        assert created[user_id].id in recent.session_ids
        with pytest.raises(NotFound):
            await identity.delete_user(session=session, user_id=user_id)
        assert (await identity.get_user(session=session, user_id=other_user_id)).id == other_user_id
