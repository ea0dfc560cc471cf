"""Budgets: a monthly amount for one expense category in one currency.

Each public function is one atomic unit: callers pass a fresh session and the
function commits (or raises, and nothing is written). Writes take the user's
ledger lock first (`begin_write`), as the dashboard shows budgets.
"""

from __future__ import annotations

import uuid
from decimal import Decimal

from sqlalchemy import Select, delete, exists, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from db_gateway import schemas
from db_gateway.accounts import check_scale
from db_gateway.categories import UNIQUE_VIOLATION, find_category, refused_as
from db_gateway.models import Budget, User
from db_gateway.postings import begin_write
from servicekit.errors import Conflict, NotFound, Unprocessable, field_error
from servicekit.money import is_bookable_currency

EXPENSE = "expense"


class BudgetExists(Conflict):
    default_code = "budget_exists"


def user_budgets(user_id: uuid.UUID) -> Select[Budget]:
    return select(Budget).where(Budget.user_id == user_id)


def _exists(currency: str) -> BudgetExists:
    return BudgetExists(
        f"this category already has a {currency} budget; change its amount instead",
        errors=[{"field": "category_id", "message": f"already has a {currency} budget"}],
    )


def _check_amount(amount: Decimal, currency: str) -> None:
    if problem := check_scale("amount", amount, currency):
        raise Unprocessable(problem["message"], errors=[problem])


def _written(budget: Budget, version: int) -> schemas.BudgetWritten:
    return schemas.BudgetWritten(
        budget=schemas.BudgetRead.model_validate(budget), ledger_version=version
    )


async def create_budget(
    *, session: AsyncSession, user_id: uuid.UUID, draft: schemas.BudgetCreate
) -> schemas.BudgetWritten:
    """One budget per (category, currency); the currency defaults to the user's
    default_currency."""
    version = await begin_write(session, user_id)
    currency = draft.currency
    if currency is None:
        currency = (
            await session.execute(select(User.default_currency).where(User.id == user_id))
        ).scalar_one()
    if not is_bookable_currency(currency):
        raise field_error("currency", "must be an ISO 4217 currency code such as USD")
    category = await find_category(session, user_id, draft.category_id, field="category_id")
    if category.kind != EXPENSE:
        raise field_error(
            "category_id", f"is an {category.kind} category; budgets are for expense categories"
        )
    _check_amount(draft.amount, currency)
    taken = (
        await session.execute(
            select(
                exists().where(
                    Budget.user_id == user_id,
                    Budget.category_id == category.id,
                    Budget.currency == currency,
                )
            )
        )
    ).scalar_one()
    if taken:
        raise _exists(currency)
    budget = Budget(
        id=uuid.uuid4(),
        user_id=user_id,
        category_id=category.id,
        amount=draft.amount,
        currency=currency,
    )
    async with refused_as(
        session, {(UNIQUE_VIOLATION, "uq_budgets_category_currency"): _exists(currency)}
    ):
        session.add(budget)
        await session.commit()
    await session.refresh(budget)
    return _written(budget, version)


async def list_budgets(
    *, session: AsyncSession, user_id: uuid.UUID, limit: int, after_seq: int | None
) -> list[Budget]:
    """Oldest first (by seq): a keyset, so pages stay stable under inserts."""
    query = user_budgets(user_id).order_by(Budget.seq).limit(limit)
    if after_seq is not None:
        query = query.where(Budget.seq > after_seq)
    return list((await session.execute(query)).scalars())


async def _find(
    session: AsyncSession, user_id: uuid.UUID, budget_id: uuid.UUID, *, lock: bool = False
) -> Budget:
    query = user_budgets(user_id).where(Budget.id == budget_id)
    if lock:
        query = query.with_for_update()
    budget = (
        await session.execute(query.execution_options(populate_existing=True))
    ).scalar_one_or_none()
    if budget is None:
        raise NotFound("budget not found")
    return budget


async def get_budget(*, session: AsyncSession, user_id: uuid.UUID, budget_id: uuid.UUID) -> Budget:
    return await _find(session, user_id, budget_id)


async def update_budget(
    *,
    session: AsyncSession,
    user_id: uuid.UUID,
    budget_id: uuid.UUID,
    change: schemas.BudgetUpdate,
) -> schemas.BudgetWritten:
    if "amount" in change.model_fields_set and change.amount is None:
        raise field_error("amount", "cannot be null")
    version = await begin_write(session, user_id)
    budget = await _find(session, user_id, budget_id, lock=True)
    if change.amount is not None:
        _check_amount(change.amount, budget.currency)
        budget.amount = change.amount
        budget.updated_at = func.now()
    await session.commit()
    await session.refresh(budget)
    return _written(budget, version)


async def delete_budget(
    *, session: AsyncSession, user_id: uuid.UUID, budget_id: uuid.UUID
) -> schemas.LedgerVersion:
    version = await begin_write(session, user_id)
    budget = await _find(session, user_id, budget_id, lock=True)
    await session.execute(delete(Budget).where(Budget.id == budget.id))
    await session.commit()
    return schemas.LedgerVersion(ledger_version=version)
