"""/internal routes for the ledger's budgets."""

from __future__ import annotations

import uuid

from db_gateway import budgets, schemas
from db_gateway.db import DbSession
from db_gateway.routes.security import CONFLICT, Limit, Seq, internal_router

router = internal_router()

# `{budget_id:uuid}`: only a UUID matches, so fixed paths under /budgets/ (such
# as the monthly status) are routed to their own handlers wherever they are declared.


@router.post("/users/{user_id}/budgets", status_code=201, responses=CONFLICT)
async def create_budget(
    user_id: uuid.UUID, draft: schemas.BudgetCreate, session: DbSession
) -> schemas.BudgetWritten:
    """404/422 naming category_id (not the user's / not an expense category),
    422 naming amount (too many decimals), 409 budget_exists."""
    return await budgets.create_budget(session=session, user_id=user_id, draft=draft)


@router.get("/users/{user_id}/budgets")
async def list_budgets(
    user_id: uuid.UUID, session: DbSession, limit: Limit = 50, after_seq: Seq = None
) -> schemas.BudgetPage:
    rows = await budgets.list_budgets(
        session=session, user_id=user_id, limit=limit, after_seq=after_seq
    )
    return schemas.BudgetPage(items=[schemas.BudgetRead.model_validate(r) for r in rows])


@router.get("/users/{user_id}/budgets/{budget_id:uuid}")
async def get_budget(
    user_id: uuid.UUID, budget_id: uuid.UUID, session: DbSession
) -> schemas.BudgetRead:
    return schemas.BudgetRead.model_validate(
        await budgets.get_budget(session=session, user_id=user_id, budget_id=budget_id)
    )


@router.patch("/users/{user_id}/budgets/{budget_id:uuid}")
async def update_budget(
    user_id: uuid.UUID, budget_id: uuid.UUID, change: schemas.BudgetUpdate, session: DbSession
) -> schemas.BudgetWritten:
    return await budgets.update_budget(
        session=session, user_id=user_id, budget_id=budget_id, change=change
    )


@router.delete("/users/{user_id}/budgets/{budget_id:uuid}")
async def delete_budget(
    user_id: uuid.UUID, budget_id: uuid.UUID, session: DbSession
) -> schemas.LedgerVersion:
    return await budgets.delete_budget(session=session, user_id=user_id, budget_id=budget_id)
