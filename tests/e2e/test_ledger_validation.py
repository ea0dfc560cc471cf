"""Bad input to the ledger is a 422 problem+json naming the field at fault,
and nothing at all is written: no row, no balance change, no ledger version."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest

from tests.conftest import StackInfo
from tests.e2e.conftest import User, assert_problem, register_and_login
from tests.e2e.ledger_checks import (
    balances,
    categories,
    create_tx,
    ledger_rows,
    open_account,
    user_id_of,
)


@dataclass
class Books:
    user: User
    user_id: str
    usd: str
    usd2: str
    jpy: str
    expense: dict[str, Any]
    split: dict[str, Any]
    groceries: str
    fuel: str
    salary: str
    food: str


@pytest.fixture(scope="module")
def books(api: httpx.Client, stack: StackInfo) -> Books:
    user = register_and_login(api)
    user_id = user_id_of(api, user)
    cats = categories(stack, user_id)
    usd = open_account(api, user, "Dollars", opening_balance="100.00")
    usd2 = open_account(api, user, "More dollars")
    jpy = open_account(api, user, "Yen", currency="JPY", opening_balance="1000")
    expense = create_tx(
        api,
        user,
        {
            "type": "expense",
            "account_id": usd,
            "amount": "10.00",
            "date": "2026-11-01",
            "category_id": cats["Groceries"]["id"],
        },
    )
    split = create_tx(
        api,
        user,
        {
            "type": "expense",
            "account_id": usd,
            "amount": "3.00",
            "date": "2026-11-01",
            "splits": [
                {"category_id": cats["Groceries"]["id"], "amount": "1.00"},
                {"category_id": cats["Fuel"]["id"], "amount": "2.00"},
            ],
        },
    )
    return Books(
        user=user,
        user_id=user_id,
        usd=usd,
        usd2=usd2,
        jpy=jpy,
        expense=expense,
        split=split,
        groceries=cats["Groceries"]["id"],
        fuel=cats["Fuel"]["id"],
        salary=cats["Salary"]["id"],
        food=cats["Food"]["id"],
    )


@pytest.fixture
def unchanged(api: httpx.Client, stack: StackInfo, books: Books) -> Iterator[None]:
    """After the test: the database and every balance exactly as before."""
    rows = ledger_rows(stack, books.user_id)
    shown = balances(api, books.user, books.usd, books.usd2, books.jpy)
    transactions = [
        api.get(f"/services/transactions/{t['id']}", headers=books.user.headers).json()
        for t in (books.expense, books.split)
    ]
    yield
    assert ledger_rows(stack, books.user_id) == rows
    assert balances(api, books.user, books.usd, books.usd2, books.jpy) == shown
    assert [
        api.get(f"/services/transactions/{t['id']}", headers=books.user.headers).json()
        for t in (books.expense, books.split)
    ] == transactions


def _fields(response: httpx.Response) -> list[str]:
    body = assert_problem(response, 422)
    assert body["code"] in ("validation_failed", "idempotency_conflict"), body
    assert body["errors"], body
    for error in body["errors"]:
        assert set(error) == {"field", "message"}, error
        assert error["message"], error
    return [str(e["field"]) for e in body["errors"]]


def _expense(books: Books, **changes: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "type": "expense",
        "account_id": books.usd,
        "amount": "1.00",
        "date": "2026-11-02",
    }
    for name, value in changes.items():
        if value is _DROP:
            body.pop(name)
        else:
            body[name] = value
    return body


_DROP = object()

# (case id, changes to a valid expense, the field the 422 must name)
BAD_TRANSACTIONS: list[tuple[str, dict[str, Any], str]] = [
    ("amount as a JSON float", {"amount": 12.3}, "amount"),
    ("amount as a JSON integer", {"amount": 12}, "amount"),
    ("amount null", {"amount": None}, "amount"),
    ("amount missing", {"amount": _DROP}, "amount"),
    ("three decimals in USD", {"amount": "12.345"}, "amount"),
    ("zero", {"amount": "0"}, "amount"),
    ("zero with decimals", {"amount": "0.00"}, "amount"),
    ("negative", {"amount": "-1"}, "amount"),
    ("exponent", {"amount": "1e3"}, "amount"),
    ("leading space", {"amount": " 1"}, "amount"),
    ("trailing space", {"amount": "1 "}, "amount"),
    ("plus sign", {"amount": "+1"}, "amount"),
    ("comma", {"amount": "12,30"}, "amount"),
    ("empty", {"amount": ""}, "amount"),
    ("16 integer digits", {"amount": "1234567890123456"}, "amount"),
    ("5 decimals", {"amount": "1.12345"}, "amount"),
    ("NaN", {"amount": "NaN"}, "amount"),
    ("Infinity", {"amount": "Infinity"}, "amount"),
    ("February 30th", {"date": "2026-02-30"}, "date"),
    ("unpadded date", {"date": "2026-1-1"}, "date"),
    ("year 1800", {"date": "1800-01-01"}, "date"),
    ("year 3000", {"date": "3000-01-01"}, "date"),
    ("a timestamp", {"date": "2026-11-02T10:00:00Z"}, "date"),
    ("date missing", {"date": _DROP}, "date"),
    ("unknown type", {"type": "refund"}, "type"),
    ("account_id not a uuid", {"account_id": "acct-1"}, "account_id"),
    ("unknown top-level field", {"memo": "x"}, "memo"),
    ("to_amount on an expense", {"to_amount": "1.00"}, "to_amount"),
    ("description too long", {"description": "x" * 501}, "description"),
    ("21 tags", {"tags": [f"t{n}" for n in range(21)]}, "tags"),
    ("blank tag", {"tags": ["ok", "   "]}, "tags"),
    ("tag with a newline", {"tags": ["two\nlines"]}, "tags"),
]


@pytest.mark.parametrize(
    ("changes", "field"),
    [(c, f) for _, c, f in BAD_TRANSACTIONS],
    ids=[i for i, _, _ in BAD_TRANSACTIONS],
)
@pytest.mark.usefixtures("unchanged")
def test_a_bad_transaction_is_refused_naming_the_field(
    api: httpx.Client, books: Books, changes: dict[str, Any], field: str
) -> None:
    response = api.post(
        "/services/transactions", headers=books.user.headers, json=_expense(books, **changes)
    )
    assert field in _fields(response)


def test_a_date_sent_as_a_json_number_is_refused(api: httpx.Client, stack: StackInfo) -> None:
    """Dates are ISO 8601 strings ("2026-01-01"), as strictly as amounts are
    strings: a JSON number (read as Unix time) must not become some date."""
    user = register_and_login(api)
    user_id = user_id_of(api, user)
    account = open_account(api, user, "Cash")
    before = ledger_rows(stack, user_id)
    for date in (1767225600, 1767225600.0):
        response = api.post(
            "/services/transactions",
            headers=user.headers,
            json={"type": "expense", "account_id": account, "amount": "1.00", "date": date},
        )
        assert "date" in _fields(response)
    assert ledger_rows(stack, user_id) == before


@pytest.mark.usefixtures("unchanged")
def test_rules_between_fields_are_refused_naming_the_field(api: httpx.Client, books: Books) -> None:
    cases: list[tuple[str, dict[str, Any], str]] = [
        ("1.5 JPY", _expense(books, account_id=books.jpy, amount="1.5"), "amount"),
        ("1.05 JPY", _expense(books, account_id=books.jpy, amount="1.05"), "amount"),
        (
            "splits not summing",
            _expense(
                books,
                amount="3.00",
                splits=[
                    {"category_id": books.groceries, "amount": "1.00"},
                    {"category_id": books.fuel, "amount": "1.99"},
                ],
            ),
            "splits",
        ),
        (
            "splits summing to more",
            _expense(books, amount="1.00", splits=[{"category_id": books.fuel, "amount": "1.01"}]),
            "splits",
        ),
        (
            "split of an income category on an expense",
            _expense(
                books,
                amount="2.00",
                splits=[
                    {"category_id": books.groceries, "amount": "1.00"},
                    {"category_id": books.salary, "amount": "1.00"},
                ],
            ),
            "splits[1].category_id",
        ),
        (
            "unknown field inside a split",
            _expense(books, splits=[{"category_id": books.fuel, "amount": "1.00", "x": 1}]),
            "splits[0].x",
        ),
        (
            "split amount as a number",
            _expense(books, splits=[{"category_id": books.fuel, "amount": 1}]),
            "splits[0].amount",
        ),
        (
            "split amount too precise",
            _expense(
                books,
                amount="1.00",
                splits=[
                    {"category_id": books.fuel, "amount": "0.995"},
                    {"category_id": books.groceries, "amount": "0.005"},
                ],
            ),
            "splits[0].amount",
        ),
        (
            "split and category together",
            _expense(
                books,
                category_id=books.food,
                splits=[{"category_id": books.fuel, "amount": "1.00"}],
            ),
            "category_id",
        ),
        ("income category on an expense", _expense(books, category_id=books.salary), "category_id"),
        (
            "expense category on an income",
            _expense(books, type="income", category_id=books.groceries),
            "category_id",
        ),
        (
            "transfer to the same account",
            _expense(books, type="transfer", to_account_id=books.usd),
            "to_account_id",
        ),
        ("transfer without a target", _expense(books, type="transfer"), "to_account_id"),
        (
            "transfer with a category",
            _expense(books, type="transfer", to_account_id=books.usd2, category_id=books.food),
            "category_id",
        ),
        (
            "transfer with splits",
            _expense(
                books,
                type="transfer",
                to_account_id=books.usd2,
                splits=[{"category_id": books.fuel, "amount": "1.00"}],
            ),
            "splits",
        ),
        (
            "to_account_id on an expense",
            _expense(books, to_account_id=books.usd2),
            "to_account_id",
        ),
        (
            "to_amount differing within one currency",
            _expense(books, type="transfer", to_account_id=books.usd2, to_amount="2.00"),
            "to_amount",
        ),
        (
            "to_amount missing across currencies",
            _expense(books, type="transfer", to_account_id=books.jpy),
            "to_amount",
        ),
        (
            "to_amount too precise for JPY",
            _expense(books, type="transfer", to_account_id=books.jpy, to_amount="150.5"),
            "to_amount",
        ),
    ]
    wrong = []
    for name, body, field in cases:
        response = api.post("/services/transactions", headers=books.user.headers, json=body)
        if response.status_code != 422 or field not in _fields(response):
            wrong.append((name, response.status_code, response.text))
    assert not wrong, wrong


@pytest.mark.usefixtures("unchanged")
def test_bad_edits_are_refused_and_change_nothing(api: httpx.Client, books: Books) -> None:
    path = f"/services/transactions/{books.expense['id']}"
    split_path = f"/services/transactions/{books.split['id']}"
    cases: list[tuple[str, str, dict[str, Any], str]] = [
        ("amount as a number", path, {"amount": 5}, "amount"),
        ("amount too precise", path, {"amount": "5.001"}, "amount"),
        ("amount null", path, {"amount": None}, "amount"),
        ("type null", path, {"type": None}, "type"),
        ("date null", path, {"date": None}, "date"),
        ("bad date", path, {"date": "2026-02-29"}, "date"),
        ("unknown field", path, {"colour": "red"}, "colour"),
        ("income category", path, {"category_id": books.salary}, "category_id"),
        ("to_amount on an expense", path, {"to_amount": "1.00"}, "to_amount"),
        ("into a transfer without a target", path, {"type": "transfer"}, "to_account_id"),
        (
            "into a transfer to itself",
            path,
            {"type": "transfer", "to_account_id": books.usd},
            "to_account_id",
        ),
        ("split amount no longer matching", split_path, {"amount": "4.00"}, "splits"),
        (
            "splits not summing",
            split_path,
            {"splits": [{"category_id": books.fuel, "amount": "2.99"}]},
            "splits",
        ),
        (
            "onto a JPY account at USD precision",
            path,
            {"account_id": books.jpy, "amount": "10.50"},
            "amount",
        ),
    ]
    wrong = []
    for name, url, body, field in cases:
        response = api.patch(url, headers=books.user.headers, json=body)
        if response.status_code != 422 or field not in _fields(response):
            wrong.append((name, response.status_code, response.text))
    assert not wrong, wrong


@pytest.mark.parametrize(
    "key",
    [
        "clé".encode(),  # non-ASCII
        b"k" * 256,  # too long
        b"two words",  # a space is not visible ASCII
        b"",  # empty
    ],
    ids=["non-ascii", "256 chars", "space", "empty"],
)
@pytest.mark.usefixtures("unchanged")
def test_a_bad_idempotency_key_is_refused(api: httpx.Client, books: Books, key: bytes) -> None:
    response = api.post(
        "/services/transactions",
        headers={k.encode(): v.encode() for k, v in books.user.headers.items()}
        | {b"Idempotency-Key": key},
        json=_expense(books),
    )
    assert _fields(response) == ["Idempotency-Key"]


def test_a_255_character_idempotency_key_is_fine(api: httpx.Client) -> None:
    """The edge of the rule above."""
    user = register_and_login(api)
    account = open_account(api, user, "Cash")
    body = {"type": "income", "account_id": account, "amount": "1.00", "date": "2026-11-02"}
    first = api.post(
        "/services/transactions", headers={**user.headers, "Idempotency-Key": "k" * 255}, json=body
    )
    assert first.status_code == 201, first.text
    again = api.post(
        "/services/transactions", headers={**user.headers, "Idempotency-Key": "k" * 255}, json=body
    )
    assert again.headers["idempotent-replayed"] == "true"


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"min_amount": "abc"}, "min_amount"),
        ({"max_amount": "abc"}, "max_amount"),
        ({"min_amount": "-1"}, "min_amount"),
        ({"min_amount": "0"}, "min_amount"),
        ({"max_amount": "1e3"}, "max_amount"),
        ({"from": "2026-03-02", "to": "2026-03-01"}, "from"),
        ({"from": "2026-02-30"}, "from"),
        ({"to": "yesterday"}, "to"),
        ({"type": "refund"}, "type"),
        ({"type": "opening"}, "type"),
        ({"cursor": "nope"}, "cursor"),
        ({"cursor": "eyJ4IjoxfQ"}, "cursor"),  # base64 JSON, but not our cursor
        ({"account_id": "not-a-uuid"}, "account_id"),
        ({"category_id": "123"}, "category_id"),
        ({"limit": "0"}, "limit"),
        ({"limit": "201"}, "limit"),
        ({"limit": "ten"}, "limit"),
        ({"q": ""}, "q"),
        ({"q": "x" * 201}, "q"),
        # Postgres text cannot hold NUL: a 422, never a 5xx
        ({"q": "a\x00b"}, "q"),
        ({"tag": "a\x00"}, "tag"),
    ],
)
def test_bad_list_filters_are_refused_naming_the_parameter(
    api: httpx.Client, books: Books, params: dict[str, str], field: str
) -> None:
    response = api.get("/services/transactions", headers=books.user.headers, params=params)
    assert field in _fields(response)


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"name": "X", "type": "checking", "currency": "usd"}, "currency"),
        ({"name": "X", "type": "checking", "currency": "XXX"}, "currency"),
        ({"name": "X", "type": "checking", "currency": "ABC"}, "currency"),
        ({"name": "X", "type": "checking", "currency": "US"}, "currency"),
        ({"name": "X", "type": "checking", "currency": "USDX"}, "currency"),
        ({"name": "X", "type": "checking", "currency": 840}, "currency"),
        ({"name": "X", "type": "checking"}, "currency"),
        ({"name": "X", "type": "wallet", "currency": "USD"}, "type"),
        ({"name": "   ", "type": "checking", "currency": "USD"}, "name"),
        ({"name": "x" * 101, "type": "checking", "currency": "USD"}, "name"),
        (
            {"name": "X", "type": "checking", "currency": "USD", "opening_balance": 10},
            "opening_balance",
        ),
        (
            {"name": "X", "type": "checking", "currency": "USD", "opening_balance": "10.001"},
            "opening_balance",
        ),
        (
            {"name": "X", "type": "checking", "currency": "JPY", "opening_balance": "10.5"},
            "opening_balance",
        ),
        (
            {"name": "X", "type": "checking", "currency": "USD", "opening_balance": "1e2"},
            "opening_balance",
        ),
        ({"name": "X", "type": "checking", "currency": "USD", "balance": "5.00"}, "balance"),
    ],
)
@pytest.mark.usefixtures("unchanged")
def test_a_bad_account_is_refused_naming_the_field(
    api: httpx.Client, books: Books, body: dict[str, Any], field: str
) -> None:
    response = api.post("/services/accounts", headers=books.user.headers, json=body)
    assert field in _fields(response)


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"currency": "EUR"}, "currency"),
        ({"name": None}, "name"),
        ({"archived": None}, "archived"),
        ({"type": "wallet"}, "type"),
        ({"opening_balance": "100.001"}, "opening_balance"),
        ({"opening_balance": 100}, "opening_balance"),
    ],
)
@pytest.mark.usefixtures("unchanged")
def test_a_bad_account_edit_is_refused_naming_the_field(
    api: httpx.Client, books: Books, body: dict[str, Any], field: str
) -> None:
    response = api.patch(f"/services/accounts/{books.usd}", headers=books.user.headers, json=body)
    assert field in _fields(response)


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("POST", "/services/transactions"),
        ("POST", "/services/accounts"),
        ("PATCH", "/services/transactions/{tx}"),
        ("PATCH", "/services/accounts/{account}"),
    ],
)
@pytest.mark.parametrize(
    "content",
    [b"{not json", b"[]", b'[{"type": "expense"}]', b'"expense"', b"null", b"12.30", b"\xff\xfe"],
    ids=["broken", "empty array", "array", "string", "null", "number", "not utf-8"],
)
@pytest.mark.usefixtures("unchanged")
def test_a_body_that_is_not_a_json_object_is_refused(
    api: httpx.Client, books: Books, method: str, path: str, content: bytes
) -> None:
    url = path.format(tx=books.expense["id"], account=books.usd)
    response = api.request(
        method,
        url,
        headers={**books.user.headers, "Content-Type": "application/json"},
        content=content,
    )
    assert _fields(response) == ["body"]
