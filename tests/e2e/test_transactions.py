"""Transactions through the real nginx: every edit keeps each balance exact,
cross-currency transfers, splits, tags, every list filter, stable cursors,
opening balances and archived accounts."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import httpx
import pytest

from tests.conftest import StackInfo
from tests.e2e.conftest import User, assert_problem, register_and_login
from tests.e2e.ledger_checks import (
    assert_books_balance,
    balances,
    cached_equals_db,
    categories,
    create_tx,
    ledger_rows,
    list_all,
    open_account,
    post_tx,
    query,
    user_id_of,
)


def _get(api: httpx.Client, user: User, tx_id: str) -> httpx.Response:
    return api.get(f"/services/transactions/{tx_id}", headers=user.headers)


def _patch(
    api: httpx.Client, user: User, tx_id: str, body: dict[str, Any], version: int | None = None
) -> httpx.Response:
    headers = dict(user.headers)
    if version is not None:
        headers["If-Match"] = f'"{version}"'
    return api.patch(f"/services/transactions/{tx_id}", headers=headers, json=body)


def _ok(response: httpx.Response, status: int = 200) -> dict[str, Any]:
    assert response.status_code == status, response.text
    body: dict[str, Any] = response.json()
    return body


# ---------------------------------------------------------------- round trips


def test_expense_edit_move_retype_and_delete_keep_every_balance_exact(
    api: httpx.Client, stack: StackInfo
) -> None:
    user = register_and_login(api)
    user_id = user_id_of(api, user)
    cats = categories(stack, user_id)
    a = open_account(api, user, "A", opening_balance="100.00")
    b = open_account(api, user, "B")
    c = open_account(api, user, "C", opening_balance="-5.50", type_="credit_card")
    assert balances(api, user, a, b, c) == ["100.00", "0.00", "-5.50"]

    created = post_tx(
        api,
        user,
        {
            "type": "expense",
            "account_id": a,
            "amount": "25.50",
            "date": "2026-11-02",
            "description": "Groceries",
            "category_id": cats["Groceries"]["id"],
            "notes": "weekly",
        },
    )
    tx = _ok(created, 201)
    assert created.headers["etag"] == f'"{tx["version"]}"'
    assert tx["amount"] == "25.50"
    assert tx["currency"] == "USD"
    assert tx["category_id"] == cats["Groceries"]["id"]
    assert tx["to_account_id"] is None
    assert tx["to_amount"] is None
    assert tx["splits"] == []
    assert balances(api, user, a, b, c) == ["74.50", "0.00", "-5.50"]
    read = _get(api, user, tx["id"])
    assert _ok(read) == tx
    assert read.headers["etag"] == f'"{tx["version"]}"'

    # edit the amount: the balance moves by the difference only
    edited = _ok(_patch(api, user, tx["id"], {"amount": "30.00"}, tx["version"]))
    assert edited["version"] > tx["version"]
    assert edited["amount"] == "30.00"
    assert edited["category_id"] == cats["Groceries"]["id"]
    assert edited["notes"] == "weekly"
    assert balances(api, user, a, b, c) == ["70.00", "0.00", "-5.50"]

    # a stale If-Match is refused and changes nothing
    stale = _patch(api, user, tx["id"], {"amount": "1.00"}, tx["version"])
    assert_problem(stale, 412, "version_mismatch")
    assert_problem(
        api.delete(
            f"/services/transactions/{tx['id']}",
            headers={**user.headers, "If-Match": f'"{tx["version"]}"'},
        ),
        412,
        "version_mismatch",
    )
    assert _ok(_get(api, user, tx["id"])) == edited
    assert balances(api, user, a, b, c) == ["70.00", "0.00", "-5.50"]

    # move it to another account: the old one gets the money back
    moved = _ok(_patch(api, user, tx["id"], {"account_id": b}, edited["version"]))
    assert moved["account_id"] == b
    assert balances(api, user, a, b, c) == ["100.00", "-30.00", "-5.50"]

    # make it a transfer B -> C: the category goes, C receives the money
    retyped = _ok(
        _patch(api, user, tx["id"], {"type": "transfer", "to_account_id": c}, moved["version"])
    )
    assert retyped["type"] == "transfer"
    assert retyped["category_id"] is None
    assert retyped["to_account_id"] == c
    assert retyped["to_amount"] == "30.00"
    assert balances(api, user, a, b, c) == ["100.00", "-30.00", "24.50"]
    assert query(
        stack, "SELECT count(*) AS n FROM allocations WHERE transaction_id = :t", t=tx["id"]
    ) == [{"n": 0}]

    # the transfer's amount, then its direction
    bigger = _ok(_patch(api, user, tx["id"], {"amount": "40.10"}, retyped["version"]))
    assert bigger["to_amount"] == "40.10"
    assert balances(api, user, a, b, c) == ["100.00", "-40.10", "34.60"]
    flipped = _ok(
        _patch(api, user, tx["id"], {"account_id": c, "to_account_id": b}, bigger["version"])
    )
    assert balances(api, user, a, b, c) == ["100.00", "40.10", "-45.60"]

    # and back to an income on A (the transfer target goes)
    income = _ok(
        _patch(
            api,
            user,
            tx["id"],
            {"type": "income", "account_id": a, "category_id": cats["Salary"]["id"]},
            flipped["version"],
        )
    )
    assert income["to_account_id"] is None
    assert income["to_amount"] is None
    assert balances(api, user, a, b, c) == ["140.10", "0.00", "-5.50"]
    assert_books_balance(stack, user_id)

    deleted = api.delete(
        f"/services/transactions/{tx['id']}",
        headers={**user.headers, "If-Match": f'"{income["version"]}"'},
    )
    assert deleted.status_code == 204, deleted.text
    assert balances(api, user, a, b, c) == ["100.00", "0.00", "-5.50"]
    assert_problem(_get(api, user, tx["id"]), 404, "not_found")
    assert_problem(_patch(api, user, tx["id"], {"amount": "1.00"}), 404, "not_found")
    assert_problem(
        api.delete(f"/services/transactions/{tx['id']}", headers=user.headers), 404, "not_found"
    )
    assert list_all(api, user) == []
    assert_books_balance(stack, user_id)
    assert cached_equals_db(stack, user_id) == 3


def test_balance_etag_and_if_none_match(api: httpx.Client, user: User) -> None:
    account = open_account(api, user, "Cash", opening_balance="10.00")
    first = api.get(f"/services/accounts/{account}/balance", headers=user.headers)
    body = _ok(first)
    assert body["account_id"] == account
    assert body["currency"] == "USD"
    assert body["balance"] == "10.00"
    assert first.headers["etag"] == f'"{body["version"]}"'
    same = api.get(
        f"/services/accounts/{account}/balance",
        headers={**user.headers, "If-None-Match": first.headers["etag"]},
    )
    assert same.status_code == 304
    create_tx(
        api,
        user,
        {"type": "expense", "account_id": account, "amount": "0.01", "date": "2026-01-01"},
    )
    changed = api.get(
        f"/services/accounts/{account}/balance",
        headers={**user.headers, "If-None-Match": first.headers["etag"]},
    )
    assert _ok(changed)["balance"] == "9.99"
    assert changed.json()["version"] > body["version"]


def test_cross_currency_transfer_needs_to_amount_in_the_targets_scale(
    api: httpx.Client, stack: StackInfo
) -> None:
    user = register_and_login(api)
    user_id = user_id_of(api, user)
    usd = open_account(api, user, "Dollars", opening_balance="500.00")
    jpy = open_account(api, user, "Yen", currency="JPY")
    bhd = open_account(api, user, "Dinars", currency="BHD", opening_balance="1.005")
    assert balances(api, user, usd, jpy, bhd) == ["500.00", "0", "1.005"]
    base = {"type": "transfer", "account_id": usd, "to_account_id": jpy, "date": "2026-11-03"}

    missing = post_tx(api, user, {**base, "amount": "100.00"})
    assert [e["field"] for e in assert_problem(missing, 422)["errors"]] == ["to_amount"]
    fraction = post_tx(api, user, {**base, "amount": "100.00", "to_amount": "15000.5"})
    assert [e["field"] for e in assert_problem(fraction, 422)["errors"]] == ["to_amount"]
    too_fine = post_tx(api, user, {**base, "amount": "100.005", "to_amount": "15000"})
    assert "amount" in [e["field"] for e in assert_problem(too_fine, 422)["errors"]]
    assert balances(api, user, usd, jpy) == ["500.00", "0"]

    tx = _ok(post_tx(api, user, {**base, "amount": "100.00", "to_amount": "15000"}), 201)
    assert (tx["amount"], tx["currency"]) == ("100.00", "USD")
    assert (tx["to_amount"], tx["to_currency"]) == ("15000", "JPY")
    assert balances(api, user, usd, jpy) == ["400.00", "15000"]

    # a new source amount keeps what arrived; a new to_amount moves only the target
    patched = _ok(_patch(api, user, tx["id"], {"amount": "120.00"}, tx["version"]))
    assert patched["to_amount"] == "15000"
    assert balances(api, user, usd, jpy) == ["380.00", "15000"]
    patched = _ok(_patch(api, user, tx["id"], {"to_amount": "18001"}, patched["version"]))
    assert balances(api, user, usd, jpy) == ["380.00", "18001"]
    bad = _patch(api, user, tx["id"], {"to_amount": "18001.1"}, patched["version"])
    assert [e["field"] for e in assert_problem(bad, 422)["errors"]] == ["to_amount"]
    assert balances(api, user, usd, jpy) == ["380.00", "18001"]

    # the other way round, and into a currency with three decimals
    back = _ok(
        post_tx(
            api,
            user,
            {
                "type": "transfer",
                "account_id": jpy,
                "to_account_id": bhd,
                "amount": "1000",
                "to_amount": "2.505",
                "date": "2026-11-04",
            },
        ),
        201,
    )
    assert (back["amount"], back["to_amount"]) == ("1000", "2.505")
    assert balances(api, user, usd, jpy, bhd) == ["380.00", "17001", "3.510"]
    four = post_tx(
        api,
        user,
        {
            "type": "transfer",
            "account_id": jpy,
            "to_account_id": bhd,
            "amount": "1000",
            "to_amount": "2.5055",
            "date": "2026-11-04",
        },
    )
    assert [e["field"] for e in assert_problem(four, 422)["errors"]] == ["to_amount"]

    # one currency: to_amount may be left out or equal the amount, nothing else
    other_usd = open_account(api, user, "More dollars")
    uneven = post_tx(
        api,
        user,
        {
            "type": "transfer",
            "account_id": usd,
            "to_account_id": other_usd,
            "amount": "10.00",
            "to_amount": "9.00",
            "date": "2026-11-05",
        },
    )
    assert [e["field"] for e in assert_problem(uneven, 422)["errors"]] == ["to_amount"]
    assert balances(api, user, usd, other_usd) == ["380.00", "0.00"]

    # deleting puts every currency back
    assert api.delete(f"/services/transactions/{tx['id']}", headers=user.headers).is_success
    assert balances(api, user, usd, jpy, bhd) == ["500.00", "-1000", "3.510"]
    assert_books_balance(stack, user_id)
    cached_equals_db(stack, user_id)


def test_splits_must_add_up_and_replace_the_category(api: httpx.Client, stack: StackInfo) -> None:
    user = register_and_login(api)
    user_id = user_id_of(api, user)
    cats = categories(stack, user_id)
    account = open_account(api, user, "Checking", opening_balance="200.00")
    splits = [
        {"category_id": cats["Groceries"]["id"], "amount": "60.00"},
        {"category_id": cats["Electronics"]["id"], "amount": "20.00", "description": "Batteries"},
    ]
    base = {"type": "expense", "account_id": account, "amount": "80.00", "date": "2026-11-10"}

    short = post_tx(api, user, {**base, "splits": [splits[0], {**splits[1], "amount": "19.99"}]})
    assert "splits" in [e["field"] for e in assert_problem(short, 422)["errors"]]
    both = post_tx(api, user, {**base, "splits": splits, "category_id": cats["Food"]["id"]})
    assert "category_id" in [e["field"] for e in assert_problem(both, 422)["errors"]]
    assert balances(api, user, account) == ["200.00"]
    assert list_all(api, user) == []

    tx = _ok(post_tx(api, user, {**base, "splits": splits}), 201)
    assert tx["category_id"] is None
    assert tx["splits"] == [
        {"category_id": cats["Groceries"]["id"], "amount": "60.00", "description": ""},
        {"category_id": cats["Electronics"]["id"], "amount": "20.00", "description": "Batteries"},
    ]
    assert _ok(_get(api, user, tx["id"])) == tx
    assert balances(api, user, account) == ["120.00"]
    allocations = query(
        stack,
        "SELECT category_id, amount FROM allocations WHERE transaction_id = :t ORDER BY position",
        t=tx["id"],
    )
    assert [(str(r["category_id"]), str(r["amount"])) for r in allocations] == [
        (cats["Groceries"]["id"], "60.0000"),
        (cats["Electronics"]["id"], "20.0000"),
    ]

    # a new amount alone no longer matches the splits
    mismatch = _patch(api, user, tx["id"], {"amount": "90.00"})
    assert "splits" in [e["field"] for e in assert_problem(mismatch, 422)["errors"]]
    assert balances(api, user, account) == ["120.00"]
    # amount and splits together
    resplit = _ok(
        _patch(
            api,
            user,
            tx["id"],
            {
                "amount": "90.00",
                "splits": [
                    {"category_id": cats["Groceries"]["id"], "amount": "45.00"},
                    {"category_id": cats["Restaurants"]["id"], "amount": "45.00"},
                ],
            },
        )
    )
    assert [s["amount"] for s in resplit["splits"]] == ["45.00", "45.00"]
    assert balances(api, user, account) == ["110.00"]
    # a category replaces the splits
    filed = _ok(_patch(api, user, tx["id"], {"category_id": cats["Food"]["id"]}))
    assert filed["splits"] == []
    assert filed["category_id"] == cats["Food"]["id"]
    # and splits replace the category
    split_again = _ok(_patch(api, user, tx["id"], {"splits": splits, "amount": "80.00"}))
    assert split_again["category_id"] is None
    assert len(split_again["splits"]) == 2
    assert balances(api, user, account) == ["120.00"]
    assert_books_balance(stack, user_id)


def test_a_refused_request_does_not_use_up_its_idempotency_key(
    api: httpx.Client, stack: StackInfo
) -> None:
    user = register_and_login(api)
    user_id = user_id_of(api, user)
    account = open_account(api, user, "Checking")
    body = {"type": "income", "account_id": account, "amount": "5.00", "date": "2026-11-01"}
    key = f"retry-{user_id}"
    _ok(api.patch(f"/services/accounts/{account}", headers=user.headers, json={"archived": True}))
    assert_problem(post_tx(api, user, body, key), 409, "account_archived")
    _ok(api.patch(f"/services/accounts/{account}", headers=user.headers, json={"archived": False}))
    # the same request, now possible, is posted (not a replay of the refusal)
    posted = post_tx(api, user, body, key)
    assert posted.status_code == 201, posted.text
    assert "idempotent-replayed" not in posted.headers
    replay = post_tx(api, user, body, key)
    assert replay.status_code == 201
    assert replay.headers["idempotent-replayed"] == "true"
    assert replay.json() == posted.json()
    assert balances(api, user, account) == ["5.00"]
    assert len(list_all(api, user)) == 1


def test_the_largest_amounts_stay_exact_to_the_last_digit(
    api: httpx.Client, stack: StackInfo
) -> None:
    user = register_and_login(api)
    user_id = user_id_of(api, user)
    usd = open_account(api, user, "Big", opening_balance="999999999999999.99")
    bhd = open_account(api, user, "Dinars", currency="BHD", opening_balance="0.001")
    for amount in ("999999999999999.99", "0.01", "0.01"):
        assert (
            create_tx(
                api,
                user,
                {"type": "income", "account_id": usd, "amount": amount, "date": "2026-11-01"},
            )["amount"]
            == amount
        )
    assert balances(api, user, usd) == ["2000000000000000.00"]
    moved = create_tx(
        api,
        user,
        {
            "type": "transfer",
            "account_id": usd,
            "to_account_id": bhd,
            "amount": "0.01",
            "to_amount": "999999999999999.999",
            "date": "2026-11-01",
        },
    )
    assert moved["to_amount"] == "999999999999999.999"
    assert balances(api, user, usd, bhd) == ["1999999999999999.99", "1000000000000000.000"]
    big = list_all(api, user, {"min_amount": "999999999999999.99"})
    assert [t["amount"] for t in big] == ["999999999999999.99"]
    assert_books_balance(stack, user_id)
    cached_equals_db(stack, user_id)


def test_tags_are_trimmed_lower_cased_and_deduplicated(api: httpx.Client, user: User) -> None:
    account = open_account(api, user, "Checking")
    tx = create_tx(
        api,
        user,
        {
            "type": "income",
            "account_id": account,
            "amount": "5.00",
            "date": "2026-11-01",
            "tags": ["  Work ", "work", "TRAVEL", "travel ", "Q4 trip"],
        },
    )
    assert tx["tags"] == ["work", "travel", "q4 trip"]
    assert _ok(_get(api, user, tx["id"]))["tags"] == ["work", "travel", "q4 trip"]
    patched = _ok(_patch(api, user, tx["id"], {"tags": [" Home", "HOME", "home "]}))
    assert patched["tags"] == ["home"]
    assert [t["id"] for t in list_all(api, user, {"tag": " HOME "})] == [tx["id"]]
    assert list_all(api, user, {"tag": "work"}) == []


# ---------------------------------------------------------------- list filters


@dataclass
class Book:
    user: User
    a: str
    b: str
    c: str
    tx: dict[str, str]  # name -> id
    cats: dict[str, dict[str, Any]]


@pytest.fixture(scope="module")
def book(api: httpx.Client, stack: StackInfo) -> Book:
    """One user's month, built to make every filter and its edges visible."""
    user = register_and_login(api)
    cats = categories(stack, user_id_of(api, user))
    a = open_account(api, user, "A", opening_balance="1000.00")
    b = open_account(api, user, "B")
    c = open_account(api, user, "C", opening_balance="20.00")

    def cat(name: str) -> str:
        return str(cats[name]["id"])

    bodies: dict[str, dict[str, Any]] = {
        "t1": {
            "type": "expense",
            "account_id": a,
            "amount": "12.30",
            "date": "2026-03-01",
            "description": "Lunch at the Café",
            "category_id": cat("Restaurants"),
            "tags": ["work"],
        },
        "t2": {
            "type": "expense",
            "account_id": a,
            "amount": "45.00",
            "date": "2026-03-05",
            "description": "Weekly groceries",
            "category_id": cat("Groceries"),
        },
        "t3": {
            "type": "income",
            "account_id": a,
            "amount": "2500.00",
            "date": "2026-03-01",
            "description": "Salary March",
            "category_id": cat("Salary"),
            "tags": ["Work"],
        },
        "t4": {
            "type": "transfer",
            "account_id": a,
            "to_account_id": b,
            "amount": "100.00",
            "date": "2026-03-10",
            "description": "To savings",
        },
        "t5": {
            "type": "transfer",
            "account_id": b,
            "to_account_id": a,
            "amount": "20.00",
            "date": "2026-03-15",
            "description": "Back to checking",
        },
        "t6": {
            "type": "expense",
            "account_id": b,
            "amount": "80.00",
            "date": "2026-03-20",
            "description": "Supermarket and fuel",
            "splits": [
                {"category_id": cat("Groceries"), "amount": "60.00"},
                {"category_id": cat("Fuel"), "amount": "20.00"},
            ],
            "tags": ["home"],
        },
        "t7": {
            "type": "expense",
            "account_id": a,
            "amount": "7.00",
            "date": "2026-03-31",
            "description": "100% juice",
            "notes": "a 50_50 blend",
            "category_id": cat("Food"),
        },
        "t8": {
            "type": "expense",
            "account_id": a,
            "amount": "3.00",
            "date": "2026-04-01",
            "description": "Coffee",
            "notes": "Morning \\ evening",
        },
        "t9": {
            "type": "expense",
            "account_id": c,
            "amount": "9.99",
            "date": "2026-02-28",
            "description": "Taxi home",
            "category_id": cat("Taxi"),
        },
        "t10": {
            "type": "income",
            "account_id": c,
            "amount": "45.00",
            "date": "2026-03-05",
            "description": "Refund 5000",
            "notes": "for 50 things",
        },
    }
    ids = {name: create_tx(api, user, body)["id"] for name, body in bodies.items()}
    return Book(user=user, a=a, b=b, c=c, tx=ids, cats=cats)


