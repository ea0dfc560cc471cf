"""DELETE /profile: the password is checked like a login, and then every trace
of the user is gone."""

from __future__ import annotations

import asyncio
import uuid

import httpx
import redis
from sqlalchemy import text
from sqlalchemy.ext.asyncio import create_async_engine

from tests.conftest import StackInfo
from tests.e2e.conftest import PASSWORD, User, assert_problem, client_at, register_and_login


def _delete(client: httpx.Client, user: User, password: str) -> httpx.Response:
    return client.request("DELETE", "/profile", headers=user.headers, json={"password": password})


def _book_something(api: httpx.Client, user: User) -> str:
    account = api.post(
        "/services/accounts",
        headers=user.headers,
        json={"name": "Checking", "type": "checking", "currency": "EUR"},
    ).json()["id"]
    posted = api.post(
        "/services/transactions",
        headers={**user.headers, "Idempotency-Key": f"k-{uuid.uuid4()}"},
        json={"type": "income", "account_id": account, "amount": "10.00", "date": "2026-11-01"},
    )
    assert posted.status_code == 201, posted.text
    assert api.get(f"/services/accounts/{account}/balance", headers=user.headers).is_success
    return str(account)


async def _count_rows(stack: StackInfo, user_id: str, email: str) -> dict[str, int]:
    """Rows that mention the user, in every table with a user_id column (found
    from the catalog, so a table added later is covered too) and in users."""
    engine = create_async_engine(stack.database_url)
    try:
        async with engine.connect() as conn:
            tables = (
                await conn.execute(
                    text(
                        "SELECT table_name FROM information_schema.columns "
                        "WHERE table_schema = 'public' AND column_name = 'user_id'"
                    )
                )
            ).scalars()
            counts = {}
            for table in tables:
                counts[table] = (
                    await conn.execute(
                        text(f'SELECT count(*) FROM "{table}" WHERE user_id = :u'),  # noqa: S608
                        {"u": user_id},
                    )
                ).scalar_one()
            counts["users"] = (
                await conn.execute(
                    text("SELECT count(*) FROM users WHERE id = :u OR lower(email) = :e"),
                    {"u": user_id, "e": email.lower()},
                )
            ).scalar_one()
    finally:
        await engine.dispose()
    return counts


def _rows_of(stack: StackInfo, user_id: str, email: str) -> dict[str, int]:
    return asyncio.run(_count_rows(stack, user_id, email))


def test_deleting_the_profile_erases_every_row_and_ends_every_token(
    api: httpx.Client, stack: StackInfo
) -> None:
    user = register_and_login(api)
    profile = api.get("/profile", headers=user.headers).json()
    _book_something(api, user)
    before = _rows_of(stack, profile["id"], user.email)
    assert before["accounts"] > 0
    assert before["transactions"] > 0
    assert before["postings"] > 0
    assert before["sessions"] > 0
    assert before["idempotency_records"] > 0
    cache = redis.Redis.from_url(stack.redis_url)
    try:
        assert cache.keys(f"bal:{profile['id']}:*")

        response = _delete(api, user, PASSWORD)
        assert response.status_code == 204, response.text

        assert not cache.keys(f"bal:{profile['id']}:*")
    finally:
        cache.close()
    after = _rows_of(stack, profile["id"], user.email)
    assert set(after.values()) == {0}, after
    assert_problem(api.get("/profile", headers=user.headers), 401, "token_revoked")
    refreshed = api.post("/auth/refresh", json={"refresh_token": user.refresh_token})
    assert_problem(refreshed, 401, "invalid_refresh_token")
    gone = api.post("/auth/login", json={"email": user.email, "password": PASSWORD})
    assert_problem(gone, 401, "invalid_credentials")
    # the email is free again
    again = api.post("/auth/register", json={"email": user.email, "password": PASSWORD})
    assert again.status_code == 201
    assert again.json()["id"] != profile["id"]


def test_a_wrong_password_deletes_nothing_and_is_throttled(stack: StackInfo) -> None:
    with client_at(stack, "127.0.0.21") as client:
        user = register_and_login(client)
        account = _book_something(client, user)
        for _ in range(5):
            response = _delete(client, user, "not my password")
            body = assert_problem(response, 403, "invalid_password")
            assert body["errors"] == [{"field": "password", "message": "is incorrect"}]
        throttled = _delete(client, user, PASSWORD)
        assert_problem(throttled, 429, "login_throttled")
        assert int(throttled.headers["retry-after"]) > 0
        # nothing was deleted and the token still works
        balance = client.get(f"/services/accounts/{account}/balance", headers=user.headers)
        assert balance.json()["balance"] == "10.00"


def test_the_password_is_required(api: httpx.Client, user: User) -> None:
    for body in ({}, {"password": ""}, {"password": PASSWORD, "extra": 1}):
        response = api.request("DELETE", "/profile", headers=user.headers, json=body)
        assert_problem(response, 422, "validation_failed")
    assert api.get("/profile", headers=user.headers).status_code == 200
