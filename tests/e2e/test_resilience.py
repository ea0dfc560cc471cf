"""Restarts and outages under load, on the local stack (two auth and two ledger
processes behind nginx, like the cluster's replicas): a planned restart fails
no request, a database outage is a fast 503 problem+json and heals by itself,
and Redis going away never makes a balance wrong."""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Iterator
from decimal import Decimal

import httpx
import pytest

from tests.conftest import StackInfo
from tests.e2e.conftest import PASSWORD, User, register_and_login
from tests.e2e.load import Call, Load, steady_load
from tests.waiting import wait_until

# Longer than a fast 503 ever takes, far shorter than any timeout a hang would hit.
FAST_SECONDS = 2.0
RECOVERY_SECONDS = 5.0


def _accounts(api: httpx.Client, user: User) -> tuple[str, str]:
    ids = []
    for name, opening in (("A", "1000.00"), ("B", "0")):
        response = api.post(
            "/services/accounts",
            headers=user.headers,
            json={"name": name, "type": "checking", "currency": "USD", "opening_balance": opening},
        )
        assert response.status_code == 201, response.text
        ids.append(str(response.json()["id"]))
    return ids[0], ids[1]


def _transfer(user: User, source: str, target: str) -> Call:
    def call(client: httpx.Client) -> httpx.Response:
        return client.post(
            "/services/transactions",
            # a resend after a dropped connection (load.py) is then never a second transfer
            headers={**user.headers, "Idempotency-Key": f"load-{uuid.uuid4()}"},
            json={
                "type": "transfer",
                "account_id": source,
                "to_account_id": target,
                "amount": "0.01",
                "date": "2026-11-20",
            },
        )

    return call


def flowing(load: Load, count: int, *, after: float = 0.0) -> None:
    """Wait until `count` calls that started after `after` have ended."""
    wait_until(lambda: len(load.after(after)) >= count, f"{count} calls ended")


def _get(path: str, user: User) -> Call:
    def call(client: httpx.Client) -> httpx.Response:
        return client.get(path, headers=user.headers)

    return call


@pytest.mark.parametrize("replica", ["ledger-1", "ledger-2"])
def test_restarting_a_ledger_replica_under_load_fails_no_request(
    api: httpx.Client, stack: StackInfo, replica: str
) -> None:
    user = register_and_login(api)
    a, b = _accounts(api, user)
    calls = [
        _transfer(user, a, b),
        _transfer(user, b, a),
        _get(f"/services/accounts/{a}/balance", user),
        _get("/services/dashboard", user),
        _get("/services/transactions?limit=5", user),
    ] * 2  # enough calls in flight that a replica dropping one would be caught
    with steady_load(stack.ingress, calls) as load:
        flowing(load, 30)
        stack.control("restart", replica)  # returns once the new process is ready
        flowing(load, 50, after=time.monotonic())
    assert load.failures() == [], load.summary()
    # the ingress kept every client's connection: nothing had to be sent twice
    assert load.resent == []
    # and nothing was lost or doubled meanwhile
    posted = sum(1 for o in load.outcomes if o.status == 201)
    listed = api.get("/services/transactions", headers=user.headers, params={"limit": 200})
    pages = listed.json()
    total = len(pages["items"])
    while pages["next_cursor"]:
        pages = api.get(
            "/services/transactions",
            headers=user.headers,
            params={"limit": 200, "cursor": pages["next_cursor"]},
        ).json()
        total += len(pages["items"])
    assert total == posted
    balances = [
        api.get(f"/services/accounts/{x}/balance", headers=user.headers).json()["balance"]
        for x in (a, b)
    ]
    assert sum(Decimal(v) for v in balances) == Decimal("1000.00")


def test_restarting_an_auth_replica_under_load_fails_no_login_or_refresh(
    api: httpx.Client, stack: StackInfo
) -> None:
    user = register_and_login(api)
    state = {"refresh": user.refresh_token}

    def login(client: httpx.Client) -> httpx.Response:
        return client.post("/auth/login", json={"email": user.email, "password": PASSWORD})

    def sessions(client: httpx.Client) -> httpx.Response:
        return client.get("/auth/sessions", headers=user.headers)

    def refresh(client: httpx.Client) -> httpx.Response:
        response = client.post("/auth/refresh", json={"refresh_token": state["refresh"]})
        if response.status_code == 200:
            state["refresh"] = response.json()["refresh_token"]
        return response

    # paced, so the load stays under the ingress's rate limit for credentials
    with steady_load(stack.ingress, [login, sessions, refresh], pause=0.1) as load:
        flowing(load, 10)
        stack.control("restart", "auth-1")
        flowing(load, 10, after=time.monotonic())
    assert load.failures() == [], load.summary()
    assert load.resent == []


@pytest.fixture
def postgres_back(stack: StackInfo) -> Iterator[None]:
    try:
        yield
    finally:
        stack.control("start", "postgres")  # a no-op when it is running