def _names(book: Book, items: list[dict[str, Any]]) -> list[str]:
    by_id = {v: k for k, v in book.tx.items()}
    return [by_id[t["id"]] for t in items]


def _filtered(api: httpx.Client, book: Book, **params: Any) -> list[str]:
    return _names(book, list_all(api, book.user, params))


# newest first: by date, then latest entered first
ALL = ["t8", "t7", "t6", "t5", "t4", "t10", "t2", "t3", "t1", "t9"]


def test_the_list_is_newest_first_then_latest_entered(api: httpx.Client, book: Book) -> None:
    assert _filtered(api, book) == ALL
    # small pages give the same sequence
    pages: list[str] = []
    cursor = None
    while True:
        params: dict[str, Any] = {"limit": 3}
        if cursor:
            params["cursor"] = cursor
        page = _ok(api.get("/services/transactions", headers=book.user.headers, params=params))
        assert len(page["items"]) <= 3
        pages += _names(book, page["items"])
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert pages == ALL


@pytest.mark.parametrize(
    ("params", "expected"),
    [
        # money leaving or arriving
        ({"account_id": "a"}, ["t8", "t7", "t5", "t4", "t2", "t3", "t1"]),
        ({"account_id": "b"}, ["t6", "t5", "t4"]),
        ({"account_id": "c"}, ["t10", "t9"]),
        # a category includes its children and splits
        ({"category_id": "Food"}, ["t7", "t6", "t2", "t1"]),
        ({"category_id": "Groceries"}, ["t6", "t2"]),
        ({"category_id": "Restaurants"}, ["t1"]),
        ({"category_id": "Transport"}, ["t6", "t9"]),
        ({"category_id": "Fuel"}, ["t6"]),
        ({"category_id": "Salary"}, ["t3"]),
        ({"category_id": "Health"}, []),
        ({"type": "transfer"}, ["t5", "t4"]),
        ({"type": "income"}, ["t10", "t3"]),
        ({"type": "expense"}, ["t8", "t7", "t6", "t2", "t1", "t9"]),
        # inclusive on both ends
        ({"from": "2026-03-01", "to": "2026-03-05"}, ["t10", "t2", "t3", "t1"]),
        ({"from": "2026-03-31"}, ["t8", "t7"]),
        ({"to": "2026-02-28"}, ["t9"]),
        ({"from": "2026-03-05", "to": "2026-03-05"}, ["t10", "t2"]),
        # case-insensitive, in the description or the notes, % and _ literal
        ({"q": "LUNCH"}, ["t1"]),
        ({"q": "morning"}, ["t8"]),
        ({"q": "%"}, ["t7"]),
        ({"q": "0%"}, ["t7"]),
        ({"q": "_"}, ["t7"]),
        ({"q": "0_5"}, ["t7"]),
        ({"q": "5_0"}, []),  # as a LIKE wildcard it would match "5000"
        ({"q": "E"}, ["t8", "t7", "t6", "t5", "t10", "t2", "t1", "t9"]),
        ({"q": "nothing like this"}, []),
        ({"q": "\\"}, ["t8"]),  # the LIKE escape character, literal too
        ({"q": "café"}, ["t1"]),
        ({"q": "CAFÉ"}, ["t1"]),
        # amounts, inclusive
        ({"min_amount": "45.00"}, ["t6", "t4", "t10", "t2", "t3"]),
        ({"max_amount": "12.30"}, ["t8", "t7", "t1", "t9"]),
        ({"min_amount": "20", "max_amount": "100"}, ["t6", "t5", "t4", "t10", "t2"]),
        ({"min_amount": "12.3", "max_amount": "12.30"}, ["t1"]),
        ({"tag": "work"}, ["t3", "t1"]),
        ({"tag": "WORK"}, ["t3", "t1"]),
        ({"tag": "home"}, ["t6"]),
        ({"tag": "wor"}, []),
        ({"tag": "q4 trip"}, []),
        # combinations
        ({"account_id": "a", "type": "expense", "from": "2026-03-01"}, ["t8", "t7", "t2", "t1"]),
        ({"category_id": "Food", "min_amount": "40"}, ["t6", "t2"]),
        ({"account_id": "b", "category_id": "Groceries"}, ["t6"]),
        ({"account_id": "a", "type": "transfer", "max_amount": "50"}, ["t5"]),
        ({"tag": "work", "type": "income", "q": "salary"}, ["t3"]),
        ({"account_id": "c", "from": "2026-03-01", "to": "2026-03-31"}, ["t10"]),
        ({"type": "income", "category_id": "Food"}, []),
    ],
)
def test_every_filter_and_combinations(
    api: httpx.Client, book: Book, params: dict[str, str], expected: list[str]
) -> None:
    resolved = dict(params)
    if "account_id" in resolved:
        resolved["account_id"] = getattr(book, resolved["account_id"])
    if "category_id" in resolved:
        resolved["category_id"] = book.cats[resolved["category_id"]]["id"]
    assert _filtered(api, book, **resolved) == expected
    # and page by page, the same answer
    paged: list[str] = []
    cursor = None
    for _ in range(20):
        page = _ok(
            api.get(
                "/services/transactions",
                headers=book.user.headers,
                params={**resolved, "limit": 2, **({"cursor": cursor} if cursor else {})},
            )
        )
        paged += _names(book, page["items"])
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert paged == expected


