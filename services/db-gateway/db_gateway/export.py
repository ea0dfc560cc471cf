"""The data export: everything of one user's, read in pieces whose size does
not grow with the ledger.

Accounts, categories and budgets are few and come in one read; transactions
can be many and come in keyset batches, newest first.
"""

from __future__ import annotations

import datetime as dt
import uuid
from decimal import Decimal

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from db_gateway import schemas, transactions
from db_gateway.accounts import user_accounts
from db_gateway.models import Account, Budget, Category


class ExportCategory(schemas.Schema):
    id: uuid.UUID
    name: str
    kind: schemas.CategoryKind
    parent_id: uuid.UUID | None
    created_at: dt.datetime
    updated_at: dt.datetime


class ExportBudget(schemas.Schema):
    id: uuid.UUID
    category_id: uuid.UUID
    amount: Decimal
    currency: str
    period: str
    created_at: dt.datetime
    updated_at: dt.datetime


class ExportReference(schemas.Schema):
    """What the transactions refer to, each list in the order it was created."""

    accounts: list[schemas.AccountRead]
    categories: list[ExportCategory]
    budgets: list[ExportBudget]


async def reference(*, session: AsyncSession, user_id: uuid.UUID) -> ExportReference:
    # One snapshot for the three reads, so no budget names a category that a
    # concurrent delete removed between them.
    await session.connection(execution_options={"isolation_level": "REPEATABLE READ"})
    accounts = (await session.execute(user_accounts(user_id).order_by(Account.seq))).scalars()
    categories = (
        await session.execute(
            select(Category).where(Category.user_id == user_id).order_by(Category.seq)
        )
    ).scalars()
    budgets = (
        await session.execute(select(Budget).where(Budget.user_id == user_id).order_by(Budget.seq))
    ).scalars()
    result = ExportReference(
        accounts=[schemas.AccountRead.model_validate(a) for a in accounts],
        categories=[ExportCategory.model_validate(c) for c in categories],
        budgets=[ExportBudget.model_validate(b) for b in budgets],
    )
    await session.rollback()  # read only: end the snapshot now
    return result


async def transaction_batch(
    *,
    session: AsyncSession,
    user_id: uuid.UUID,
    limit: int,
    before: tuple[dt.date, int] | None,
) -> list[schemas.TransactionRead]:
    """Up to `limit` transactions older than `before` (date, seq), newest
    first; opening balances are left out, as every transaction list does."""
    return await transactions.list_transactions(
        session=session,
        user_id=user_id,
        limit=limit,
        before=before,
        filters=transactions.Filters(),
    )
