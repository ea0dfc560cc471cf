"""One user can neither see nor touch another's ledger: every object endpoint
answers 404 (exactly like a missing object, never 403, 409, 412 or 304), no
reference to another user's account or category is accepted, and the owner's
data is untouched afterwards."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any

import httpx
import pytest

from tests.conftest import StackInfo
from tests.e2e.conftest import User, assert_problem, register_and_login
from tests.e2e.ledger_checks import (
    assert_books_balance,
    cached_equals_db,
    categories,
    create_tx,
    ledger_rows,
    list_all,
    open_account,
    post_tx,
    user_id_of,
)


@dataclass
class Pair:
    alice: User
    alice_id: str
    bob: User
    bob_id: str
    a_account: str
    a_other: str
    a_expense: dict[str, Any]
    a_split: dict[str, Any]
    a_transfer: dict[str, Any]
    a_groceries: str
    a_salary: str
    b_account: str
    b_other: str
    b_expense: dict[str, Any]
    b_transfer: dict[str, Any]
    b_groceries: str


def _snapshot(api: httpx.Client, stack: StackInfo, user: User, user_id: str) -> dict[str, Any]:
    accounts = api.get("/services/accounts", headers=user.headers)
    assert accounts.status_code == 200, accounts.text
    balances = {}
    for account in accounts.json()["items"]:
        got = api.get(f"/services/accounts/{account['id']}/balance", headers=user.headers)
        assert got.status_code == 200, got.text
        balances[account["id"]] = {k: v for k, v in got.json().items() if k != "as_of"}
    return {
        "accounts": accounts.json()["items"],
        "balances": balances,
        "transactions": list_all(api, user),
        "rows": ledger_rows(stack, user_id),
    }


@pytest.fixture(scope="module")
def pair(api: httpx.Client, stack: StackInfo) -> Pair:
    alice, bob = register_and_login(api), register_and_login(api)
    alice_id, bob_id = user_id_of(api, alice), user_id_of(api, bob)
    a_cats, b_cats = categories(stack, alice_id), categories(stack, bob_id)
    assert a_cats["Groceries"]["id"] != b_cats["Groceries"]["id"]
    a_account = open_account(api, alice, "Alice checking", opening_balance="500.00")
    a_other = open_account(api, alice, "Alice savings")
    b_account = open_account(api, bob, "Bob checking", opening_balance="50.00")
    b_other = open_account(api, bob, "Bob savings")
    a_expense = create_tx(
        api,
        alice,
        {
            "type": "expense",
            "account_id": a_account,
            "amount": "12.30",
            "date": "2026-11-02",
            "category_id": a_cats["Groceries"]["id"],
            "tags": ["private"],
        },
    )
    a_split = create_tx(
        api,
        alice,
        {
            "type": "expense",
            "account_id": a_account,
            "amount": "30.00",
            "date": "2026-11-03",
            "splits": [
                {"category_id": a_cats["Groceries"]["id"], "amount": "10.00"},
                {"category_id": a_cats["Fuel"]["id"], "amount": "20.00"},
            ],
        },
    )
    a_transfer = create_tx(
        api,
        alice,
        {
            "type": "transfer",
            "account_id": a_account,
            "to_account_id": a_other,
            "amount": "100.00",
            "date": "2026-11-04",
        },
    )
    b_expense = create_tx(
        api,
        bob,
        {
            "type": "expense",
            "account_id": b_account,
            "amount": "5.00",
            "date": "2026-11-02",
            "category_id": b_cats["Groceries"]["id"],
        },
    )
    b_transfer = create_tx(
        api,
        bob,
        {
            "type": "transfer",
            "account_id": b_account,
            "to_account_id": b_other,
            "amount": "1.00",
            "date": "2026-11-02",
        },
    )
    # Alice's balances are in the cache now, so a leak there would show
    assert api.get(f"/services/accounts/{a_account}/balance", headers=alice.headers).is_success
    return Pair(
        alice=alice,
        alice_id=alice_id,
        bob=bob,
        bob_id=bob_id,
        a_account=a_account,
        a_other=a_other,
        a_expense=a_expense,
        a_split=a_split,
        a_transfer=a_transfer,
        a_groceries=a_cats["Groceries"]["id"],
        a_salary=a_cats["Salary"]["id"],
        b_account=b_account,
        b_other=b_other,
        b_expense=b_expense,
        b_transfer=b_transfer,
        b_groceries=b_cats["Groceries"]["id"],
    )


def _attempts(api: httpx.Client, p: Pair) -> list[tuple[str, httpx.Response]]:
    """Everything Bob tries with Alice's ids."""
    h = p.bob.headers
    acc = f"/services/accounts/{p.a_account}"
    tx = f"/services/transactions/{p.a_expense['id']}"
    a_version = f'"{p.a_expense["version"]}"'
    day = "2026-11-05"
    return [
        ("GET account", api.get(acc, headers=h)),
        ("PATCH account", api.patch(acc, headers=h, json={"name": "mine now"})),
        ("PATCH account archive", api.patch(acc, headers=h, json={"archived": True})),
        ("PATCH account opening", api.patch(acc, headers=h, json={"opening_balance": "1.00"})),
        ("DELETE account", api.delete(acc, headers=h)),
        ("DELETE another account", api.delete(f"/services/accounts/{p.a_other}", headers=h)),
        ("GET balance", api.get(f"{acc}/balance", headers=h)),
        (
            "GET balance If-None-Match *",
            api.get(f"{acc}/balance", headers={**h, "If-None-Match": "*"}),
        ),
        ("GET transaction", api.get(tx, headers=h)),
        ("GET split transaction", api.get(f"/services/transactions/{p.a_split['id']}", headers=h)),
        ("GET transfer", api.get(f"/services/transactions/{p.a_transfer['id']}", headers=h)),
        ("PATCH transaction", api.patch(tx, headers=h, json={"amount": "1.00"})),
        (
            "PATCH transaction with its If-Match",
            api.patch(tx, headers={**h, "If-Match": a_version}, json={"amount": "1.00"}),
        ),
        (
            "PATCH transaction with a stale If-Match",
            api.patch(tx, headers={**h, "If-Match": '"999"'}, json={"amount": "1.00"}),
        ),
        (
            "PATCH transaction onto Bob's account",
            api.patch(tx, headers=h, json={"account_id": p.b_account}),
        ),
        ("DELETE transaction", api.delete(tx, headers=h)),
        (
            "DELETE transaction with a stale If-Match",
            api.delete(tx, headers={**h, "If-Match": '"999"'}),
        ),
        (
            "POST expense from Alice's account",
            post_tx(
                api,
                p.bob,
                {"type": "expense", "account_id": p.a_account, "amount": "1.00", "date": day},
            ),
        ),
        (
            "POST income into Alice's account",
            post_tx(
                api,
                p.bob,
                {"type": "income", "account_id": p.a_account, "amount": "1.00", "date": day},
            ),
        ),
        (
            "POST transfer to Alice's account",
            post_tx(
                api,
                p.bob,
                {
                    "type": "transfer",
                    "account_id": p.b_account,
                    "to_account_id": p.a_account,
                    "amount": "1.00",
                    "date": day,
                },
            ),
        ),
        (
            "POST transfer from Alice's account",
            post_tx(
                api,
                p.bob,
                {
                    "type": "transfer",
                    "account_id": p.a_account,
                    "to_account_id": p.b_account,
                    "amount": "1.00",
                    "date": day,
                },
            ),
        ),
        (
            "POST transfer between Alice's accounts",
            post_tx(
                api,
                p.bob,
                {
                    "type": "transfer",
                    "account_id": p.a_account,
                    "to_account_id": p.a_other,
                    "amount": "1.00",
                    "date": day,
                },
            ),
        ),
        (
            "POST expense in Alice's category",
            post_tx(
                api,
                p.bob,
                {
                    "type": "expense",
                    "account_id": p.b_account,
                    "amount": "1.00",
                    "date": day,
                    "category_id": p.a_groceries,
                },
            ),
        ),
        (
            "POST income in Alice's category",
            post_tx(
                api,
                p.bob,
                {
                    "type": "income",
                    "account_id": p.b_account,
                    "amount": "1.00",
                    "date": day,
                    "category_id": p.a_salary,
                },
            ),
        ),
        (
            "POST split in Alice's category",
            post_tx(
                api,
                p.bob,
                {
                    "type": "expense",
                    "account_id": p.b_account,
                    "amount": "2.00",
                    "date": day,
                    "splits": [
                        {"category_id": p.b_groceries, "amount": "1.00"},
                        {"category_id": p.a_groceries, "amount": "1.00"},
                    ],
                },
            ),
        ),
        (
            "PATCH Bob's expense onto Alice's account",
            api.patch(
                f"/services/transactions/{p.b_expense['id']}",
                headers=h,
                json={"account_id": p.a_account},
            ),
        ),
        (
            "PATCH Bob's expense into a transfer to Alice",
            api.patch(
                f"/services/transactions/{p.b_expense['id']}",
                headers=h,
                json={"type": "transfer", "to_account_id": p.a_account},
            ),
        ),
        (
            "PATCH Bob's transfer target to Alice",
            api.patch(
                f"/services/transactions/{p.b_transfer['id']}",
                headers=h,
                json={"to_account_id": p.a_account},
            ),
        ),
        (
            "PATCH Bob's transfer source to Alice",
            api.patch(
                f"/services/transactions/{p.b_transfer['id']}",
                headers=h,
                json={"account_id": p.a_account},
            ),
        ),
        (
            "PATCH Bob's expense into Alice's category",
            api.patch(
                f"/services/transactions/{p.b_expense['id']}",
                headers=h,
                json={"category_id": p.a_groceries},
            ),
        ),
        (
            "PATCH Bob's expense split into Alice's category",
            api.patch(
                f"/services/transactions/{p.b_expense['id']}",
                headers=h,
                json={"splits": [{"category_id": p.a_groceries, "amount": "5.00"}]},
            ),
        ),
    ]


