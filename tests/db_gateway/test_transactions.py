"""db-gateway's domain operations against the real Postgres of the test stack."""

from __future__ import annotations

import asyncio
import datetime as dt
import hashlib
import uuid
from decimal import Decimal

import pytest
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from db_gateway import accounts, schemas, transactions
from servicekit.errors import NotFound, Unprocessable
from tests.db_gateway.conftest import new_account

Sessions = async_sessionmaker[AsyncSession]


def _transfer(
    source: uuid.UUID, target: uuid.UUID, amount: str, key: str | None = None
) -> schemas.TransactionPost:
    draft = {
        "type": "transfer",
        "account_id": source,
        "to_account_id": target,
        "amount": Decimal(amount),
        "date": dt.date(2026, 11, 1),
    }
    if key:
        draft |= {
            "idempotency_key": key,
            "request_hash": hashlib.sha256(f"{source}{target}{amount}".encode()).hexdigest(),
        }
    return schemas.TransactionPost.model_validate(draft)


async def _post(
    sessions: Sessions, user_id: uuid.UUID, draft: schemas.TransactionPost
) -> schemas.TransactionWritten:
    async with sessions() as session:
        return await transactions.post_transaction(session=session, user_id=user_id, draft=draft)


async def _ledger_is_consistent(sessions: Sessions, user_id: uuid.UUID) -> None:
    """Stored balances equal SUM(postings) for every account, hidden ones included."""
    async with sessions() as session:
        rows = (
            await session.execute(
                text("""
            SELECT a.id, a.balance, COALESCE(SUM(p.amount), 0) AS posted
            FROM accounts a LEFT JOIN postings p ON p.account_id = a.id
            WHERE a.user_id = :user_id GROUP BY a.id, a.balance
        """),
                {"user_id": user_id},
            )
        ).all()
    assert rows
    assert [(r.id, r.balance) for r in rows] == [(r.id, r.posted) for r in rows]


async def test_expense_income_transfer_move_balances_exactly(
    sessions: Sessions, user_id: uuid.UUID
) -> None:
    a, b = await new_account(sessions, user_id), await new_account(sessions, user_id)
    for kind, amount in (("income", "100.10"), ("expense", "0.30")):
        await _post(
            sessions,
            user_id,
            schemas.TransactionPost(
                type=kind, account_id=a, amount=Decimal(amount), date=dt.date(2026, 11, 1)
            ),
        )
    result = await _post(sessions, user_id, _transfer(a, b, "50.05"))
    balances = {x.account_id: x.balance for x in result.balances}
    assert balances == {a: Decimal("49.75"), b: Decimal("50.05")}
    await _ledger_is_consistent(sessions, user_id)


async def test_database_refuses_unbalanced_postings(sessions: Sessions, user_id: uuid.UUID) -> None:
    """Double entry holds even against code that bypasses the service."""
    a, b = await new_account(sessions, user_id), await new_account(sessions, user_id)
    async with sessions() as session:
        tx = uuid.uuid4()
        await session.execute(
            text("""
            INSERT INTO transactions (id, user_id, type, account_id, to_account_id, amount,
                                      currency, to_amount, to_currency, date)
            VALUES (:tx, :u, 'transfer', :a, :b, 10, 'USD', 10, 'USD', '2026-11-01')"""),
            {"tx": tx, "u": user_id, "a": a, "b": b},
        )
        await session.execute(
            text("""
            INSERT INTO postings (transaction_id, user_id, account_id, currency, amount)
            VALUES (:tx, :u, :a, 'USD', -10), (:tx, :u, :b, 'USD', 9.99)"""),
            {"tx": tx, "u": user_id, "a": a, "b": b},
        )
        with pytest.raises(DBAPIError, match="do not sum to zero"):
            await session.commit()


async def test_database_refuses_a_transaction_without_postings(
    sessions: Sessions, user_id: uuid.UUID
) -> None:
    a = await new_account(sessions, user_id)
    async with sessions() as session:
        await session.execute(
            text("""
            INSERT INTO transactions (id, user_id, type, account_id, amount, currency, date)
            VALUES (:tx, :u, 'expense', :a, 10, 'USD', '2026-11-01')"""),
            {"tx": uuid.uuid4(), "u": user_id, "a": a},
        )
        with pytest.raises(DBAPIError, match="double entry needs at least 2"):
            await session.commit()