def test_cursor_pages_stay_stable_while_transactions_arrive(
    api: httpx.Client, stack: StackInfo
) -> None:
    user = register_and_login(api)
    account = open_account(api, user, "Checking")
    dates = ["2026-05-01", "2026-05-02", "2026-05-02", "2026-05-03", "2026-05-03"]
    dates += ["2026-05-03", "2026-05-04", "2026-05-05", "2026-05-05", "2026-05-06"]
    original = [
        create_tx(
            api,
            user,
            {
                "type": "income",
                "account_id": account,
                "amount": f"{n + 1}.00",
                "date": date,
                "description": f"original {n}",
            },
        )["id"]
        for n, date in enumerate(dates)
    ]
    seen: list[dict[str, Any]] = []
    cursor = None
    arrivals = 0
    for _ in range(20):
        params: dict[str, Any] = {"limit": 3}
        if cursor:
            params["cursor"] = cursor
        page = _ok(api.get("/services/transactions", headers=user.headers, params=params))
        seen += page["items"]
        cursor = page["next_cursor"]
        if cursor is None:
            break
        # between pages: newer, older and same-day-as-the-boundary arrivals
        last = page["items"][-1]["date"]
        for date in ("2026-06-01", last, "2026-05-02", "2026-04-30"):
            create_tx(
                api,
                user,
                {
                    "type": "income",
                    "account_id": account,
                    "amount": "0.01",
                    "date": date,
                    "description": f"arrival {arrivals}",
                },
            )
            arrivals += 1
    ids = [t["id"] for t in seen]
    assert len(ids) == len(set(ids)), "a transaction was listed twice"
    assert set(original) <= set(ids), "an original transaction was skipped"
    # still newest first across pages
    assert [t["date"] for t in seen] == sorted((t["date"] for t in seen), reverse=True)
    assert arrivals > 0
    assert [i for i in ids if i in set(original)] == list(reversed(original))