def test_every_object_endpoint_is_a_404_for_another_user(
    api: httpx.Client, stack: StackInfo, pair: Pair
) -> None:
    alice_before = _snapshot(api, stack, pair.alice, pair.alice_id)
    bob_before = _snapshot(api, stack, pair.bob, pair.bob_id)

    wrong = []
    for name, response in _attempts(api, pair):
        if response.status_code != 404:
            wrong.append((name, response.status_code, response.text))
            continue
        body = assert_problem(response, 404, "not_found")
        # the answer is the one a missing object gets: it names no other user's data
        assert pair.alice_id not in response.text, name
        assert "Alice" not in response.text, name
        assert set(body) <= {"type", "title", "status", "detail", "code", "request_id", "errors"}
    assert not wrong, wrong

    # a random id answers exactly the same way (same code and title)
    missing = api.get(f"/services/accounts/{uuid.uuid4()}", headers=pair.bob.headers)
    theirs = api.get(f"/services/accounts/{pair.a_account}", headers=pair.bob.headers)
    assert (missing.status_code, missing.json()["code"], missing.json()["detail"]) == (
        theirs.status_code,
        theirs.json()["code"],
        theirs.json()["detail"],
    )

    # listing with Alice's ids as filters shows Bob nothing of hers
    for params in (
        {"account_id": pair.a_account},
        {"category_id": pair.a_groceries},
        {"tag": "private"},
    ):
        listed = api.get("/services/transactions", headers=pair.bob.headers, params=params)
        assert listed.status_code in (200, 404), listed.text
        if listed.status_code == 200:
            assert listed.json()["items"] == [], params
    bob_accounts = api.get("/services/accounts", headers=pair.bob.headers).json()["items"]
    assert {a["id"] for a in bob_accounts} == {pair.b_account, pair.b_other}

    # nothing of either user changed
    assert _snapshot(api, stack, pair.alice, pair.alice_id) == alice_before
    assert _snapshot(api, stack, pair.bob, pair.bob_id) == bob_before
    assert_books_balance(stack, pair.alice_id)
    assert_books_balance(stack, pair.bob_id)
    cached_equals_db(stack, pair.alice_id)
    cached_equals_db(stack, pair.bob_id)


