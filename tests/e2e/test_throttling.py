"""Brute-force protection: failed logins are throttled per account and per client
address, across replicas, and a failure takes as long for an unknown email as
for a wrong password."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator

import httpx
import pytest

from auth.config import Settings as AuthSettings
from auth.main import create_app
from tests.conftest import StackInfo
from tests.e2e.conftest import PASSWORD, assert_problem, client_at, register_and_login
from tests.e2e.test_metrics import scrape

ACCOUNT_LIMIT, IP_LIMIT = 5, 30  # the defaults of the stack under test


def _attempt(client: httpx.Client, email: str, password: str) -> httpx.Response:
    return client.post("/auth/login", json={"email": email, "password": password})


def _retry_after(response: httpx.Response) -> int:
    assert_problem(response, 429, "login_throttled")
    retry_after = int(response.headers["retry-after"])
    assert 0 < retry_after <= 900
    return retry_after


def test_an_account_is_throttled_after_repeated_failures(
    api: httpx.Client, stack: StackInfo
) -> None:
    victim = register_and_login(api)
    with client_at(stack, "127.0.0.11") as attacker:
        for _ in range(ACCOUNT_LIMIT):
            assert_problem(_attempt(attacker, victim.email, "wrong guess!"), 401)
        _retry_after(_attempt(attacker, victim.email, "wrong guess!"))
        # while throttled, even the right password is not checked
        _retry_after(_attempt(attacker, victim.email, PASSWORD))
    # per account, not per address: the owner elsewhere is throttled too
    with client_at(stack, "127.0.0.12") as owner:
        _retry_after(_attempt(owner, victim.email, PASSWORD))
        other = register_and_login(owner)
        assert _attempt(owner, other.email, PASSWORD).status_code == 200


def test_unknown_emails_are_throttled_like_real_ones(stack: StackInfo) -> None:
    ghost = f"ghost-{uuid.uuid4().hex[:8]}@example.com"
    with client_at(stack, "127.0.0.13") as attacker:
        for _ in range(ACCOUNT_LIMIT):
            assert_problem(_attempt(attacker, ghost, "guess guess"), 401, "invalid_credentials")
        _retry_after(_attempt(attacker, ghost, "guess guess"))


def test_a_client_address_is_throttled_across_accounts(api: httpx.Client, stack: StackInfo) -> None:
    bystander = register_and_login(api)
    with client_at(stack, "127.0.0.14") as sprayer:
        for i in range(IP_LIMIT):
            response = _attempt(sprayer, f"spray-{i}-{uuid.uuid4().hex[:6]}@example.com", "x")
            assert_problem(response, 401)
        _retry_after(_attempt(sprayer, f"fresh-{uuid.uuid4().hex[:6]}@example.com", "x"))
        _retry_after(_attempt(sprayer, bystander.email, PASSWORD))
    # other addresses are unaffected
    assert _attempt(api, bystander.email, PASSWORD).status_code == 200


def test_successful_logins_do_not_use_up_the_address_allowance(stack: StackInfo) -> None:
    with client_at(stack, "127.0.0.15") as office:
        user = register_and_login(office)
        for _ in range(IP_LIMIT + 5):
            assert _attempt(office, user.email, PASSWORD).status_code == 200


@pytest.fixture
async def second_replica(stack: StackInfo) -> AsyncIterator[httpx.AsyncClient]:
    """A fresh auth process next to the stack's: nothing in memory carries over."""
    settings = AuthSettings(
        environment="test",
        jwt_secret=stack.secrets["JWT_SECRET"],
        internal_token=stack.secrets["INTERNAL_TOKEN"],
        db_gateway_url=stack.services["db-gateway"],
        redis_url=stack.redis_url,
    )
    app = create_app(settings)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app, client=("127.0.0.16", 4242))
        async with httpx.AsyncClient(transport=transport, base_url="http://auth") as client:
            yield client


async def test_throttling_holds_across_replicas_and_restarts(
    api: httpx.Client, stack: StackInfo, second_replica: httpx.AsyncClient
) -> None:
    victim = register_and_login(api)
    with client_at(stack, "127.0.0.17") as attacker:
        for _ in range(ACCOUNT_LIMIT):
            _attempt(attacker, victim.email, "wrong guess!")
    response = await second_replica.post(
        "/auth/login", json={"email": victim.email, "password": PASSWORD}
    )
    assert response.status_code == 429
    assert int(response.headers["retry-after"]) > 0


def test_unknown_emails_cost_an_argon2id_verification_like_wrong_passwords(
    api: httpx.Client, stack: StackInfo
) -> None:
    """Telling registered emails from unknown ones by timing needs them to cost
    different work. Counted, not timed (the machine is shared): a login with an
    unknown email runs exactly one argon2id verification, as a wrong password
    does (against a dummy hash of the same parameters)."""
    user = register_and_login(api)

    def verifications() -> float:
        return scrape(stack, "auth").value("password_verifications_total")

    for i, email in enumerate((f"nobody-{uuid.uuid4().hex}@example.com", user.email)):
        before = verifications()
        with client_at(stack, f"127.0.1.{i + 1}") as client:
            assert_problem(_attempt(client, email, "not the password"), 401, "invalid_credentials")
        assert verifications() - before == 1, email
