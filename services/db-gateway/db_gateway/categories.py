"""Categories: two levels (top-level ones and their children), each of one
kind, expense or income, which is what transactions filed under it are checked
against, so it never changes.

Each public function is one atomic unit: callers pass a fresh session and the
function commits (or raises, and nothing is written). Writes take the user's
ledger lock first (`begin_write`), so the checks below (a parent is top-level,
a category has no children, nothing uses it) cannot be raced by another write
of the same user; the database's constraints back them up all the same.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from sqlalchemy import Select, delete, exists, func, or_, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from db_gateway import schemas
from db_gateway.models import Allocation, Category, Transaction
from db_gateway.postings import begin_write
from servicekit.errors import Conflict, NotFound, ProblemError, field_error

UNIQUE_VIOLATION = "23505"
FOREIGN_KEY_VIOLATION = "23503"


def violation(exc: IntegrityError) -> tuple[str | None, str | None]:
    """The SQLSTATE and the constraint name of a refused write."""
    adapted = exc.orig
    driver = getattr(adapted, "orig", None) or getattr(adapted, "__cause__", None)
    return getattr(adapted, "pgcode", None), getattr(driver, "constraint_name", None)


@asynccontextmanager
async def refused_as(
    session: AsyncSession, refusals: dict[tuple[str, str | None], ProblemError]
) -> AsyncIterator[None]:
    """Around a write and its commit: a constraint the checks before it should
    have caught becomes the same client error (by SQLSTATE and constraint name,
    or SQLSTATE alone under the name None), never a 500."""
    try:
        yield
    except IntegrityError as exc:
        await session.rollback()
        code, constraint = violation(exc)
        problem = refusals.get((code or "", constraint)) or refusals.get((code or "", None))
        if problem is None:
            raise
        raise problem from exc


def user_categories(user_id: uuid.UUID) -> Select[Category]:
    return select(Category).where(Category.user_id == user_id)


class CategoryExists(Conflict):
    default_code = "category_exists"


class CategoryHasChildren(Conflict):
    default_code = "category_has_children"


class CategoryInUse(Conflict):
    default_code = "category_in_use"


def _exists(name: str) -> CategoryExists:
    return CategoryExists(
        f"a category named {name!r} of this kind already exists at that level",
        errors=[{"field": "name", "message": "already exists at that level"}],
    )


async def find_category(
    session: AsyncSession,
    user_id: uuid.UUID,
    category_id: uuid.UUID,
    *,
    field: str | None = None,
    lock: bool = False,
) -> Category:
    """The user's category, or 404 (naming `field` when it came from a body)."""
    query = user_categories(user_id).where(Category.id == category_id)
    if lock:
        query = query.with_for_update()
    category = (
        await session.execute(query.execution_options(populate_existing=True))
    ).scalar_one_or_none()
    if category is None:
        errors = [{"field": field, "message": "category not found"}] if field else None
        raise NotFound(
            f"{field}: category not found" if field else "category not found", errors=errors
        )
    return category


async def _parent(
    session: AsyncSession, user_id: uuid.UUID, parent_id: uuid.UUID, kind: str
) -> Category:
    parent = await find_category(session, user_id, parent_id, field="parent_id")
    if parent.parent_id is not None:
        raise field_error("parent_id", "is a subcategory; categories have two levels only")
    if parent.kind != kind:
        raise field_error("parent_id", f"is an {parent.kind} category; this one is {kind}")
    return parent


async def _name_taken(
    session: AsyncSession,
    user_id: uuid.UUID,
    *,
    name: str,
    kind: str,
    parent_id: uuid.UUID | None,
    other_than: uuid.UUID | None = None,
) -> bool:
    # lower() on both sides: what the unique index uq_categories_name compares
    query = select(
        exists().where(
            Category.user_id == user_id,
            Category.kind == kind,
            Category.parent_id.is_(None) if parent_id is None else Category.parent_id == parent_id,
            func.lower(Category.name) == func.lower(name),
            *([Category.id != other_than] if other_than else []),
        )
    )
    return bool((await session.execute(query)).scalar_one())


async def _has_subcategories(session: AsyncSession, category_id: uuid.UUID) -> bool:
    query = select(exists().where(Category.parent_id == category_id))
    return bool((await session.execute(query)).scalar_one())


def _written(category: Category, version: int) -> schemas.CategoryWritten:
    return schemas.CategoryWritten(
        category=schemas.CategoryRead.model_validate(category), ledger_version=version
    )


