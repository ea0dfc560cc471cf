"""Shared helpers of the ledger's e2e suites: the books checked straight in
Postgres and Redis, and small API helpers (open an account, post, read a
balance) that fail loudly with the response body."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Mapping
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
import redis
from sqlalchemy import text
from sqlalchemy.ext.asyncio import create_async_engine

from tests.conftest import StackInfo
from tests.e2e.conftest import User

# ---------------------------------------------------------------- SQL


async def _query(stack: StackInfo, sql: str, params: Mapping[str, Any]) -> list[dict[str, Any]]:
    engine = create_async_engine(stack.database_url)
    try:
        async with engine.connect() as conn:
            result = await conn.execute(text(sql), dict(params))
            return [dict(row._mapping) for row in result]
    finally:
        await engine.dispose()


def query(stack: StackInfo, sql: str, **params: Any) -> list[dict[str, Any]]:
    """Rows of one read-only statement, straight from Postgres."""
    return asyncio.run(_query(stack, sql, params))


def scalar(stack: StackInfo, sql: str, **params: Any) -> Any:
    rows = query(stack, sql, **params)
    assert len(rows) == 1, rows
    assert len(rows[0]) == 1, rows
    return next(iter(rows[0].values()))


_BOOKS_CHECKS: dict[str, str] = {
    # every account (hidden system accounts included) holds exactly its postings
    "account balance differs from the sum of its postings": """
        SELECT a.id, a.system_role, a.currency, a.balance,
               COALESCE(SUM(p.amount), 0) AS posted
        FROM accounts a LEFT JOIN postings p ON p.account_id = a.id
        WHERE a.user_id = :u
        GROUP BY a.id
        HAVING a.balance <> COALESCE(SUM(p.amount), 0)
    """,
    # double entry: the postings of each transaction sum to zero in each currency
    "transaction postings do not sum to zero in a currency": """
        SELECT p.transaction_id, p.currency, SUM(p.amount) AS total
        FROM postings p WHERE p.user_id = :u
        GROUP BY p.transaction_id, p.currency
        HAVING SUM(p.amount) <> 0
    """,
    # every transaction has postings (at least two)
    "transaction with fewer than two postings": """
        SELECT t.id, t.type, COUNT(p.id) AS postings
        FROM transactions t LEFT JOIN postings p ON p.transaction_id = t.id
        WHERE t.user_id = :u
        GROUP BY t.id
        HAVING COUNT(p.id) < 2
    """,
    # postings only ever touch the user's own accounts
    "posting on another user's account": """
        SELECT p.id, p.account_id FROM postings p JOIN accounts a ON a.id = p.account_id
        WHERE p.user_id = :u AND a.user_id <> :u
    """,
    # an expense or income is allocated to categories exactly: allocations sum to its amount
    "expense/income allocations do not sum to its amount": """
        SELECT t.id, t.type, t.amount, COALESCE(SUM(al.amount), 0) AS allocated
        FROM transactions t LEFT JOIN allocations al ON al.transaction_id = t.id
        WHERE t.user_id = :u AND t.type IN ('expense', 'income')
        GROUP BY t.id
        HAVING COALESCE(SUM(al.amount), 0) <> t.amount
    """,
    "transfer or opening balance with allocations": """
        SELECT t.id, t.type FROM transactions t JOIN allocations al ON al.transaction_id = t.id
        WHERE t.user_id = :u AND t.type NOT IN ('expense', 'income')
    """,
}


async def _books(stack: StackInfo, user_id: str) -> dict[str, list[dict[str, Any]]]:
    engine = create_async_engine(stack.database_url)
    found: dict[str, list[dict[str, Any]]] = {}
    try:
        async with engine.connect() as conn:
            for problem, sql in _BOOKS_CHECKS.items():
                rows = [dict(r._mapping) for r in await conn.execute(text(sql), {"u": user_id})]
                if rows:
                    found[problem] = rows
            counts = (
                await conn.execute(
                    text(
                        "SELECT (SELECT count(*) FROM accounts WHERE user_id = :u) AS accounts,"
                        " (SELECT count(*) FROM transactions WHERE user_id = :u) AS transactions"
                    ),
                    {"u": user_id},
                )
            ).one()
            found["_counts"] = [dict(counts._mapping)]
    finally:
        await engine.dispose()
    return found


def assert_books_balance(stack: StackInfo, user_id: str) -> dict[str, int]:
    """Fail unless the user's books are exact in the database: each account's
    stored balance equals the sum of its postings (hidden accounts included),
    each transaction's postings sum to zero per currency, and each expense or
    income is allocated to exactly its amount. Returns the row counts checked
    (accounts, transactions) so a caller can make sure there was something to check."""
    found = asyncio.run(_books(stack, user_id))
    counts = found.pop("_counts")[0]
    assert not found, f"the books of user {user_id} do not balance: {found}"
    return {k: int(v) for k, v in counts.items()}


def cached_equals_db(stack: StackInfo, user_id: str) -> int:
    """Fail unless every `bal:{user}:{account}` Redis entry has the balance and
    version of its account's row in the database, or marks a deleted account as
    gone. Returns how many entries were checked."""
    cache = redis.Redis.from_url(stack.redis_url, decode_responses=True)
    try:
        keys = sorted(str(k) for k in cache.scan_iter(match=f"bal:{user_id}:*"))
        entries: dict[str, dict[str, str]] = {
            key: {str(k): str(v) for k, v in cache.hgetall(key).items()} for key in keys
        }
    finally:
        cache.close()
    rows = {
        str(r["id"]): r
        for r in query(
            stack,
            "SELECT id, balance, version FROM accounts WHERE user_id = :u",
            u=user_id,
        )
    }
    mismatches = []
    for key, entry in entries.items():
        account_id = key.rsplit(":", 1)[1]
        row = rows.get(account_id)
        if row is None:
            if entry != {"gone": "1", "version": str(2**62)}:
                mismatches.append((key, entry, "no such account of this user"))
            continue
        if "gone" in entry:
            mismatches.append((key, entry, "the account exists"))
            continue
        if "balance" not in entry:
            mismatches.append((key, entry, "entry without a balance"))
            continue
        if Decimal(entry["balance"]) != row["balance"] or int(entry["version"]) != row["version"]:
            mismatches.append((key, entry, f"db balance={row['balance']} version={row['version']}"))
    assert not mismatches, f"cached balances differ from the database: {mismatches}"
    return len(entries)


def user_id_of(api: httpx.Client, user: User) -> str:
    profile = api.get("/profile", headers=user.headers)
    assert profile.status_code == 200, profile.text
    return str(profile.json()["id"])


def categories(stack: StackInfo, user_id: str) -> dict[str, dict[str, Any]]:
    """The user's categories by name: {"Groceries": {"id", "kind", "parent_id"}}."""
    rows = query(
        stack,
        "SELECT id, name, kind, parent_id FROM categories WHERE user_id = :u",
        u=user_id,
    )
    by_name: dict[str, dict[str, Any]] = {}
    for row in rows:
        assert row["name"] not in by_name, f"two categories named {row['name']}"
        by_name[str(row["name"])] = {
            "id": str(row["id"]),
            "kind": row["kind"],
            "parent_id": str(row["parent_id"]) if row["parent_id"] else None,
        }
    return by_name


