from __future__ import annotations

import uuid
from typing import Any

import httpx

from ledger.cache import LedgerCache
from ledger.cursor import decode_cursor, encode_cursor
from ledger.schemas.budgets import BudgetCreate, BudgetPage, BudgetRead, BudgetUpdate
from ledger.services.common import cursor_int, users
from ledger.views import money
from servicekit.http import send


def budget_read(row: dict[str, Any]) -> BudgetRead:
    """A budget as db-gateway returns it, its amount with exactly the decimal
    places of its currency."""
    return BudgetRead.model_validate(
        {k: row[k] for k in BudgetRead.model_fields}
        | {"amount": money(row["amount"], row["currency"])}
    )


async def _written(cache: LedgerCache, user_id: uuid.UUID, result: dict[str, Any]) -> None:
    # The dashboard shows budgets: raise its floor before the client hears back.
    await cache.written(user_id, [], result["ledger_version"])


async def create_budget(
    *, gateway: httpx.AsyncClient, cache: LedgerCache, user_id: uuid.UUID, draft: BudgetCreate
) -> BudgetRead:
    # `period` has one value, which is what db-gateway stores anyway
    body = draft.model_dump(mode="json", exclude={"period"}, exclude_none=True)
    result = (await send(gateway, "POST", f"{users(user_id)}/budgets", json=body)).json()
    await _written(cache, user_id, result)
    return budget_read(result["budget"])


async def list_budgets(
    *, gateway: httpx.AsyncClient, user_id: uuid.UUID, limit: int, cursor: str | None
) -> BudgetPage:
    params: dict[str, Any] = {"limit": limit + 1}
    if cursor:
        params["after_seq"] = cursor_int(decode_cursor(cursor, frozenset({"s"}))["s"])
    rows = (await send(gateway, "GET", f"{users(user_id)}/budgets", params=params)).json()["items"]
    page, more = rows[:limit], len(rows) > limit
    return BudgetPage(
        items=[budget_read(r) for r in page],
        next_cursor=encode_cursor({"s": page[-1]["seq"]}) if more else None,
    )


async def get_budget(
    *, gateway: httpx.AsyncClient, user_id: uuid.UUID, budget_id: uuid.UUID
) -> BudgetRead:
    response = await send(gateway, "GET", f"{users(user_id)}/budgets/{budget_id}")
    return budget_read(response.json())


async def update_budget(
    *,
    gateway: httpx.AsyncClient,
    cache: LedgerCache,
    user_id: uuid.UUID,
    budget_id: uuid.UUID,
    change: BudgetUpdate,
) -> BudgetRead:
    body = change.model_dump(mode="json", include={"amount"}, exclude_unset=True)
    result = (
        await send(gateway, "PATCH", f"{users(user_id)}/budgets/{budget_id}", json=body)
    ).json()
    await _written(cache, user_id, result)
    return budget_read(result["budget"])


async def delete_budget(
    *, gateway: httpx.AsyncClient, cache: LedgerCache, user_id: uuid.UUID, budget_id: uuid.UUID
) -> None:
    result = (await send(gateway, "DELETE", f"{users(user_id)}/budgets/{budget_id}")).json()
    await _written(cache, user_id, result)
