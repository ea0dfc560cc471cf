"""Monthly budgets per expense category and currency."""

from __future__ import annotations

import uuid

from ledger.cursor import cursor_int, decode_cursor, encode_cursor
from ledger.gateway import BudgetRow, Gateway
from ledger.schemas.budgets import BudgetCreate, BudgetPage, BudgetRead, BudgetUpdate
from ledger.views import money


def budget_read(row: BudgetRow) -> BudgetRead:
    """A budget as db-gateway returns it, its amount with exactly the decimal
    places of its currency."""
    return BudgetRead.model_validate(
        {
            "id": row["id"],
            "category_id": row["category_id"],
            "amount": money(row["amount"], row["currency"]),
            "currency": row["currency"],
            "period": row["period"],
            "created_at": row["created_at"],
            "updated_at": row["updated_at"],
        }
    )


async def create_budget(*, gateway: Gateway, user_id: uuid.UUID, draft: BudgetCreate) -> BudgetRead:
    # `period` has one value, which is what db-gateway stores anyway
    body = draft.model_dump(mode="json", exclude={"period"}, exclude_none=True)
    return budget_read((await gateway.create_budget(user_id, body))["budget"])


async def list_budgets(
    *, gateway: Gateway, user_id: uuid.UUID, limit: int, cursor: str | None
) -> BudgetPage:
    params: dict[str, str | int | bool] = {"limit": limit + 1}
    if cursor:
        params["after_seq"] = cursor_int(decode_cursor(cursor, frozenset({"s"}))["s"])
    rows = await gateway.budgets(user_id, params)
    page, more = rows[:limit], len(rows) > limit
    return BudgetPage(
        items=[budget_read(r) for r in page],
        next_cursor=encode_cursor({"s": page[-1]["seq"]}) if more else None,
    )


async def get_budget(*, gateway: Gateway, user_id: uuid.UUID, budget_id: uuid.UUID) -> BudgetRead:
    return budget_read(await gateway.budget(user_id, budget_id))


async def update_budget(
    *, gateway: Gateway, user_id: uuid.UUID, budget_id: uuid.UUID, change: BudgetUpdate
) -> BudgetRead:
    body = change.model_dump(mode="json", include={"amount"}, exclude_unset=True)
    return budget_read((await gateway.update_budget(user_id, budget_id, body))["budget"])


async def delete_budget(*, gateway: Gateway, user_id: uuid.UUID, budget_id: uuid.UUID) -> None:
    await gateway.delete_budget(user_id, budget_id)