# ---------------------------------------------------------------- opening balances


def test_the_opening_balance_is_not_a_listed_transaction(
    api: httpx.Client, stack: StackInfo
) -> None:
    user = register_and_login(api)
    user_id = user_id_of(api, user)
    account = open_account(api, user, "Savings", opening_balance="250.00", type_="savings")
    card = open_account(api, user, "Card", opening_balance="-99.99", type_="credit_card")
    assert balances(api, user, account, card) == ["250.00", "-99.99"]
    assert list_all(api, user) == []
    assert list_all(api, user, {"account_id": account}) == []
    assert list_all(api, user, {"min_amount": "0.01"}) == []
    opening = query(
        stack,
        "SELECT id FROM transactions WHERE user_id = :u AND account_id = :a",
        u=user_id,
        a=account,
    )
    assert len(opening) == 1
    opening_id = str(opening[0]["id"])
    assert_problem(_get(api, user, opening_id), 404, "not_found")
    assert_problem(_patch(api, user, opening_id, {"amount": "1.00"}), 404, "not_found")
    assert_problem(
        api.delete(f"/services/transactions/{opening_id}", headers=user.headers), 404, "not_found"
    )
    assert balances(api, user, account) == ["250.00"]

    create_tx(
        api,
        user,
        {"type": "expense", "account_id": account, "amount": "50.00", "date": "2026-11-01"},
    )
    # correcting the opening balance moves the balance by the difference
    patched = api.patch(
        f"/services/accounts/{account}", headers=user.headers, json={"opening_balance": "300.00"}
    )
    body = _ok(patched)
    assert (body["opening_balance"], body["balance"]) == ("300.00", "250.00")
    assert balances(api, user, account) == ["250.00"]
    assert [t["amount"] for t in list_all(api, user)] == ["50.00"]
    zero = _ok(
        api.patch(
            f"/services/accounts/{account}", headers=user.headers, json={"opening_balance": "0"}
        )
    )
    assert (zero["opening_balance"], zero["balance"]) == ("0.00", "-50.00")
    assert_books_balance(stack, user_id)
    cached_equals_db(stack, user_id)

    # an account only its opening balance uses can be deleted; a used one cannot
    deleted = api.delete(f"/services/accounts/{card}", headers=user.headers)
    assert deleted.status_code == 204, deleted.text
    assert_problem(api.get(f"/services/accounts/{card}", headers=user.headers), 404, "not_found")
    assert_problem(
        api.delete(f"/services/accounts/{account}", headers=user.headers),
        409,
        "account_has_transactions",
    )
    assert balances(api, user, account) == ["-50.00"]
    assert_books_balance(stack, user_id)