async def create_category(
    *, session: AsyncSession, user_id: uuid.UUID, draft: schemas.CategoryCreate
) -> schemas.CategoryWritten:
    version = await begin_write(session, user_id)
    if draft.parent_id is not None:
        await _parent(session, user_id, draft.parent_id, draft.kind)
    if await _name_taken(
        session, user_id, name=draft.name, kind=draft.kind, parent_id=draft.parent_id
    ):
        raise _exists(draft.name)
    category = Category(
        id=uuid.uuid4(),
        user_id=user_id,
        name=draft.name,
        kind=draft.kind,
        parent_id=draft.parent_id,
    )
    async with refused_as(session, {(UNIQUE_VIOLATION, "uq_categories_name"): _exists(draft.name)}):
        session.add(category)
        await session.commit()
    await session.refresh(category)
    return _written(category, version)


async def list_categories(
    *,
    session: AsyncSession,
    user_id: uuid.UUID,
    limit: int,
    after_seq: int | None,
    kind: str | None = None,
) -> list[Category]:
    """Oldest first (by seq): a keyset, so pages stay stable under inserts."""
    query = user_categories(user_id).order_by(Category.seq).limit(limit)
    if after_seq is not None:
        query = query.where(Category.seq > after_seq)
    if kind is not None:
        query = query.where(Category.kind == kind)
    return list((await session.execute(query)).scalars())


async def get_category(
    *, session: AsyncSession, user_id: uuid.UUID, category_id: uuid.UUID
) -> Category:
    return await find_category(session, user_id, category_id)


async def update_category(
    *,
    session: AsyncSession,
    user_id: uuid.UUID,
    category_id: uuid.UUID,
    change: schemas.CategoryUpdate,
) -> schemas.CategoryWritten:
    """Rename, or move under another top-level category of the same kind (or to
    the top level with `parent_id: None`). Only the fields sent change."""
    fields = change.model_fields_set
    if "name" in fields and change.name is None:
        raise field_error("name", "cannot be null")
    version = await begin_write(session, user_id)
    category = await find_category(session, user_id, category_id, lock=True)
    name = change.name if change.name is not None else category.name
    parent_id = change.parent_id if "parent_id" in fields else category.parent_id
    if "parent_id" in fields and parent_id is not None and parent_id != category.parent_id:
        if parent_id == category.id:
            raise field_error("parent_id", "a category cannot be its own parent")
        await _parent(session, user_id, parent_id, category.kind)
        if await _has_subcategories(session, category.id):
            raise field_error(
                "parent_id",
                "this category has subcategories, so it must stay top-level; "
                "categories have two levels only",
            )
    if await _name_taken(
        session,
        user_id,
        name=name,
        kind=category.kind,
        parent_id=parent_id,
        other_than=category.id,
    ):
        raise _exists(name)
    async with refused_as(session, {(UNIQUE_VIOLATION, "uq_categories_name"): _exists(name)}):
        if fields:
            category.name = name
            category.parent_id = parent_id
            category.updated_at = func.now()
        await session.commit()
    await session.refresh(category)
    return _written(category, version)


def _has_children() -> CategoryHasChildren:
    return CategoryHasChildren("the category has subcategories; delete or move them first")


def _in_use() -> CategoryInUse:
    return CategoryInUse("transactions or splits are filed under this category; move them first")


async def delete_category(
    *, session: AsyncSession, user_id: uuid.UUID, category_id: uuid.UUID
) -> schemas.LedgerVersion:
    """Delete a category without subcategories that no transaction or split
    uses; its budgets go with it (ON DELETE CASCADE)."""
    version = await begin_write(session, user_id)
    category = await find_category(session, user_id, category_id, lock=True)
    if await _has_subcategories(session, category.id):
        raise _has_children()
    used = (
        await session.execute(
            select(
                or_(
                    exists().where(Allocation.category_id == category.id),
                    exists().where(Transaction.category_id == category.id),
                )
            )
        )
    ).scalar_one()
    if used:
        raise _in_use()
    refusals: dict[tuple[str, str | None], ProblemError] = {
        (FOREIGN_KEY_VIOLATION, "fk_categories_parent"): _has_children(),
        (FOREIGN_KEY_VIOLATION, None): _in_use(),
    }
    async with refused_as(session, refusals):
        await session.execute(delete(Category).where(Category.id == category.id))
        await session.commit()
    return schemas.LedgerVersion(ledger_version=version)
