"""Category-filtered pages of transactions, against the real Postgres of the test
stack: followed by their cursor, they give exactly the transactions with an
allocation in the category or a subcategory, newest first, each once, however
the history is split, re-dated and re-filed."""

from __future__ import annotations

import datetime as dt
import random
import uuid
from dataclasses import replace
from decimal import Decimal

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from db_gateway import categories, schemas, transactions
from tests.db_gateway.conftest import new_account

Sessions = async_sessionmaker[AsyncSession]
Read = schemas.TransactionRead


async def _category(
    sessions: Sessions, user_id: uuid.UUID, name: str, parent_id: uuid.UUID | None = None
) -> uuid.UUID:
    async with sessions() as session:
        written = await categories.create_category(
            session=session,
            user_id=user_id,
            draft=schemas.CategoryCreate(name=name, kind="expense", parent_id=parent_id),
        )
    return written.category.id


def _draft(
    rng: random.Random, accounts: list[uuid.UUID], filed: list[uuid.UUID]
) -> dict[str, object]:
    """A random expense (single, uncategorised or split, splits possibly sharing
    a category), income or transfer, on one of ten days: many share a date."""
    base: dict[str, object] = {
        "account_id": rng.choice(accounts),
        "amount": Decimal(rng.randrange(100, 10_000)) / 100,
        "date": dt.date(2026, 3, 1) + dt.timedelta(days=rng.randrange(10)),
    }
    roll = rng.random()
    if roll < 0.1:
        return {**base, "type": "income"}
    if roll < 0.2:
        target = accounts[1 - accounts.index(base["account_id"])]  # type: ignore[arg-type]
        return {**base, "type": "transfer", "to_account_id": target}
    if roll < 0.55:
        cents = int(base["amount"] * 100)  # type: ignore[operator]
        parts = rng.randint(2, 3)
        cuts = sorted(rng.sample(range(1, cents), parts - 1))
        bounds = [0, *cuts, cents]
        splits = [
            {"category_id": rng.choice(filed), "amount": Decimal(bounds[i + 1] - bounds[i]) / 100}
            for i in range(parts)
        ]
        return {**base, "type": "expense", "splits": splits}
    return {**base, "type": "expense", "category_id": rng.choice([*filed, None])}


async def _history(
    sessions: Sessions, user_id: uuid.UUID, filed: list[uuid.UUID], accounts: list[uuid.UUID]
) -> None:
    """80 random transactions, then a quarter of them re-dated, re-filed or re-split."""
    rng = random.Random(20261125)
    posted: list[uuid.UUID] = []
    for _ in range(80):
        async with sessions() as session:
            written = await transactions.post_transaction(
                session=session,
                user_id=user_id,
                draft=schemas.TransactionPost.model_validate(_draft(rng, accounts, filed)),
            )
        assert written.transaction is not None
        posted.append(written.transaction.id)
    for transaction_id in rng.sample(posted, 20):
        async with sessions() as session:
            current = await transactions.get_transaction(
                session=session, user_id=user_id, transaction_id=transaction_id
            )
            change: dict[str, object] = {
                "date": current.date + dt.timedelta(days=rng.choice((-4, -1, 2, 5)))
            }
            if current.type == "expense":  # and, for expenses, a new filing
                change |= {
                    k: v
                    for k, v in _draft(rng, accounts, filed).items()
                    if k in ("category_id", "splits") and v is not None
                } | {"amount": current.amount}
                if "splits" in change:
                    drafted = change["splits"]
                    assert isinstance(drafted, list)
                    change["amount"] = sum((s["amount"] for s in drafted), Decimal(0))
            await transactions.update_transaction(
                session=session,
                user_id=user_id,
                transaction_id=transaction_id,
                patch=schemas.TransactionPatch.model_validate(change),
            )


async def _all(sessions: Sessions, user_id: uuid.UUID) -> list[Read]:
    """The whole history in one page, through the unfiltered query."""
    async with sessions() as session:
        everything = await transactions.list_transactions(
            session=session, user_id=user_id, limit=200, before=None, filters=transactions.Filters()
        )
    assert 0 < len(everything) < 200
    return everything


def _expected(history: list[Read], subtree: set[uuid.UUID], f: transactions.Filters) -> list[Read]:
    """What a category-filtered listing must give, worked out from the
    transactions' own category and splits."""

    def matches(t: Read) -> bool:
        filed = {t.category_id, *(s.category_id for s in t.splits)}
        return bool(
            filed & subtree
            and (f.account_id is None or f.account_id in (t.account_id, t.to_account_id))
            and (f.date_from is None or t.date >= f.date_from)
            and (f.date_to is None or t.date <= f.date_to)
            and (f.min_amount is None or t.amount >= f.min_amount)
        )

    return [t for t in history if matches(t)]