def test_a_deleted_account_is_gone_everywhere(api: httpx.Client, stack: StackInfo) -> None:
    user = register_and_login(api)
    user_id = user_id_of(api, user)
    keep = open_account(api, user, "Keep")
    for opening in (None, "-99.99"):
        gone = open_account(api, user, "Gone", opening_balance=opening)
        # read once, as any client would, before deleting it
        assert balances(api, user, gone) == ["0.00" if opening is None else opening]
        deleted = api.delete(f"/services/accounts/{gone}", headers=user.headers)
        assert deleted.status_code == 204, deleted.text
        assert_problem(
            api.get(f"/services/accounts/{gone}", headers=user.headers), 404, "not_found"
        )
        # its balance is gone too, however it was cached
        assert_problem(
            api.get(f"/services/accounts/{gone}/balance", headers=user.headers), 404, "not_found"
        )
        listed = _ok(api.get("/services/accounts", headers=user.headers))["items"]
        assert [a["id"] for a in listed] == [keep]
        assert_problem(
            post_tx(
                api,
                user,
                {"type": "income", "account_id": gone, "amount": "1.00", "date": "2026-11-01"},
            ),
            404,
            "not_found",
        )
    assert_books_balance(stack, user_id)
    cached_equals_db(stack, user_id)


# ---------------------------------------------------------------- archived accounts


