"""The internal API in-process, against the test stack's Postgres."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator

import asyncpg.exceptions  # type: ignore[import-untyped]
import httpx
import pytest
from sqlalchemy.exc import DBAPIError

from db_gateway.config import Settings
from db_gateway.main import create_app


@pytest.fixture
async def client(settings: Settings) -> AsyncIterator[httpx.AsyncClient]:
    app = create_app(settings)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://gw") as client:
            yield client


@pytest.mark.parametrize(
    "headers", [{}, {"X-Internal-Token": "wrong"}, {"Authorization": "Bearer whatever"}]
)
async def test_calls_without_the_internal_token_are_refused(
    client: httpx.AsyncClient, headers: dict[str, str]
) -> None:
    response = await client.get(f"/internal/users/{uuid.uuid4()}", headers=headers)
    assert response.status_code == 401
    assert response.json()["code"] == "invalid_internal_token"


async def test_the_internal_token_opens_the_api(
    client: httpx.AsyncClient, settings: Settings
) -> None:
    token = settings.internal_token.get_secret_value()
    response = await client.get(
        f"/internal/users/{uuid.uuid4()}", headers={"X-Internal-Token": token}
    )
    assert response.status_code == 404
    assert response.headers["content-type"] == "application/problem+json"


async def test_readiness_checks_postgres(client: httpx.AsyncClient) -> None:
    response = await client.get("/readyz")
    assert response.status_code == 200
    assert response.json()["checks"] == {"postgres": "ok"}


async def test_a_malformed_call_is_the_callers_bug_not_the_clients(
    client: httpx.AsyncClient, settings: Settings
) -> None:
    token = settings.internal_token.get_secret_value()
    response = await client.post(
        f"/internal/users/{uuid.uuid4()}/accounts",
        headers={"X-Internal-Token": token},
        json={"name": "x", "type": "checking", "currency": "usd", "colour": "red"},
    )
    assert response.status_code == 422
    assert response.json()["code"] == "bad_internal_request"


def _as_sqlalchemy_raises(cause: Exception) -> DBAPIError:
    """`cause` as asyncpg raises it through SQLAlchemy: a DBAPIError, from the
    dialect's error, from asyncpg's."""
    driver = RuntimeError(str(cause))
    driver.__cause__ = cause
    error = DBAPIError("SELECT 1", None, driver)
    error.__cause__ = driver
    return error


@pytest.mark.parametrize(
    ("cause", "status"),
    [
        (asyncpg.exceptions.CannotConnectNowError("the database system is shutting down"), 503),
        (asyncpg.exceptions.CannotConnectNowError("the database system is starting up"), 503),
        (asyncpg.exceptions.AdminShutdownError("terminating connection"), 503),
        (asyncpg.exceptions.ConnectionDoesNotExistError("connection was closed"), 503),
        (asyncpg.exceptions.QueryCanceledError("canceling statement due to timeout"), 503),
        (asyncpg.exceptions.LockNotAvailableError("lock timeout"), 503),
        (asyncpg.exceptions.InternalClientError("cannot switch to state 13"), 503),
        (asyncpg.exceptions.DataError("a bug of ours"), 500),
    ],
)
async def test_postgres_going_away_or_too_slow_is_a_503_and_anything_else_a_500(
    settings: Settings, cause: Exception, status: int
) -> None:
    """What a Postgres restart raises (seen in tests/e2e/test_bank.py) is the
    retryable 503, like an OperationalError; other database errors stay bugs."""
    app = create_app(settings)

    @app.get("/internal/raises")
    async def raises() -> None:
        raise _as_sqlalchemy_raises(cause)

    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://gw") as client:
        response = await client.get(
            "/internal/raises",
            headers={"X-Internal-Token": settings.internal_token.get_secret_value()},
        )
    assert response.status_code == status
    assert response.headers["content-type"] == "application/problem+json"
    if status == 503:
        assert response.json()["code"] == "database_unavailable"
        assert response.headers["retry-after"] == "1"