_LEDGER_ROWS = {
    "counts": """
        SELECT (SELECT count(*) FROM accounts WHERE user_id = :u) AS accounts,
               (SELECT count(*) FROM transactions WHERE user_id = :u) AS transactions,
               (SELECT count(*) FROM postings WHERE user_id = :u) AS postings,
               (SELECT count(*) FROM allocations WHERE user_id = :u) AS allocations,
               (SELECT count(*) FROM idempotency_records WHERE user_id = :u) AS idempotency,
               (SELECT ledger_version FROM users WHERE id = :u) AS ledger_version
    """,
    "accounts": "SELECT id, balance, version, archived, name, opening_balance FROM accounts"
    " WHERE user_id = :u ORDER BY id",
    "transactions": "SELECT id, version, type, account_id, to_account_id, amount, to_amount,"
    " category_id, date, description, notes, tags FROM transactions WHERE user_id = :u ORDER BY id",
    "allocations": "SELECT transaction_id, position, category_id, amount FROM allocations"
    " WHERE user_id = :u ORDER BY transaction_id, position",
}


async def _ledger_rows(stack: StackInfo, user_id: str) -> dict[str, Any]:
    engine = create_async_engine(stack.database_url)
    try:
        async with engine.connect() as conn:
            return {
                name: [dict(r._mapping) for r in await conn.execute(text(sql), {"u": user_id})]
                for name, sql in _LEDGER_ROWS.items()
            }
    finally:
        await engine.dispose()


