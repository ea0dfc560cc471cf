"""The internal API in-process, against the test stack's Postgres."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator

import httpx
import pytest

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
