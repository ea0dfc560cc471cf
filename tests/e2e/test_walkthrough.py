"""The skeleton's user journey, through the real nginx, as a client app would do it."""

from __future__ import annotations

import uuid
from collections.abc import Mapping

import httpx

from tests.e2e.conftest import User, assert_problem, register_and_login


def _account(api: httpx.Client, user: User, name: str, currency: str = "USD") -> str:
    response = api.post(
        "/services/accounts",
        headers=user.headers,
        json={"name": name, "type": "checking", "currency": currency},
    )
    assert response.status_code == 201, response.text
    body = response.json()
    assert body["balance"] == ("0.00" if currency == "USD" else body["balance"])
    return str(body["id"])


def _post(
    api: httpx.Client, user: User, body: Mapping[str, object], key: str | None = None
) -> httpx.Response:
    headers = dict(user.headers)
    if key:
        headers["Idempotency-Key"] = key
    return api.post("/services/transactions", headers=headers, json=body)


def _balance(api: httpx.Client, user: User, account_id: str) -> str:
    response = api.get(f"/services/accounts/{account_id}/balance", headers=user.headers)
    assert response.status_code == 200, response.text
    return str(response.json()["balance"])


def test_register_login_book_and_read_back(api: httpx.Client) -> None:
    alice = register_and_login(api)
    checking = _account(api, alice, "Checking")
    savings = _account(api, alice, "Savings")

    expense = _post(
        api,
        alice,
        {
            "type": "expense",
            "account_id": checking,
            "amount": "12.30",
            "date": "2026-11-02",
            "description": "Lunch",
        },
    )
    assert expense.status_code == 201, expense.text
    assert expense.json()["amount"] == "12.30"
    income = _post(
        api,
        alice,
        {
            "type": "income",
            "account_id": checking,
            "amount": "2500.00",
            "date": "2026-11-01",
            "description": "Salary",
        },
    )
    assert income.status_code == 201, income.text
    transfer = _post(
        api,
        alice,
        {
            "type": "transfer",
            "account_id": checking,
            "to_account_id": savings,
            "amount": "1000.01",
            "date": "2026-11-03",
        },
    )
    assert transfer.status_code == 201, transfer.text

    # 2500.00 - 12.30 - 1000.01, to the cent
    assert _balance(api, alice, checking) == "1487.69"
    assert _balance(api, alice, savings) == "1000.01"
    assert (
        api.get(f"/services/accounts/{checking}", headers=alice.headers).json()["balance"]
        == "1487.69"
    )

    listed = api.get("/services/transactions", headers=alice.headers)
    assert listed.status_code == 200
    items = listed.json()["items"]
    # newest first by date
    assert [t["description"] for t in items] == ["", "Lunch", "Salary"]
    assert [t["type"] for t in items] == ["transfer", "expense", "income"]
    assert listed.json()["next_cursor"] is None


def test_idempotency_key_replays_the_original_response(api: httpx.Client, user: User) -> None:
    account = _account(api, user, "Cash")
    body = {
        "type": "income",
        "account_id": account,
        "amount": "40.00",
        "date": "2026-11-05",
        "description": "Gift",
    }
    key = str(uuid.uuid4())
    first = _post(api, user, body, key)
    again = _post(api, user, body, key)
    assert first.status_code == again.status_code == 201
    assert again.json() == first.json()
    assert again.headers["idempotent-replayed"] == "true"
    assert "idempotent-replayed" not in first.headers
    listed = api.get("/services/transactions", headers=user.headers).json()["items"]
    assert [t["id"] for t in listed] == [first.json()["id"]]
    assert _balance(api, user, account) == "40.00"

    conflict = _post(api, user, {**body, "amount": "41.00"}, key)
    assert_problem(conflict, 422, "idempotency_conflict")
    assert _balance(api, user, account) == "40.00"


def test_another_users_objects_are_not_found(api: httpx.Client) -> None:
    alice, bob = register_and_login(api), register_and_login(api)
    account = _account(api, alice, "Alice's")
    bob_account = _account(api, bob, "Bob's")
    posted = _post(
        api,
        alice,
        {"type": "income", "account_id": account, "amount": "5.00", "date": "2026-11-01"},
    )
    transaction = posted.json()["id"]

    assert_problem(api.get(f"/services/accounts/{account}", headers=bob.headers), 404, "not_found")
    assert_problem(
        api.get(f"/services/accounts/{account}/balance", headers=bob.headers), 404, "not_found"
    )
    assert_problem(
        api.get(f"/services/transactions/{transaction}", headers=bob.headers), 404, "not_found"
    )
    # neither as the source nor as the target of a transfer
    assert_problem(
        _post(
            api,
            bob,
            {"type": "expense", "account_id": account, "amount": "1.00", "date": "2026-11-01"},
        ),
        404,
    )
    assert_problem(
        _post(
            api,
            bob,
            {
                "type": "transfer",
                "account_id": bob_account,
                "to_account_id": account,
                "amount": "1.00",
                "date": "2026-11-01",
            },
        ),
        404,
    )
    assert _balance(api, alice, account) == "5.00"
    assert api.get("/services/transactions", headers=bob.headers).json()["items"] == []


