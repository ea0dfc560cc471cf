"""Categories against the real Postgres of the test stack."""

from __future__ import annotations

import datetime as dt
import uuid
from decimal import Decimal

import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from db_gateway import budgets, categories, schemas, transactions
from db_gateway.models import Budget, Category, User
from servicekit.errors import Conflict, NotFound, ProblemError, Unprocessable
from tests.db_gateway.conftest import new_account

Sessions = async_sessionmaker[AsyncSession]
Refusals = dict[tuple[str, str | None], ProblemError]


async def add_past_the_checks(session: AsyncSession, row: object, refusals: Refusals) -> None:
    """Write a row the way the domain functions do, minus their checks."""
    async with categories.refused_as(session, refusals):
        session.add(row)
        await session.commit()


async def _create(
    sessions: Sessions,
    user_id: uuid.UUID,
    name: str,
    kind: schemas.CategoryKind = "expense",
    parent_id: uuid.UUID | None = None,
) -> schemas.CategoryRead:
    async with sessions() as session:
        written = await categories.create_category(
            session=session,
            user_id=user_id,
            draft=schemas.CategoryCreate(name=name, kind=kind, parent_id=parent_id),
        )
    return written.category


async def _update(
    sessions: Sessions, user_id: uuid.UUID, category_id: uuid.UUID, **change: object
) -> schemas.CategoryRead:
    async with sessions() as session:
        written = await categories.update_category(
            session=session,
            user_id=user_id,
            category_id=category_id,
            change=schemas.CategoryUpdate.model_validate(change),
        )
    return written.category


async def _delete(sessions: Sessions, user_id: uuid.UUID, category_id: uuid.UUID) -> int:
    async with sessions() as session:
        result = await categories.delete_category(
            session=session, user_id=user_id, category_id=category_id
        )
    return result.ledger_version


async def _all(sessions: Sessions, user_id: uuid.UUID, kind: str | None = None) -> list[Category]:
    async with sessions() as session:
        return await categories.list_categories(
            session=session, user_id=user_id, limit=200, after_seq=None, kind=kind
        )


def _field(problem: pytest.ExceptionInfo[ProblemError]) -> str:
    assert problem.value.errors is not None
    return problem.value.errors[0]["field"]


async def test_a_new_user_has_default_categories_of_both_kinds_two_levels_deep(
    sessions: Sessions, user_id: uuid.UUID
) -> None:
    rows = await _all(sessions, user_id)
    by_id = {c.id: c for c in rows}
    assert {c.kind for c in rows} == {"expense", "income"}
    children = [c for c in rows if c.parent_id is not None]
    assert {c.kind for c in children} == {"expense", "income"}
    for child in children:
        assert child.parent_id is not None
        parent = by_id[child.parent_id]
        assert parent.parent_id is None
        assert parent.kind == child.kind
        assert parent.seq < child.seq  # parents come first in a listing
    assert {c.name for c in rows} >= {"Food", "Groceries", "Salary", "Dividends"}


async def test_listing_pages_by_seq_and_filters_by_kind(
    sessions: Sessions, user_id: uuid.UUID
) -> None:
    everything = await _all(sessions, user_id)
    pages: list[Category] = []
    after: int | None = None
    while True:
        async with sessions() as session:
            page = await categories.list_categories(
                session=session, user_id=user_id, limit=7, after_seq=after
            )
        pages += page
        if len(page) < 7:
            break
        after = page[-1].seq
    assert [c.id for c in pages] == [c.id for c in everything]
    assert [c.seq for c in everything] == sorted(c.seq for c in everything)
    income = await _all(sessions, user_id, kind="income")
    assert income
    assert {c.kind for c in income} == {"income"}
    assert [c.id for c in income] == [c.id for c in everything if c.kind == "income"]


async def test_create_under_a_top_level_parent_of_the_same_kind(
    sessions: Sessions, user_id: uuid.UUID
) -> None:
    pets = await _create(sessions, user_id, "Pets")
    vet = await _create(sessions, user_id, "Vet", parent_id=pets.id)
    assert (vet.parent_id, vet.kind, vet.name) == (pets.id, "expense", "Vet")

    with pytest.raises(Unprocessable, match="two levels") as deeper:
        await _create(sessions, user_id, "Dentist", parent_id=vet.id)
    assert _field(deeper) == "parent_id"
    with pytest.raises(Unprocessable, match="expense") as mixed:
        await _create(sessions, user_id, "Pet sitting", kind="income", parent_id=pets.id)
    assert _field(mixed) == "parent_id"
    with pytest.raises(NotFound) as missing:
        await _create(sessions, user_id, "Stray", parent_id=uuid.uuid4())
    assert _field(missing) == "parent_id"
    assert "Dentist" not in {c.name for c in await _all(sessions, user_id)}


