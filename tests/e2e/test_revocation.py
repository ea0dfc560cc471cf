"""Revoked access tokens stop working at the ledger within a second: for every
revoking action, and even when Redis has lost every marker."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator

import httpx
import pytest
import redis
from jose import jwt

from tests.conftest import StackInfo
from tests.e2e.conftest import PASSWORD, User, assert_problem, login, register_and_login
from tests.waiting import wait_until

# Product promises, kept as ceilings: a revoked token is refused within a
# second (auth writes the marker before it answers, so this is generous), and
# the revocation sync (every second, on each auth replica) rebuilds a lost list
# within a couple of seconds.
DEADLINE_SECONDS = 1.0
REBUILT_WITHIN = 5.0


@pytest.fixture
def redis_client(stack: StackInfo) -> Iterator[redis.Redis]:
    client = redis.Redis.from_url(stack.redis_url)
    yield client
    client.close()


def _refused_within_a_second(api: httpx.Client, victim: User, revoked_at: float) -> float:
    """Poll the ledger until it refuses the token; return how long that took."""
    while True:
        response = api.get("/services/accounts", headers=victim.headers)
        elapsed = time.monotonic() - revoked_at
        if response.status_code == 401:
            assert_problem(response, 401, "token_revoked")
            return elapsed
        assert response.status_code == 200, response.text
        assert elapsed < DEADLINE_SECONDS, f"still accepted {elapsed:.2f}s after revocation"
        time.sleep(0.02)


def _logout(api: httpx.Client, actor: User, victim: User) -> None:
    assert api.post("/auth/logout", json={"refresh_token": victim.refresh_token}).status_code == 204


def _logout_all(api: httpx.Client, actor: User, victim: User) -> None:
    assert api.post("/auth/logout-all", headers=actor.headers).status_code == 204


def _end_session(api: httpx.Client, actor: User, victim: User) -> None:
    sessions = api.get("/auth/sessions", headers=actor.headers).json()["items"]
    other = next(s["id"] for s in sessions if not s["current"])
    assert api.delete(f"/auth/sessions/{other}", headers=actor.headers).status_code == 204


def _change_password(api: httpx.Client, actor: User, victim: User) -> None:
    response = api.post(
        "/auth/password",
        headers=actor.headers,
        json={"current_password": PASSWORD, "new_password": "brand new passphrase 42"},
    )
    assert response.status_code == 204, response.text


def _delete_account(api: httpx.Client, actor: User, victim: User) -> None:
    response = api.request("DELETE", "/profile", headers=actor.headers, json={"password": PASSWORD})
    assert response.status_code == 204, response.text


ACTIONS: dict[str, Callable[[httpx.Client, User, User], None]] = {
    "logout": _logout,
    "logout-all": _logout_all,
    "end-session": _end_session,
    "password-change": _change_password,
    "account-deletion": _delete_account,
}


@pytest.mark.parametrize("action", ACTIONS)
def test_revoked_tokens_are_refused_by_the_ledger_within_a_second(
    api: httpx.Client, action: str
) -> None:
    actor = register_and_login(api)
    victim = login(api, actor.email)  # the session being revoked
    assert api.get("/services/accounts", headers=victim.headers).status_code == 200
    ACTIONS[action](api, actor, victim)
    elapsed = _refused_within_a_second(api, victim, time.monotonic())
    assert elapsed < DEADLINE_SECONDS
    # ...and at auth too
    assert_problem(api.get("/auth/sessions", headers=victim.headers), 401, "token_revoked")


def test_revocation_survives_redis_losing_every_marker(
    api: httpx.Client, redis_client: redis.Redis
) -> None:
    victim = register_and_login(api)
    bystander = register_and_login(api)
    _logout(api, victim, victim)
    # a Redis restart (no persistence) loses the markers and the sync sentinel
    redis_client.flushall()
    assert_problem(api.get("/services/accounts", headers=victim.headers), 401, "token_revoked")
    assert api.get("/services/accounts", headers=bystander.headers).status_code == 200
    # the sync rebuilds the list from Postgres within a couple of seconds: its
    # sentinel and the victim's marker are back. (The sentinel alone is not the
    # event: a round that wrote its markers just before the flush sets it just
    # after, with the markers gone until the next round.)
    marker = f"revoked:{jwt.get_unverified_claims(victim.access_token)['sid']}"
    wait_until(
        lambda: redis_client.exists("revoked-sync") and redis_client.exists(marker),
        "revocation list was not rebuilt",
        within=REBUILT_WITHIN,
        every=0.1,
    )
    assert redis_client.keys("revoked:*")
    assert_problem(api.get("/services/accounts", headers=victim.headers), 401, "token_revoked")


def test_a_reused_refresh_token_ends_the_access_tokens_of_its_session(
    api: httpx.Client,
) -> None:
    victim = register_and_login(api)
    rotated = api.post("/auth/refresh", json={"refresh_token": victim.refresh_token}).json()
    fresh = User(
        email=victim.email,
        access_token=rotated["access_token"],
        refresh_token=rotated["refresh_token"],
    )
    assert api.get("/services/accounts", headers=fresh.headers).status_code == 200
    reused = api.post("/auth/refresh", json={"refresh_token": victim.refresh_token})
    assert_problem(reused, 401, "refresh_token_reused")
    _refused_within_a_second(api, fresh, time.monotonic())


def test_the_paths_that_batch_the_session_check_refuse_revoked_tokens_too(
    api: httpx.Client,
) -> None:
    """The balance and the dashboard check the session in the same Redis round
    trip as their cache read, outside the usual dependency: they must refuse
    an ended session all the same, with Redis and without its markers."""
    owner = register_and_login(api)
    victim = login(api, owner.email)
    account = api.post(
        "/services/accounts",
        headers=owner.headers,
        json={"name": "A", "type": "cash", "currency": "USD"},
    ).json()["id"]
    paths = (f"/services/accounts/{account}/balance", "/services/dashboard")
    for path in paths:
        assert api.get(path, headers=victim.headers).status_code == 200  # now cached
    _logout(api, owner, victim)
    for path in paths:
        assert_problem(api.get(path, headers=victim.headers), 401, "token_revoked")
        assert api.get(path, headers=owner.headers).status_code == 200
