"""Budgets against the real Postgres of the test stack."""

from __future__ import annotations

import uuid
from decimal import Decimal

import pytest
from sqlalchemy import update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from db_gateway import budgets, categories, schemas
from db_gateway.models import Budget, User
from servicekit.errors import Conflict, NotFound, ProblemError, Unprocessable
from tests.db_gateway.test_categories import Refusals, add_past_the_checks

Sessions = async_sessionmaker[AsyncSession]


async def _category(
    sessions: Sessions, user_id: uuid.UUID, kind: schemas.CategoryKind = "expense"
) -> uuid.UUID:
    async with sessions() as session:
        written = await categories.create_category(
            session=session,
            user_id=user_id,
            draft=schemas.CategoryCreate(name=f"c-{uuid.uuid4().hex[:8]}", kind=kind),
        )
    return written.category.id


async def _create(
    sessions: Sessions,
    user_id: uuid.UUID,
    category_id: uuid.UUID,
    amount: str,
    currency: str | None = None,
) -> schemas.BudgetWritten:
    async with sessions() as session:
        return await budgets.create_budget(
            session=session,
            user_id=user_id,
            draft=schemas.BudgetCreate(
                category_id=category_id, amount=Decimal(amount), currency=currency
            ),
        )


def _field(problem: pytest.ExceptionInfo[ProblemError]) -> str:
    assert problem.value.errors is not None
    return problem.value.errors[0]["field"]


async def test_the_currency_defaults_to_the_users_default_currency(
    sessions: Sessions, user_id: uuid.UUID
) -> None:
    async with sessions() as session:
        await session.execute(update(User).where(User.id == user_id).values(default_currency="EUR"))
        await session.commit()
    category = await _category(sessions, user_id)
    written = await _create(sessions, user_id, category, "400.5")
    budget = written.budget
    assert (budget.category_id, budget.amount, budget.currency, budget.period) == (
        category,
        Decimal("400.5"),
        "EUR",
        "monthly",
    )
    other = await _create(sessions, user_id, category, "30000", currency="JPY")
    assert other.budget.currency == "JPY"
    assert other.ledger_version == written.ledger_version + 1


async def test_one_budget_per_category_and_currency(sessions: Sessions, user_id: uuid.UUID) -> None:
    category = await _category(sessions, user_id)
    await _create(sessions, user_id, category, "100", currency="USD")
    with pytest.raises(Conflict) as duplicate:
        await _create(sessions, user_id, category, "200", currency="USD")
    assert duplicate.value.code == "budget_exists"
    # the unique constraint is the last word, and maps to the same 409
    row = Budget(
        id=uuid.uuid4(), user_id=user_id, category_id=category, amount=Decimal(1), currency="USD"
    )
    refusals: Refusals = {
        (categories.UNIQUE_VIOLATION, "uq_budgets_category_currency"): budgets.BudgetExists()
    }
    async with sessions() as session:
        with pytest.raises(Conflict) as refused:
            await add_past_the_checks(session, row, refusals)
    assert refused.value.code == "budget_exists"


@pytest.mark.parametrize(
    ("amount", "currency", "field"),
    [("10.5", "JPY", "amount"), ("1.001", "USD", "amount"), ("1", "XXX", "currency")],
)
async def test_amounts_fit_the_currency(
    sessions: Sessions, user_id: uuid.UUID, amount: str, currency: str, field: str
) -> None:
    category = await _category(sessions, user_id)
    with pytest.raises(Unprocessable) as refused:
        await _create(sessions, user_id, category, amount, currency=currency)
    assert _field(refused) == field
    async with sessions() as session:
        rows = await budgets.list_budgets(
            session=session, user_id=user_id, limit=10, after_seq=None
        )
    assert rows == []


async def test_only_the_users_own_expense_categories_take_budgets(
    sessions: Sessions, user_id: uuid.UUID, other_user_id: uuid.UUID
) -> None:
    income = await _category(sessions, user_id, kind="income")
    with pytest.raises(Unprocessable, match="expense") as wrong_kind:
        await _create(sessions, user_id, income, "10")
    assert _field(wrong_kind) == "category_id"
    theirs = await _category(sessions, other_user_id)
    with pytest.raises(NotFound) as not_mine:
        await _create(sessions, user_id, theirs, "10")
    assert _field(not_mine) == "category_id"


async def test_update_changes_the_amount_only(sessions: Sessions, user_id: uuid.UUID) -> None:
    category = await _category(sessions, user_id)
    created = (await _create(sessions, user_id, category, "10", currency="JPY")).budget
    async with sessions() as session:
        updated = (
            await budgets.update_budget(
                session=session,
                user_id=user_id,
                budget_id=created.id,
                change=schemas.BudgetUpdate(amount=Decimal(25)),
            )
        ).budget
    assert (updated.amount, updated.currency, updated.category_id) == (
        Decimal(25),
        "JPY",
        category,
    )
    assert updated.updated_at > created.updated_at
    for change, message in (({"amount": "2.5"}, "decimal places"), ({"amount": None}, "null")):
        async with sessions() as session:
            with pytest.raises(Unprocessable, match=message) as refused:
                await budgets.update_budget(
                    session=session,
                    user_id=user_id,
                    budget_id=created.id,
                    change=schemas.BudgetUpdate.model_validate(change),
                )
        assert _field(refused) == "amount"
    async with sessions() as session:
        stored = await budgets.get_budget(session=session, user_id=user_id, budget_id=created.id)
    assert stored.amount == Decimal(25)


async def test_list_pages_oldest_first_and_delete(sessions: Sessions, user_id: uuid.UUID) -> None:
    category = await _category(sessions, user_id)
    created = [
        (await _create(sessions, user_id, category, "1", currency=c)).budget.id
        for c in ("USD", "EUR", "GBP")
    ]
    async with sessions() as session:
        first = await budgets.list_budgets(
            session=session, user_id=user_id, limit=2, after_seq=None
        )
        rest = await budgets.list_budgets(
            session=session, user_id=user_id, limit=2, after_seq=first[-1].seq
        )
    assert [b.id for b in first + rest] == created
    async with sessions() as session:
        await budgets.delete_budget(session=session, user_id=user_id, budget_id=created[1])
    async with sessions() as session:
        left = await budgets.list_budgets(
            session=session, user_id=user_id, limit=10, after_seq=None
        )
        with pytest.raises(NotFound):
            await budgets.get_budget(session=session, user_id=user_id, budget_id=created[1])
    assert [b.id for b in left] == [created[0], created[2]]


async def test_another_users_budget_is_not_found(
    sessions: Sessions, user_id: uuid.UUID, other_user_id: uuid.UUID
) -> None:
    theirs = await _create(sessions, other_user_id, await _category(sessions, other_user_id), "5")
    budget_id = theirs.budget.id
    async with sessions() as session:
        with pytest.raises(NotFound):
            await budgets.get_budget(session=session, user_id=user_id, budget_id=budget_id)
    async with sessions() as session:
        with pytest.raises(NotFound):
            await budgets.update_budget(
                session=session,
                user_id=user_id,
                budget_id=budget_id,
                change=schemas.BudgetUpdate(amount=Decimal(1)),
            )
    async with sessions() as session:
        with pytest.raises(NotFound):
            await budgets.delete_budget(session=session, user_id=user_id, budget_id=budget_id)
    async with sessions() as session:
        still = await budgets.get_budget(
            session=session, user_id=other_user_id, budget_id=budget_id
        )
    assert still.amount == Decimal(5)
