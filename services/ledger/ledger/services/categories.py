from __future__ import annotations

import uuid
from typing import Any

import httpx

from ledger.cache import LedgerCache
from ledger.cursor import decode_cursor, encode_cursor
from ledger.schemas.categories import (
    CategoryCreate,
    CategoryKind,
    CategoryPage,
    CategoryRead,
    CategoryUpdate,
)
from ledger.services.common import cursor_int, users
from servicekit.http import send


def category_read(row: dict[str, Any]) -> CategoryRead:
    return CategoryRead.model_validate({k: row[k] for k in CategoryRead.model_fields})


async def _written(cache: LedgerCache, user_id: uuid.UUID, result: dict[str, Any]) -> None:
    # The dashboard shows categories: raise its floor before the client hears back.
    await cache.written(user_id, [], result["ledger_version"])


async def create_category(
    *, gateway: httpx.AsyncClient, cache: LedgerCache, user_id: uuid.UUID, draft: CategoryCreate
) -> CategoryRead:
    result = (
        await send(
            gateway, "POST", f"{users(user_id)}/categories", json=draft.model_dump(mode="json")
        )
    ).json()
    await _written(cache, user_id, result)
    return category_read(result["category"])


async def list_categories(
    *,
    gateway: httpx.AsyncClient,
    user_id: uuid.UUID,
    limit: int,
    cursor: str | None,
    kind: CategoryKind | None,
) -> CategoryPage:
    params: dict[str, Any] = {"limit": limit + 1}
    if cursor:
        params["after_seq"] = cursor_int(decode_cursor(cursor, frozenset({"s"}))["s"])
    if kind is not None:
        params["kind"] = kind
    rows = (await send(gateway, "GET", f"{users(user_id)}/categories", params=params)).json()[
        "items"
    ]
    page, more = rows[:limit], len(rows) > limit
    return CategoryPage(
        items=[category_read(r) for r in page],
        next_cursor=encode_cursor({"s": page[-1]["seq"]}) if more else None,
    )


async def get_category(
    *, gateway: httpx.AsyncClient, user_id: uuid.UUID, category_id: uuid.UUID
) -> CategoryRead:
    response = await send(gateway, "GET", f"{users(user_id)}/categories/{category_id}")
    return category_read(response.json())


async def update_category(
    *,
    gateway: httpx.AsyncClient,
    cache: LedgerCache,
    user_id: uuid.UUID,
    category_id: uuid.UUID,
    change: CategoryUpdate,
) -> CategoryRead:
    result = (
        await send(
            gateway,
            "PATCH",
            f"{users(user_id)}/categories/{category_id}",
            json=change.model_dump(mode="json", exclude_unset=True),
        )
    ).json()
    await _written(cache, user_id, result)
    return category_read(result["category"])


async def delete_category(
    *, gateway: httpx.AsyncClient, cache: LedgerCache, user_id: uuid.UUID, category_id: uuid.UUID
) -> None:
    result = (await send(gateway, "DELETE", f"{users(user_id)}/categories/{category_id}")).json()
    await _written(cache, user_id, result)
