"""Redis is a cache: with it stopped the product is slower, never wrong, and it
fills up again once Redis is back."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest
import redis

from tests.conftest import StackInfo
from tests.e2e.conftest import User, assert_problem, login, register_and_login
from tests.waiting import wait_until


@pytest.fixture
def redis_stopped(stack: StackInfo) -> Iterator[None]:
    stack.control("stop", "redis")
    try:
        yield
    finally:
        stack.control("start", "redis")


def _account(api: httpx.Client, user: User, name: str) -> str:
    created = api.post(
        "/services/accounts",
        headers=user.headers,
        json={"name": name, "type": "checking", "currency": "USD", "opening_balance": "100.00"},
    )
    assert created.status_code == 201, created.text
    return str(created.json()["id"])


def _balance(api: httpx.Client, user: User, account: str) -> str:
    response = api.get(f"/services/accounts/{account}/balance", headers=user.headers)
    assert response.status_code == 200, response.text
    return str(response.json()["balance"])


def _transfer(api: httpx.Client, user: User, source: str, target: str, amount: str) -> None:
    response = api.post(
        "/services/transactions",
        headers=user.headers,
        json={
            "type": "transfer",
            "account_id": source,
            "to_account_id": target,
            "amount": amount,
            "date": "2026-11-20",
        },
    )
    assert response.status_code == 201, response.text


def test_balances_stay_exact_while_redis_is_down_and_after_it_returns(
    api: httpx.Client, stack: StackInfo
) -> None:
    user = register_and_login(api)
    a, b = _account(api, user, "A"), _account(api, user, "B")
    _transfer(api, user, a, b, "10.00")
    assert _balance(api, user, a) == "90.00"  # cached now

    stack.control("stop", "redis")
    try:
        for expected_a, expected_b in (("89.99", "110.01"), ("89.98", "110.02")):
            _transfer(api, user, a, b, "0.01")
            assert (_balance(api, user, a), _balance(api, user, b)) == (expected_a, expected_b)
        listed = api.get("/services/accounts", headers=user.headers).json()["items"]
        assert [x["balance"] for x in listed] == ["89.98", "110.02"]
        dashboard = api.get("/services/dashboard", headers=user.headers)
        assert dashboard.status_code == 200, dashboard.text
        assert [x["balance"] for x in dashboard.json()["accounts"]] == ["89.98", "110.02"]
    finally:
        stack.control("start", "redis")

    # Redis is back, empty: reads fill it again with the right numbers (the
    # replicas' queued repairs may drop an entry once more: it fills again)
    cache = redis.Redis.from_url(stack.redis_url, decode_responses=True)
    try:
        profile = api.get("/profile", headers=user.headers).json()

        def filled_again() -> bool:
            assert (_balance(api, user, a), _balance(api, user, b)) == ("89.98", "110.02")
            entry = cache.hgetall(f"bal:{profile['id']}:{a}")
            return bool(entry.get("balance") == "89.9800")

        wait_until(filled_again, "the cache was not filled again", every=0.1)
    finally:
        cache.close()
    _transfer(api, user, b, a, "0.02")
    assert (_balance(api, user, a), _balance(api, user, b)) == ("90.00", "110.00")
    dashboard = api.get("/services/dashboard", headers=user.headers).json()
    assert [x["balance"] for x in dashboard["accounts"]] == ["90.00", "110.00"]


@pytest.mark.usefixtures("redis_stopped")
def test_logins_work_and_revoked_tokens_stay_refused_without_redis(api: httpx.Client) -> None:
    user = register_and_login(api)
    other = login(api, user.email)
    assert api.get("/services/accounts", headers=other.headers).status_code == 200
    assert api.post("/auth/logout", json={"refresh_token": other.refresh_token}).status_code == 204
    # no revocation marker could be written: the verifiers ask db-gateway instead
    assert_problem(api.get("/services/accounts", headers=other.headers), 401, "token_revoked")
    assert_problem(api.get("/auth/sessions", headers=other.headers), 401, "token_revoked")
    assert api.get("/services/accounts", headers=user.headers).status_code == 200