@pytest.mark.usefixtures("postgres_back")
def test_a_postgres_outage_is_fast_503s_and_heals_within_seconds(
    api: httpx.Client, stack: StackInfo
) -> None:
    user = register_and_login(api)
    a, b = _accounts(api, user)
    calls = [
        _get("/services/accounts", user),
        _transfer(user, a, b),
        _get("/services/reports/net-worth", user),
    ]
    with steady_load(stack.ingress, calls, pause=0.02) as load:
        flowing(load, 10)
        stack.control("stop", "postgres")
        # the outage is noticed (two failed calls per client) before it ends
        wait_until(lambda: len(load.failures()) >= 6, "calls failed while Postgres was down")
        stack.control("start", "postgres")  # returns once Postgres accepts connections
        back = time.monotonic()
        # calls that started after the promised recovery time, and ended
        flowing(load, 20, after=back + RECOVERY_SECONDS)
    failures = load.failures()
    # every failure is an answer, fast, and the retryable problem a client expects
    assert {(o.status, o.code) for o in failures} <= {
        (503, "service_unavailable"),
        (503, "database_unavailable"),
    }, load.summary()
    assert max(o.seconds for o in failures) < FAST_SECONDS
    assert all("retry" in o.text.lower() for o in failures)
    # healed without restarting anything: from RECOVERY_SECONDS after Postgres was
    # back, every call succeeds
    healed = load.after(back + RECOVERY_SECONDS)
    assert [o for o in healed if o.status not in (200, 201)] == []
    first_success = min(o.started for o in load.after(back) if o.status in (200, 201))
    assert first_success - back < RECOVERY_SECONDS


@pytest.fixture
def db_gateway_back(stack: StackInfo) -> Iterator[None]:
    try:
        yield
    finally:
        stack.control("start", "db-gateway")


@pytest.mark.usefixtures("db_gateway_back")
def test_with_db_gateway_down_cached_balances_are_served_and_the_rest_is_a_fast_503(
    api: httpx.Client, stack: StackInfo
) -> None:
    user = register_and_login(api)
    a, _ = _accounts(api, user)
    cached = api.get(f"/services/accounts/{a}/balance", headers=user.headers)
    assert cached.status_code == 200
    # A crash: gone at once. (A stop drains first, for as long as its peers
    # hold idle connections; the revocation list that lets the ledger answer
    # from Redis alone is only vouched for during seconds without db-gateway.)
    stack.control("kill", "db-gateway")
    started = time.monotonic()
    again = api.get(f"/services/accounts/{a}/balance", headers=user.headers)
    assert again.status_code == 200, again.text
    assert again.json() == cached.json()
    for response in (
        api.get("/services/accounts", headers=user.headers),
        api.post("/auth/login", json={"email": user.email, "password": PASSWORD}),
    ):
        assert response.status_code == 503, response.text
        assert response.headers["content-type"] == "application/problem+json"
        assert response.headers["retry-after"] == "1"
    assert time.monotonic() - started < FAST_SECONDS * 3


@pytest.fixture
def redis_back(stack: StackInfo) -> Iterator[None]:
    try:
        yield
    finally:
        stack.control("start", "redis")


@pytest.mark.usefixtures("redis_back")
def test_every_balance_read_is_right_while_redis_goes_and_comes_back(
    api: httpx.Client, stack: StackInfo
) -> None:
    user = register_and_login(api)
    a, b = _accounts(api, user)
    # the truth: each version of account A and the balance it had
    truth: dict[int, str] = {}

    def read(client: httpx.Client) -> httpx.Response:
        return client.get(f"/services/accounts/{a}/balance", headers=user.headers)

    with steady_load(stack.ingress, [read, read, read], pause=0.01) as load:
        for step in range(30):
            if step == 10:
                stack.control("stop", "redis")
            if step == 20:
                stack.control("start", "redis")
            response = api.post(
                "/services/transactions",
                headers={**user.headers, "Idempotency-Key": f"r-{uuid.uuid4()}"},
                json={
                    "type": "transfer",
                    "account_id": a,
                    "to_account_id": b,
                    "amount": "1.00",
                    "date": "2026-11-20",
                },
            )
            assert response.status_code == 201, response.text
            balance = api.get(f"/services/accounts/{a}/balance", headers=user.headers).json()
            truth[balance["version"]] = balance["balance"]
            # read-your-writes, Redis or not
            assert balance["balance"] == f"{1000 - step - 1}.00"
        # the readers go on until one of them has read the last write (an event,
        # not a pause: on a busy machine that can take a while)
        last = max(truth)
        wait_until(
            lambda: any(
                o.status == 200 and json.loads(o.text)["version"] == last
                for o in list(load.outcomes)
            ),
            "no reader saw the last write",
        )
    reads = [o for o in load.outcomes if o.status == 200]
    assert load.failures() == [], load.summary()
    seen = {}
    for outcome in reads:
        body = json.loads(outcome.text)
        seen[body["version"]] = body["balance"]
    # every balance a reader saw is the one its version really had
    wrong = {v: b for v, b in seen.items() if v in truth and truth[v] != b}
    assert wrong == {}
    assert max(seen) == max(truth)