def test_invalid_amounts_are_refused_and_change_nothing(api: httpx.Client, user: User) -> None:
    account = _account(api, user, "Checking")
    too_precise = _post(
        api,
        user,
        {"type": "expense", "account_id": account, "amount": "12.345", "date": "2026-11-01"},
    )
    body = assert_problem(too_precise, 422, "validation_failed")
    assert body["errors"][0]["field"] == "amount"

    as_float = _post(
        api, user, {"type": "expense", "account_id": account, "amount": 12.3, "date": "2026-11-01"}
    )
    body = assert_problem(as_float, 422, "validation_failed")
    assert [e["field"] for e in body["errors"]] == ["amount"]

    for bad in ("0", "-1.00", "1e3", "12,30", "", "1234567890123456"):
        response = _post(
            api,
            user,
            {"type": "expense", "account_id": account, "amount": bad, "date": "2026-11-01"},
        )
        assert_problem(response, 422)
    unknown_field = _post(
        api,
        user,
        {
            "type": "expense",
            "account_id": account,
            "amount": "1.00",
            "date": "2026-11-01",
            "memo": "x",
        },
    )
    assert assert_problem(unknown_field, 422)["errors"][0] == {
        "field": "memo",
        "message": "unknown field",
    }
    assert api.get("/services/transactions", headers=user.headers).json()["items"] == []
    assert _balance(api, user, account) == "0.00"


def test_refresh_rotates_and_the_old_token_is_refused(api: httpx.Client, user: User) -> None:
    rotated = api.post("/auth/refresh", json={"refresh_token": user.refresh_token})
    assert rotated.status_code == 200, rotated.text
    pair = rotated.json()
    assert pair["refresh_token"] != user.refresh_token
    assert (
        api.get("/profile", headers={"Authorization": f"Bearer {pair['access_token']}"}).status_code
        == 200
    )

    reused = api.post("/auth/refresh", json={"refresh_token": user.refresh_token})
    assert_problem(reused, 401, "refresh_token_reused")
    # reuse revokes the whole session: the newest refresh token is dead too
    assert_problem(api.post("/auth/refresh", json={"refresh_token": pair["refresh_token"]}), 401)


def test_profile_and_logout(api: httpx.Client, user: User) -> None:
    profile = api.get("/profile", headers=user.headers)
    assert profile.status_code == 200
    assert profile.json()["email"] == user.email
    assert profile.json()["default_currency"] == "USD"

    assert api.post("/auth/logout", json={"refresh_token": user.refresh_token}).status_code == 204
    assert_problem(api.post("/auth/refresh", json={"refresh_token": user.refresh_token}), 401)


def test_transactions_page_with_a_stable_cursor(api: httpx.Client, user: User) -> None:
    account = _account(api, user, "Checking")
    for day in range(1, 8):
        response = _post(
            api,
            user,
            {
                "type": "income",
                "account_id": account,
                "amount": f"{day}.00",
                "date": f"2026-10-{day:02d}",
            },
        )
        assert response.status_code == 201
    first = api.get("/services/transactions", headers=user.headers, params={"limit": 3}).json()
    assert [t["date"][-2:] for t in first["items"]] == ["07", "06", "05"]
    # a new transaction arriving between pages does not shift the next page
    _post(
        api, user, {"type": "income", "account_id": account, "amount": "9.00", "date": "2026-10-06"}
    )
    second = api.get(
        "/services/transactions",
        headers=user.headers,
        params={"limit": 3, "cursor": first["next_cursor"]},
    ).json()
    assert [t["date"][-2:] for t in second["items"]] == ["04", "03", "02"]
    third = api.get(
        "/services/transactions",
        headers=user.headers,
        params={"limit": 3, "cursor": second["next_cursor"]},
    ).json()
    assert [t["date"][-2:] for t in third["items"]] == ["01"]
    assert third["next_cursor"] is None
    bad = api.get("/services/transactions", headers=user.headers, params={"cursor": "nope"})
    assert assert_problem(bad, 422)["errors"][0]["field"] == "cursor"
