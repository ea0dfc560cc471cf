"""Engine and per-request sessions; created in the lifespan, never at import time."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Annotated

from fastapi import Depends, Request
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)

from db_gateway.config import Settings


def create_engine(settings: Settings) -> AsyncEngine:
    return create_async_engine(
        settings.database_url.get_secret_value(),
        pool_size=settings.db_pool_size,
        max_overflow=settings.db_max_overflow,
        pool_timeout=settings.db_pool_timeout,
        # a connection broken by a Postgres restart is noticed and replaced
        # before a request uses it
        pool_pre_ping=True,
        pool_recycle=1800,
        # errors are logged: their SQL parameters (hashes, emails, amounts) are not
        hide_parameters=True,
        connect_args={
            "timeout": 3,
            "command_timeout": settings.db_statement_timeout_ms / 1000 + 1,
            "server_settings": {
                "statement_timeout": str(settings.db_statement_timeout_ms),
                "lock_timeout": str(settings.db_statement_timeout_ms),
                "idle_in_transaction_session_timeout": "10000",
                "application_name": settings.service_name,
            },
        },
    )


async def get_session(request: Request) -> AsyncIterator[AsyncSession]:
    sessionmaker: async_sessionmaker[AsyncSession] = request.app.state.sessionmaker
    async with sessionmaker() as session:
        yield session


DbSession = Annotated[AsyncSession, Depends(get_session)]
