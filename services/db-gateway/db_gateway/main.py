"""db-gateway: create_app(settings) and the lifespan that owns the engine."""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager

import asyncpg.exceptions  # type: ignore[import-untyped]
from fastapi import FastAPI, Request
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError, InterfaceError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeout
from sqlalchemy.ext.asyncio import async_sessionmaker
from starlette.responses import Response

from db_gateway.config import Settings
from db_gateway.db import DISCONNECTS, POOL_TIMEOUTS, create_engine, pool_metrics
from db_gateway.routes import ROUTERS
from db_gateway.routes.security import InternalTokenGuard
from servicekit.app import build_app
from servicekit.errors import problem_response
from servicekit.health import ReadinessCheck
from servicekit.http import BAD_INTERNAL_REQUEST


@asynccontextmanager
async def lifespan(app: FastAPI) -> AsyncIterator[None]:
    settings: Settings = app.state.settings
    engine = create_engine(settings)
    app.state.engine = engine
    app.state.sessionmaker = async_sessionmaker(engine, expire_on_commit=False)
    try:
        async with pool_metrics(engine, settings):
            yield
    finally:
        await engine.dispose()


def readiness(app: FastAPI) -> Mapping[str, ReadinessCheck]:
    async def postgres() -> None:
        async with app.state.engine.connect() as conn:
            await conn.execute(text("SELECT 1"))

    return {"postgres": postgres}


async def _database_unavailable(_: Request, exc: Exception) -> Response:
    # Postgres down, restarting, or too slow: the caller should retry, and the
    # pool's pre-ping replaces broken connections once it is back.
    return problem_response(
        503,
        "Service Unavailable",
        "the database is unavailable",
        "database_unavailable",
        headers={"Retry-After": "1"},
    )


# What asyncpg raises when Postgres is going away, coming back or too slow, which
# SQLAlchemy passes on as a plain DBAPIError: shutting down, starting up, a
# connection ended by the server (class 57 and 08), a statement or lock
# timeout, and a connection left mid-protocol by such an interruption.
_TRANSIENT = (
    asyncpg.exceptions.OperatorInterventionError,
    asyncpg.exceptions.PostgresConnectionError,
    asyncpg.exceptions.LockNotAvailableError,
    asyncpg.exceptions.InternalClientError,
)


async def _database_error(request: Request, exc: Exception) -> Response:
    cause: BaseException | None = exc
    for _ in range(5):  # DBAPIError <- the dialect's error <- asyncpg's
        if cause is None:
            break
        if isinstance(cause, _TRANSIENT):
            return await _database_unavailable(request, exc)
        cause = cause.__cause__
    raise exc  # anything else is a bug: the 500 the app answers for one


async def _pool_exhausted(request: Request, exc: Exception) -> Response:
    # every connection busy for DB_POOL_TIMEOUT: counted, as it means the pool
    # (or Postgres behind it) is too small for the load
    POOL_TIMEOUTS.inc()
    return await _database_unavailable(request, exc)


def create_app(settings: Settings) -> FastAPI:
    app = build_app(
        settings,
        title="finledger db-gateway (internal)",
        description="Domain operations on Postgres for auth and ledger. Internal only.",
        lifespan=lifespan,
        readiness=readiness,
        docs_prefix="/internal",
        validation_code=BAD_INTERNAL_REQUEST,
        guard=InternalTokenGuard,
    )
    # before any request, lifespan or not: the guard and the routes compare with it
    app.state.internal_token = settings.internal_token.get_secret_value().encode()
    for router in ROUTERS:
        app.include_router(router)
    # through SQLAlchemy, or straight from asyncpg (db.raw_connection)
    for exc_type in (OperationalError, InterfaceError, OSError, *_TRANSIENT, *DISCONNECTS):
        app.add_exception_handler(exc_type, _database_unavailable)
    app.add_exception_handler(DBAPIError, _database_error)
    app.add_exception_handler(PoolTimeout, _pool_exhausted)
    return app


def app_from_env() -> FastAPI:
    return create_app(Settings())