def test_an_archived_account_refuses_postings_and_edits_touching_it(
    api: httpx.Client, stack: StackInfo
) -> None:
    user = register_and_login(api)
    user_id = user_id_of(api, user)
    old = open_account(api, user, "Old", opening_balance="100.00")
    live = open_account(api, user, "Live", opening_balance="100.00")
    on_old = create_tx(
        api, user, {"type": "expense", "account_id": old, "amount": "10.00", "date": "2026-11-01"}
    )
    on_live = create_tx(
        api, user, {"type": "expense", "account_id": live, "amount": "1.00", "date": "2026-11-01"}
    )
    archived = _ok(
        api.patch(f"/services/accounts/{old}", headers=user.headers, json={"archived": True})
    )
    assert archived["archived"] is True
    listed = _ok(api.get("/services/accounts", headers=user.headers, params={"archived": "true"}))
    assert [a["id"] for a in listed["items"]] == [old]
    active = _ok(api.get("/services/accounts", headers=user.headers, params={"archived": "false"}))
    assert [a["id"] for a in active["items"]] == [live]
    before = ledger_rows(stack, user_id)

    refused = [
        post_tx(
            api,
            user,
            {"type": "expense", "account_id": old, "amount": "1.00", "date": "2026-11-02"},
        ),
        post_tx(
            api, user, {"type": "income", "account_id": old, "amount": "1.00", "date": "2026-11-02"}
        ),
        post_tx(
            api,
            user,
            {
                "type": "transfer",
                "account_id": live,
                "to_account_id": old,
                "amount": "1.00",
                "date": "2026-11-02",
            },
        ),
        post_tx(
            api,
            user,
            {
                "type": "transfer",
                "account_id": old,
                "to_account_id": live,
                "amount": "1.00",
                "date": "2026-11-02",
            },
        ),
        # edits of a transaction on it, even ones that move it away
        _patch(api, user, on_old["id"], {"amount": "11.00"}),
        _patch(api, user, on_old["id"], {"description": "renamed"}),
        _patch(api, user, on_old["id"], {"account_id": live}),
        # moving a transaction onto it
        _patch(api, user, on_live["id"], {"account_id": old}),
        _patch(api, user, on_live["id"], {"type": "transfer", "to_account_id": old}),
        api.delete(f"/services/transactions/{on_old['id']}", headers=user.headers),
        # and its opening balance
        api.patch(
            f"/services/accounts/{old}", headers=user.headers, json={"opening_balance": "5.00"}
        ),
    ]
    for response in refused:
        assert_problem(response, 409, "account_archived")
    assert ledger_rows(stack, user_id) == before
    assert balances(api, user, old, live) == ["90.00", "99.00"]
    assert _ok(_get(api, user, on_old["id"])) == on_old
    assert _ok(_get(api, user, on_live["id"])) == on_live

    # unarchived, it takes postings again
    _ok(api.patch(f"/services/accounts/{old}", headers=user.headers, json={"archived": False}))
    create_tx(
        api, user, {"type": "expense", "account_id": old, "amount": "1.00", "date": "2026-11-02"}
    )
    assert balances(api, user, old, live) == ["89.00", "99.00"]
    assert_books_balance(stack, user_id)
    cached_equals_db(stack, user_id)