def test_idempotency_keys_belong_to_one_user(
    api: httpx.Client, stack: StackInfo, pair: Pair
) -> None:
    key = f"shared-{uuid.uuid4()}"
    alice_body = {
        "type": "income",
        "account_id": pair.a_other,
        "amount": "7.00",
        "date": "2026-11-06",
    }
    first = post_tx(api, pair.alice, alice_body, key)
    assert first.status_code == 201, first.text
    # Bob's request with the same key is his own: neither a replay of Alice's
    # answer nor an idempotency conflict
    bob_body = {
        "type": "income",
        "account_id": pair.b_other,
        "amount": "3.00",
        "date": "2026-11-06",
    }
    bobs = post_tx(api, pair.bob, bob_body, key)
    assert bobs.status_code == 201, bobs.text
    assert "idempotent-replayed" not in bobs.headers
    assert bobs.json()["id"] != first.json()["id"]
    assert bobs.json()["account_id"] == pair.b_other
    # Alice's very body with Alice's key, from Bob: not a replay of her answer
    # (that would hand him her transaction), but a request naming an account
    # that is not his
    second_key = f"shared-{uuid.uuid4()}"
    alice_second = {**alice_body, "amount": "8.00"}
    assert post_tx(api, pair.alice, alice_second, second_key).status_code == 201
    copied = post_tx(api, pair.bob, alice_second, second_key)
    assert_problem(copied, 404, "not_found")
    assert "idempotent-replayed" not in copied.headers
    # and Alice's own replay still answers her first response
    again = post_tx(api, pair.alice, alice_body, key)
    assert again.status_code == 201
    assert again.json() == first.json()
    assert again.headers["idempotent-replayed"] == "true"
    assert_books_balance(stack, pair.alice_id)
    assert_books_balance(stack, pair.bob_id)
