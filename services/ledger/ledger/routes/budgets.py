"""/services/budgets"""

from __future__ import annotations

import uuid

from fastapi import APIRouter, Response

from ledger import budgets as service
from ledger.deps import Cursor, Gateway, Limit
from ledger.routes.common import CONFLICT, INVALID, NOT_FOUND, UNAUTHORIZED
from ledger.schemas.budgets import BudgetCreate, BudgetPage, BudgetRead, BudgetUpdate
from servicekit.jwt import CurrentUser

router = APIRouter(prefix="/services", tags=["budgets"], responses=UNAUTHORIZED)

# `{budget_id:uuid}`: only a UUID matches, so fixed paths under /budgets/ (such
# as /budgets/status) reach their own routes whichever module declares them.
ONE = "/budgets/{budget_id:uuid}"


@router.post("/budgets", status_code=201, responses={**NOT_FOUND, **INVALID, **CONFLICT})
async def create_budget(body: BudgetCreate, user: CurrentUser, gateway: Gateway) -> BudgetRead:
    """Set a monthly budget for one of your expense categories, in a currency
    (your profile's `default_currency` unless you send one). One budget per
    category and currency: another is a 409 `budget_exists`."""
    return await service.create_budget(gateway=gateway, user_id=user.user_id, draft=body)


@router.get("/budgets", responses=INVALID)
async def list_budgets(
    user: CurrentUser, gateway: Gateway, limit: Limit = 50, cursor: Cursor = None
) -> BudgetPage:
    """Your budgets, oldest first."""
    return await service.list_budgets(
        gateway=gateway, user_id=user.user_id, limit=limit, cursor=cursor
    )


@router.get(ONE, responses=NOT_FOUND)
async def get_budget(budget_id: uuid.UUID, user: CurrentUser, gateway: Gateway) -> BudgetRead:
    return await service.get_budget(gateway=gateway, user_id=user.user_id, budget_id=budget_id)


@router.patch(ONE, responses={**NOT_FOUND, **INVALID})
async def update_budget(
    budget_id: uuid.UUID, body: BudgetUpdate, user: CurrentUser, gateway: Gateway
) -> BudgetRead:
    """Change the amount. The category and currency are fixed (422): delete the
    budget and create another instead."""
    return await service.update_budget(
        gateway=gateway, user_id=user.user_id, budget_id=budget_id, change=body
    )


@router.delete(ONE, status_code=204, response_class=Response, responses=NOT_FOUND)
async def delete_budget(budget_id: uuid.UUID, user: CurrentUser, gateway: Gateway) -> Response:
    await service.delete_budget(gateway=gateway, user_id=user.user_id, budget_id=budget_id)
    return Response(status_code=204)