# ---------------------------------------------------------------- hidden accounts


def test_the_hidden_counter_accounts_are_invisible(api: httpx.Client, stack: StackInfo) -> None:
    user = register_and_login(api)
    user_id = user_id_of(api, user)
    usd = open_account(api, user, "Dollars", opening_balance="100.00")
    eur = open_account(api, user, "Euros", currency="EUR")
    day = "2026-11-01"
    create_tx(api, user, {"type": "expense", "account_id": usd, "amount": "1.00", "date": day})
    create_tx(api, user, {"type": "income", "account_id": usd, "amount": "2.00", "date": day})
    create_tx(
        api,
        user,
        {
            "type": "transfer",
            "account_id": usd,
            "to_account_id": eur,
            "amount": "10.00",
            "to_amount": "9.20",
            "date": day,
        },
    )
    hidden = query(
        stack,
        "SELECT id, system_role, currency FROM accounts"
        " WHERE user_id = :u AND system_role IS NOT NULL",
        u=user_id,
    )
    roles = sorted((r["system_role"], r["currency"]) for r in hidden)
    assert roles == [
        ("equity", "USD"),
        ("exchange", "EUR"),
        ("exchange", "USD"),
        ("expense", "USD"),
        ("income", "USD"),
    ]
    listed = _ok(api.get("/services/accounts", headers=user.headers))["items"]
    assert sorted(a["id"] for a in listed) == sorted([usd, eur])
    before = ledger_rows(stack, user_id)
    for row in hidden:
        account = str(row["id"])
        path = f"/services/accounts/{account}"
        for response in (
            api.get(path, headers=user.headers),
            api.get(f"{path}/balance", headers=user.headers),
            api.patch(path, headers=user.headers, json={"name": "mine"}),
            api.delete(path, headers=user.headers),
            post_tx(
                api, user, {"type": "income", "account_id": account, "amount": "1", "date": day}
            ),
            post_tx(
                api,
                user,
                {
                    "type": "transfer",
                    "account_id": usd,
                    "to_account_id": account,
                    "amount": "1.00",
                    "to_amount": "1.00",
                    "date": day,
                },
            ),
        ):
            assert_problem(response, 404, "not_found")
        assert list_all(api, user, {"account_id": account}) == []
    assert ledger_rows(stack, user_id) == before
    assert balances(api, user, usd, eur) == ["91.00", "9.20"]
    assert_books_balance(stack, user_id)