def ledger_rows(stack: StackInfo, user_id: str) -> dict[str, Any]:
    """What a refused write must not change: row counts of the user's ledger
    tables, the user's ledger version, every account (balance, version, ...),
    every transaction and every allocation."""
    return asyncio.run(_ledger_rows(stack, user_id))


# ---------------------------------------------------------------- logs


def log_offsets(stack: StackInfo) -> dict[Path, int]:
    return {path: path.stat().st_size for path in stack.logs.glob("*.log")}


def log_text_since(stack: StackInfo, offsets: Mapping[Path, int]) -> dict[str, str]:
    """What each log file gained since `offsets`."""
    gained = {}
    for path in stack.logs.glob("*.log"):
        with path.open("rb") as handle:
            handle.seek(offsets.get(path, 0))
            gained[path.name] = handle.read().decode("utf-8", "replace")
    return gained


# ---------------------------------------------------------------- API


def open_account(
    api: httpx.Client,
    user: User,
    name: str,
    currency: str = "USD",
    opening_balance: str | None = None,
    type_: str = "checking",
) -> str:
    body: dict[str, Any] = {"name": name, "type": type_, "currency": currency}
    if opening_balance is not None:
        body["opening_balance"] = opening_balance
    response = api.post("/services/accounts", headers=user.headers, json=body)
    assert response.status_code == 201, response.text
    return str(response.json()["id"])


def post_tx(
    api: httpx.Client, user: User, body: Mapping[str, Any], key: str | None = None
) -> httpx.Response:
    headers = dict(user.headers)
    if key is not None:
        headers["Idempotency-Key"] = key
    return api.post("/services/transactions", headers=headers, json=dict(body))


def create_tx(api: httpx.Client, user: User, body: Mapping[str, Any]) -> dict[str, Any]:
    response = post_tx(api, user, body)
    assert response.status_code == 201, response.text
    created: dict[str, Any] = response.json()
    return created


def balance_of(api: httpx.Client, user: User, account_id: str) -> str:
    response = api.get(f"/services/accounts/{account_id}/balance", headers=user.headers)
    assert response.status_code == 200, response.text
    return str(response.json()["balance"])


def balances(api: httpx.Client, user: User, *account_ids: str) -> list[str]:
    """Each account's balance as the balance endpoint and the account itself show it
    (they must agree)."""
    found = []
    for account_id in account_ids:
        fast = balance_of(api, user, account_id)
        account = api.get(f"/services/accounts/{account_id}", headers=user.headers)
        assert account.status_code == 200, account.text
        assert account.json()["balance"] == fast, (account.json(), fast)
        found.append(fast)
    return found


def list_all(
    api: httpx.Client, user: User, params: Mapping[str, Any] | None = None, limit: int = 200
) -> list[dict[str, Any]]:
    """Every transaction matching `params`, following cursors."""
    items: list[dict[str, Any]] = []
    cursor: str | None = None
    for _ in range(100):
        query_params = {**(params or {}), "limit": limit}
        if cursor:
            query_params["cursor"] = cursor
        response = api.get("/services/transactions", headers=user.headers, params=query_params)
        assert response.status_code == 200, response.text
        page = response.json()
        items.extend(page["items"])
        cursor = page["next_cursor"]
        if cursor is None:
            return items
    raise AssertionError("more than 100 pages")


def new_key() -> str:
    return f"k-{uuid.uuid4()}"
