"""Input a client can send must never become a 5xx, and must change nothing."""

from __future__ import annotations

import base64
import json
import uuid

import httpx
import pytest

from tests.e2e.conftest import PASSWORD, User, assert_problem


def _cursor(position: dict[str, object]) -> str:
    return base64.urlsafe_b64encode(json.dumps(position).encode()).decode().rstrip("=")


def test_nul_characters_are_refused_where_postgres_could_not_store_them(
    api: httpx.Client, user: User
) -> None:
    register = api.post(
        "/auth/register",
        json={
            "email": f"nul-{uuid.uuid4().hex[:8]}@example.com",
            "password": PASSWORD,
            "display_name": "A\u0000B",
        },
    )
    assert assert_problem(register, 422)["errors"][0]["field"] == "display_name"

    account = api.post(
        "/services/accounts",
        headers=user.headers,
        json={"name": "Cash\u0000", "type": "cash", "currency": "USD"},
    )
    assert assert_problem(account, 422)["errors"][0]["field"] == "name"

    account_id = api.post(
        "/services/accounts",
        headers=user.headers,
        json={"name": "Cash", "type": "cash", "currency": "USD"},
    ).json()["id"]
    posted = api.post(
        "/services/transactions",
        headers=user.headers,
        json={
            "type": "expense",
            "account_id": account_id,
            "amount": "1.00",
            "date": "2026-11-01",
            "description": "x\u0000",
        },
    )
    assert assert_problem(posted, 422)["errors"][0]["field"] == "description"
    assert api.get("/services/transactions", headers=user.headers).json()["items"] == []


@pytest.mark.parametrize(
    ("path", "position"),
    [
        ("/services/transactions", {"d": "2026-01-01", "s": 2**70}),
        ("/services/transactions", {"d": "99999-01-01", "s": 1}),
        ("/services/transactions", {"d": "2026-01-01", "s": -1}),
        ("/services/transactions", {"d": "2026-01-01", "s": True}),
        ("/services/accounts", {"s": 2**63}),
        ("/services/accounts", {"s": "1"}),
    ],
)
def test_forged_cursors_are_a_422_naming_the_cursor(
    api: httpx.Client, user: User, path: str, position: dict[str, object]
) -> None:
    response = api.get(path, headers=user.headers, params={"cursor": _cursor(position)})
    assert assert_problem(response, 422)["errors"][0]["field"] == "cursor"


@pytest.mark.parametrize("body", [b'"string"', b"null", b"[]", b"{bad json", b"\xff\xfe"])
def test_bodies_that_are_not_a_json_object_are_a_422(api: httpx.Client, body: bytes) -> None:
    response = api.post(
        "/auth/register", content=body, headers={"Content-Type": "application/json"}
    )
    assert_problem(response, 422, "validation_failed")