async def test_names_are_unique_per_parent_and_kind_in_any_letter_case(
    sessions: Sessions, user_id: uuid.UUID
) -> None:
    pets = await _create(sessions, user_id, "Pets")
    with pytest.raises(Conflict) as duplicate:
        await _create(sessions, user_id, "PETS")
    assert duplicate.value.code == "category_exists"
    # the same name is fine under another parent, at another level or of another kind
    await _create(sessions, user_id, "pets", kind="income")
    await _create(sessions, user_id, "Pets", parent_id=pets.id)
    housing = next(c for c in await _all(sessions, user_id) if c.name == "Housing")
    await _create(sessions, user_id, "Pets", parent_id=housing.id)
    with pytest.raises(Conflict, match="already exists"):
        await _create(sessions, user_id, "pEtS", parent_id=housing.id)


async def test_a_duplicate_that_slips_past_the_check_is_still_a_409(
    sessions: Sessions, user_id: uuid.UUID
) -> None:
    """The unique index is the last word: its violation maps to the same 409."""
    await _create(sessions, user_id, "Hobbies")
    duplicate = Category(id=uuid.uuid4(), user_id=user_id, name="HOBBIES", kind="expense")
    refusals: Refusals = {
        (categories.UNIQUE_VIOLATION, "uq_categories_name"): categories.CategoryExists()
    }
    async with sessions() as session:
        with pytest.raises(Conflict) as refused:
            await add_past_the_checks(session, duplicate, refusals)
    assert refused.value.code == "category_exists"


async def test_another_users_category_is_not_found(
    sessions: Sessions, user_id: uuid.UUID, other_user_id: uuid.UUID
) -> None:
    theirs = await _create(sessions, other_user_id, "Secret")
    async with sessions() as session:
        with pytest.raises(NotFound):
            await categories.get_category(session=session, user_id=user_id, category_id=theirs.id)
    with pytest.raises(NotFound):
        await _update(sessions, user_id, theirs.id, name="Mine now")
    with pytest.raises(NotFound):
        await _delete(sessions, user_id, theirs.id)
    with pytest.raises(NotFound) as as_parent:
        await _create(sessions, user_id, "Child", parent_id=theirs.id)
    assert _field(as_parent) == "parent_id"
    async with sessions() as session:
        still = await categories.get_category(
            session=session, user_id=other_user_id, category_id=theirs.id
        )
    assert still.name == "Secret"


async def test_rename_move_and_make_top_level(sessions: Sessions, user_id: uuid.UUID) -> None:
    pets = await _create(sessions, user_id, "Pets")
    kids = await _create(sessions, user_id, "Kids")
    toys = await _create(sessions, user_id, "Toys", parent_id=pets.id)

    renamed = await _update(sessions, user_id, toys.id, name="Pet toys")
    assert (renamed.name, renamed.parent_id) == ("Pet toys", pets.id)
    assert renamed.updated_at > toys.updated_at
    moved = await _update(sessions, user_id, toys.id, parent_id=kids.id, name="Toys")
    assert (moved.name, moved.parent_id) == ("Toys", kids.id)
    top = await _update(sessions, user_id, toys.id, parent_id=None)
    assert (top.name, top.parent_id, top.kind) == ("Toys", None, "expense")
    unchanged = await _update(sessions, user_id, toys.id)
    assert (unchanged.name, unchanged.parent_id) == ("Toys", None)