async def _paged(
    sessions: Sessions, user_id: uuid.UUID, f: transactions.Filters, limit: int
) -> list[Read]:
    """Every page, each asked with the cursor of the one before."""
    found: list[Read] = []
    before: tuple[dt.date, int] | None = None
    async with sessions() as session:
        while True:
            page = await transactions.list_transactions(
                session=session, user_id=user_id, limit=limit, before=before, filters=f
            )
            assert len(page) <= limit
            found += page
            if len(page) < limit:
                return found
            before = (page[-1].date, page[-1].seq)


async def test_category_pages_follow_the_cursor_through_a_split_history_exactly(
    sessions: Sessions, user_id: uuid.UUID
) -> None:
    parent = await _category(sessions, user_id, "Household")
    children = [await _category(sessions, user_id, n, parent) for n in ("Cleaning", "Repairs")]
    other = await _category(sessions, user_id, "Hobbies")
    filed = [parent, *children, other]
    accounts = [await new_account(sessions, user_id), await new_account(sessions, user_id)]
    await _history(sessions, user_id, filed, accounts)
    history = await _all(sessions, user_id)
    # the history has what can go wrong: splits across categories of one
    # subtree, two splits in one category, and many transactions on one day
    split = [t for t in history if t.splits]
    assert any(len({s.category_id for s in t.splits} & {parent, *children}) > 1 for t in split)
    assert any(len({s.category_id for s in t.splits}) < len(t.splits) for t in split)
    assert len({t.date for t in history}) < len(history) / 4

    subtrees = {
        parent: {parent, *children},
        children[0]: {children[0]},
        other: {other},
    }
    plain = transactions.Filters()
    for category, subtree in subtrees.items():
        only = replace(plain, category_id=category)
        expected = _expected(history, subtree, only)
        assert expected
        for limit in (1, 2, 5, 200):
            listed = await _paged(sessions, user_id, only, limit)
            assert [t.id for t in listed] == [t.id for t in expected], (category, limit)
            assert listed == expected
    # with the other filters too: ranges and the transaction's own fields
    combined = [
        replace(plain, date_from=dt.date(2026, 3, 3), date_to=dt.date(2026, 3, 8)),
        replace(plain, account_id=accounts[0]),
        replace(plain, min_amount=Decimal("40"), date_to=dt.date(2026, 3, 7)),
    ]
    for f in combined:
        for category in (parent, children[1]):
            filtered = replace(f, category_id=category)
            expected = _expected(history, subtrees.get(category, {category}), filtered)
            assert expected
            for limit in (2, 3):
                listed = await _paged(sessions, user_id, filtered, limit)
                assert [t.id for t in listed] == [t.id for t in expected], (filtered, limit)


async def test_allocations_keep_their_transactions_date_and_seq(
    sessions: Sessions, user_id: uuid.UUID
) -> None:
    """The copies a category page orders by: written with the transaction,
    moved with its date."""
    category = await _category(sessions, user_id, "Household")
    account = await new_account(sessions, user_id)
    async with sessions() as session:
        written = await transactions.post_transaction(
            session=session,
            user_id=user_id,
            draft=schemas.TransactionPost(
                type="expense",
                account_id=account,
                amount=Decimal("10.00"),
                date=dt.date(2026, 3, 1),
                splits=[
                    schemas.SplitDraft(category_id=category, amount=Decimal("4.00")),
                    schemas.SplitDraft(category_id=category, amount=Decimal("6.00")),
                ],
            ),
        )
    assert written.transaction is not None
    transaction_id = written.transaction.id

    async def copies() -> set[tuple[object, ...]]:
        async with sessions() as session:
            rows = await session.execute(
                text(
                    "SELECT a.date = t.date AND a.seq = t.seq AS same, a.date"
                    " FROM allocations a JOIN transactions t ON t.id = a.transaction_id"
                    " WHERE t.id = :t"
                ),
                {"t": transaction_id},
            )
        return {tuple(r) for r in rows}

    assert await copies() == {(True, dt.date(2026, 3, 1))}
    async with sessions() as session:
        await transactions.update_transaction(
            session=session,
            user_id=user_id,
            transaction_id=transaction_id,
            patch=schemas.TransactionPatch(date=dt.date(2026, 2, 1)),
        )
    assert await copies() == {(True, dt.date(2026, 2, 1))}
    # and the database keeps them so: a date moved behind the engine's back moves them too
    async with sessions() as session:
        await session.execute(
            text("UPDATE transactions SET date = '2026-01-15' WHERE id = :t"), {"t": transaction_id}
        )
        await session.commit()
    assert await copies() == {(True, dt.date(2026, 1, 15))}