async def test_database_refuses_postings_on_another_users_account(
    sessions: Sessions, user_id: uuid.UUID, other_user_id: uuid.UUID
) -> None:
    mine = await new_account(sessions, user_id)
    theirs = await new_account(sessions, other_user_id)
    async with sessions() as session:
        with pytest.raises(DBAPIError, match="foreign key"):
            await session.execute(
                text("""
                INSERT INTO transactions (id, user_id, type, account_id, to_account_id,
                                          amount, currency, to_amount, to_currency, date)
                VALUES (:tx, :u, 'transfer', :a, :b, 10, 'USD', 10, 'USD', '2026-11-01')"""),
                {"tx": uuid.uuid4(), "u": user_id, "a": mine, "b": theirs},
            )


async def test_transfer_to_another_users_account_is_not_found(
    sessions: Sessions, user_id: uuid.UUID, other_user_id: uuid.UUID
) -> None:
    mine = await new_account(sessions, user_id)
    theirs = await new_account(sessions, other_user_id)
    with pytest.raises(NotFound):
        await _post(sessions, user_id, _transfer(mine, theirs, "1.00"))
    with pytest.raises(NotFound):
        await _post(sessions, user_id, _transfer(theirs, mine, "1.00"))


async def test_concurrent_transfers_neither_lose_updates_nor_deadlock(
    sessions: Sessions, user_id: uuid.UUID
) -> None:
    accounts = [await new_account(sessions, user_id) for _ in range(4)]
    await _post(
        sessions,
        user_id,
        schemas.TransactionPost(
            type="income", account_id=accounts[0], amount=Decimal("1000"), date=dt.date(2026, 11, 1)
        ),
    )
    # every pair in both directions, so lock order matters
    drafts = [
        _transfer(accounts[i % 4], accounts[(i * 3 + 1) % 4], "1.01")
        for i in range(60)
        if i % 4 != (i * 3 + 1) % 4
    ]
    await asyncio.gather(*(_post(sessions, user_id, d) for d in drafts))
    async with sessions() as session:
        total = (
            await session.execute(
                text(
                    "SELECT SUM(balance) FROM accounts WHERE user_id = :u AND system_role IS NULL"
                ),
                {"u": user_id},
            )
        ).scalar_one()
    assert total == Decimal("1000")
    await _ledger_is_consistent(sessions, user_id)


async def test_concurrent_requests_with_one_idempotency_key_post_once(
    sessions: Sessions, user_id: uuid.UUID
) -> None:
    a, b = await new_account(sessions, user_id), await new_account(sessions, user_id)
    draft = _transfer(a, b, "7.00", key="same-key")
    results = await asyncio.gather(*(_post(sessions, user_id, draft) for _ in range(8)))
    assert len({r.transaction.id for r in results if r.transaction}) == 1
    assert sum(not r.replayed for r in results) == 1
    async with sessions() as session:
        count = (
            await session.execute(
                text("SELECT count(*) FROM transactions WHERE user_id = :u"), {"u": user_id}
            )
        ).scalar_one()
        balance = (
            await accounts.get_account(session=session, user_id=user_id, account_id=b)
        ).balance
    assert count == 1
    assert balance == Decimal("7.00")

    with pytest.raises(Unprocessable) as conflict:
        await _post(sessions, user_id, _transfer(a, b, "8.00", key="same-key"))
    assert conflict.value.code == "idempotency_conflict"


async def test_keyset_pages_are_newest_first(sessions: Sessions, user_id: uuid.UUID) -> None:
    a = await new_account(sessions, user_id)
    for day in (3, 1, 2, 2):
        await _post(
            sessions,
            user_id,
            schemas.TransactionPost(
                type="income", account_id=a, amount=Decimal("1"), date=dt.date(2026, 11, day)
            ),
        )
    async with sessions() as session:
        first = await transactions.list_transactions(
            session=session, user_id=user_id, limit=2, before=None, filters=transactions.Filters()
        )
        rest = await transactions.list_transactions(
            session=session,
            user_id=user_id,
            limit=10,
            before=(first[-1].date, first[-1].seq),
            filters=transactions.Filters(),
        )
    days = [t.date.day for t in first + rest]
    assert days == [3, 2, 2, 1]
    assert len({t.id for t in first + rest}) == 4