async def test_moves_that_break_the_rules_are_refused(
    sessions: Sessions, user_id: uuid.UUID
) -> None:
    pets = await _create(sessions, user_id, "Pets")
    vet = await _create(sessions, user_id, "Vet", parent_id=pets.id)
    kids = await _create(sessions, user_id, "Kids")
    bonus = await _create(sessions, user_id, "Bonus", kind="income")

    cases: list[tuple[uuid.UUID, dict[str, object], str]] = [
        (pets.id, {"parent_id": kids.id}, "subcategories"),  # it has children
        (kids.id, {"parent_id": vet.id}, "two levels"),  # the parent is a child
        (kids.id, {"parent_id": kids.id}, "own parent"),
        (kids.id, {"parent_id": bonus.id}, "income"),  # another kind
        (kids.id, {"name": None}, "null"),
    ]
    for category_id, change, message in cases:
        with pytest.raises(Unprocessable, match=message) as refused:
            await _update(sessions, user_id, category_id, **change)
        assert _field(refused) == next(iter(change))
    with pytest.raises(Conflict) as taken:
        await _update(sessions, user_id, vet.id, parent_id=None, name="kids")
    assert taken.value.code == "category_exists"
    after = {c.id: c for c in await _all(sessions, user_id)}
    assert (after[vet.id].name, after[vet.id].parent_id) == ("Vet", pets.id)
    assert after[kids.id].parent_id is None


async def _expense(
    sessions: Sessions,
    user_id: uuid.UUID,
    account: uuid.UUID,
    *,
    category_id: uuid.UUID | None = None,
    splits: list[schemas.SplitDraft] | None = None,
) -> uuid.UUID:
    async with sessions() as session:
        written = await transactions.post_transaction(
            session=session,
            user_id=user_id,
            draft=schemas.TransactionPost(
                type="expense",
                account_id=account,
                amount=Decimal("10.00"),
                date=dt.date(2026, 11, 1),
                category_id=category_id,
                splits=splits or [],
            ),
        )
    assert written.transaction is not None
    return written.transaction.id


async def test_delete_refuses_a_parent_and_a_category_in_use(
    sessions: Sessions, user_id: uuid.UUID
) -> None:
    account = await new_account(sessions, user_id)
    pets = await _create(sessions, user_id, "Pets")
    vet = await _create(sessions, user_id, "Vet", parent_id=pets.id)
    food = await _create(sessions, user_id, "Pet food")
    toys = await _create(sessions, user_id, "Pet toys")
    await _expense(sessions, user_id, account, category_id=food.id)
    await _expense(
        sessions,
        user_id,
        account,
        splits=[
            schemas.SplitDraft(category_id=vet.id, amount=Decimal("4.00")),
            schemas.SplitDraft(category_id=toys.id, amount=Decimal("6.00")),
        ],
    )
    with pytest.raises(Conflict) as parent:
        await _delete(sessions, user_id, pets.id)
    assert parent.value.code == "category_has_children"
    for used in (food.id, toys.id, vet.id):
        with pytest.raises(Conflict) as in_use:
            await _delete(sessions, user_id, used)
        assert in_use.value.code == "category_in_use"
    assert {pets.id, vet.id, food.id, toys.id} <= {c.id for c in await _all(sessions, user_id)}


async def test_delete_takes_the_categorys_budgets_with_it(
    sessions: Sessions, user_id: uuid.UUID
) -> None:
    pets = await _create(sessions, user_id, "Pets")
    async with sessions() as session:
        version_before = (
            await session.execute(select(User.ledger_version).where(User.id == user_id))
        ).scalar_one()
    for currency in ("USD", "EUR"):
        async with sessions() as session:
            await budgets.create_budget(
                session=session,
                user_id=user_id,
                draft=schemas.BudgetCreate(
                    category_id=pets.id, amount=Decimal("50"), currency=currency
                ),
            )
    version = await _delete(sessions, user_id, pets.id)
    assert version == version_before + 3
    async with sessions() as session:
        left = (
            await session.execute(
                select(func.count()).select_from(Budget).where(Budget.category_id == pets.id)
            )
        ).scalar_one()
        with pytest.raises(NotFound):
            await categories.get_category(session=session, user_id=user_id, category_id=pets.id)
    assert left == 0


async def test_a_deleted_child_frees_its_parent(sessions: Sessions, user_id: uuid.UUID) -> None:
    pets = await _create(sessions, user_id, "Pets")
    vet = await _create(sessions, user_id, "Vet", parent_id=pets.id)
    await _delete(sessions, user_id, vet.id)
    await _delete(sessions, user_id, pets.id)
    assert not {pets.id, vet.id} & {c.id for c in await _all(sessions, user_id)}
