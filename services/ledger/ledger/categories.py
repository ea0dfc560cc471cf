"""Categories: two levels, expense or income."""

from __future__ import annotations

import uuid

from ledger.cursor import cursor_int, decode_cursor, encode_cursor
from ledger.gateway import CategoryRow, Gateway
from ledger.schemas.categories import (
    CategoryCreate,
    CategoryKind,
    CategoryPage,
    CategoryRead,
    CategoryUpdate,
)


def category_read(row: CategoryRow) -> CategoryRead:
    return CategoryRead.model_validate(
        {
            "id": row["id"],
            "name": row["name"],
            "kind": row["kind"],
            "parent_id": row["parent_id"],
            "created_at": row["created_at"],
            "updated_at": row["updated_at"],
        }
    )


async def create_category(
    *, gateway: Gateway, user_id: uuid.UUID, draft: CategoryCreate
) -> CategoryRead:
    result = await gateway.create_category(user_id, draft.model_dump(mode="json"))
    return category_read(result["category"])


async def list_categories(
    *,
    gateway: Gateway,
    user_id: uuid.UUID,
    limit: int,
    cursor: str | None,
    kind: CategoryKind | None,
) -> CategoryPage:
    params: dict[str, str | int | bool] = {"limit": limit + 1}
    if cursor:
        params["after_seq"] = cursor_int(decode_cursor(cursor, frozenset({"s"}))["s"])
    if kind is not None:
        params["kind"] = kind
    rows = await gateway.categories(user_id, params)
    page, more = rows[:limit], len(rows) > limit
    return CategoryPage(
        items=[category_read(r) for r in page],
        next_cursor=encode_cursor({"s": page[-1]["seq"]}) if more else None,
    )


async def get_category(
    *, gateway: Gateway, user_id: uuid.UUID, category_id: uuid.UUID
) -> CategoryRead:
    return category_read(await gateway.category(user_id, category_id))


async def update_category(
    *, gateway: Gateway, user_id: uuid.UUID, category_id: uuid.UUID, change: CategoryUpdate
) -> CategoryRead:
    result = await gateway.update_category(
        user_id, category_id, change.model_dump(mode="json", exclude_unset=True)
    )
    return category_read(result["category"])


async def delete_category(*, gateway: Gateway, user_id: uuid.UUID, category_id: uuid.UUID) -> None:
    await gateway.delete_category(user_id, category_id)
