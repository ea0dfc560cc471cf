from __future__ import annotations

import uuid
from collections.abc import AsyncIterator

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from db_gateway import accounts, identity, schemas
from db_gateway.config import Settings
from db_gateway.db import create_engine
from tests.conftest import StackInfo
from tests.waiting import EVENT_WITHIN


@pytest.fixture(scope="session")
def settings(stack: StackInfo) -> Settings:
    return Settings(
        database_url=stack.database_url,
        environment="test",
        internal_token=stack.secrets["INTERNAL_TOKEN"],
        db_pool_size=20,
        # Tests run dozens of transactions at once on a few rows: those waiting
        # for a connection or a row lock wait for it, however busy the machine.
        # The service's defaults (3 s, 5 s) are promises to clients under
        # normal load; here they would only measure the machine.
        db_pool_timeout=EVENT_WITHIN,
        db_statement_timeout_ms=int(EVENT_WITHIN * 1000),
    )


@pytest.fixture(scope="session")
async def engine(settings: Settings) -> AsyncIterator[AsyncEngine]:
    engine = create_engine(settings)
    yield engine
    await engine.dispose()


@pytest.fixture(scope="session")
def sessions(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    return async_sessionmaker(engine, expire_on_commit=False)


async def new_user(sessions: async_sessionmaker[AsyncSession]) -> uuid.UUID:
    async with sessions() as session:
        user = await identity.create_user(
            session=session,
            draft=schemas.UserCreate(
                email=f"db-{uuid.uuid4().hex[:10]}@example.com", password_hash="x"
            ),
        )
    return user.id


@pytest.fixture
async def user_id(sessions: async_sessionmaker[AsyncSession]) -> uuid.UUID:
    return await new_user(sessions)


@pytest.fixture
async def other_user_id(sessions: async_sessionmaker[AsyncSession]) -> uuid.UUID:
    return await new_user(sessions)


async def new_account(
    sessions: async_sessionmaker[AsyncSession], user_id: uuid.UUID, currency: str = "USD"
) -> uuid.UUID:
    async with sessions() as session:
        written = await accounts.create_account(
            session=session,
            user_id=user_id,
            draft=schemas.AccountCreate(name="a", type="checking", currency=currency),
        )
    return written.account.id
